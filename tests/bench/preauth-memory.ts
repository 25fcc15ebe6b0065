// preauth-memory.ts — the coordinator's resident memory under 8 unauthenticated sockets that each send one 60 MiB frame
// before hello, with the pre-authentication frame limit at its default (64 KiB) and, for comparison, at the full
// message limit (64 MiB, the behaviour before limits.max_preauth_message_bytes existed). A real coordinator process;
// RSS read from /proc/<pid>/status (VmRSS, and VmHWM: the peak). Prints one JSON document.
// Run: node tests/bench/preauth-memory.ts
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { listeningUrl } from '../helpers/coordinator-process.ts';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SOCKETS = 8;
const FRAME_BYTES = 60 * 1024 * 1024; // 60 MiB, under the 64 MiB message limit
const SETTLE_MS = 1500; // time for the coordinator to read what was sent

function memoryMiB(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: Math.round(kib('VmRSS') / 1024), peak: Math.round(kib('VmHWM') / 1024) };
}

async function scenario(preauthLimit: number): Promise<Record<string, unknown>> {
  const dir = mkdtempSync(join(tmpdir(), 'fedval-bench-preauth-'));
  const config = join(dir, 'coordinator.yaml');
  writeFileSync(
    config,
    [
      'listen: { host: 127.0.0.1, port: 0 }',
      `data_dir: ${join(dir, 'data')}`,
      `sites: [{ id: site-a, token_sha256: ${'a'.repeat(64)} }]`,
      `limits: { max_preauth_message_bytes: ${preauthLimit}, ws_connects_per_minute: 1000 }`,
      'log_level: error',
    ].join('\n'),
  );
  const child = spawn(process.execPath, ['coordinator/src/main.ts', 'start', '--config', config], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const url = await listeningUrl(child);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const before = memoryMiB(child.pid!);
    const frame = Buffer.alloc(FRAME_BYTES, 0x5a);
    const started = Date.now();
    const outcomes = await Promise.all(
      Array.from({ length: SOCKETS }, () =>
        new Promise<{ code: number; reason: string }>((resolve) => {
          const socket = new WebSocket(`${url.replace(/^http/, 'ws')}/ws`);
          socket.on('error', () => {});
          socket.once('message', () => socket.send(frame, { binary: true })); // after the challenge, before hello
          socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() }));
          setTimeout(() => socket.terminate(), 20_000).unref();
        }),
      ),
    );
    const seconds = (Date.now() - started) / 1000;
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    const after = memoryMiB(child.pid!);
    return {
      max_preauth_message_bytes: preauthLimit,
      sockets: SOCKETS,
      frame_mib: FRAME_BYTES / 2 ** 20,
      rss_before_mib: before.rss,
      rss_after_mib: after.rss,
      rss_peak_mib: after.peak,
      peak_growth_mib: after.peak - before.rss,
      close_codes: [...new Set(outcomes.map((o) => `${o.code} ${o.reason}`))],
      seconds,
    };
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
    rmSync(dir, { recursive: true, force: true });
  }
}

const results = [];
for (const limit of [64 * 1024, 64 * 1024 * 1024]) results.push(await scenario(limit));
process.stdout.write(`${JSON.stringify({ scenarios: results }, null, 2)}\n`);

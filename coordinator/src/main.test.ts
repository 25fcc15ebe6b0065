import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { logLineSchema } from '@fedval/command-line';
import { hashToken } from './site-auth.ts';

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));
let dir: string;
const children: ChildProcessWithoutNullStreams[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'fedval-coord-main-'));
});
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

function run(args: string[], stdin?: string): ChildProcessWithoutNullStreams {
  const child = spawn(process.execPath, [MAIN, ...args], { cwd: dir, stdio: 'pipe' });
  children.push(child);
  if (stdin !== undefined) child.stdin.end(stdin);
  return child;
}

function collect(child: ChildProcessWithoutNullStreams): { stdout: () => string; stderr: () => string; exit: Promise<number | null> } {
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  return { stdout: () => out, stderr: () => err, exit: new Promise((resolve) => child.on('close', (code) => resolve(code))) };
}

async function listening(child: ChildProcessWithoutNullStreams): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const line = out.split('\n')[0];
      if (out.includes('\n') && line) resolve((JSON.parse(line) as { url: string }).url);
    });
    child.on('close', (code) => reject(new Error(`exited with ${code}`)));
  });
}

const SPONSOR_TOKEN = 'api-token-of-the-sponsor-0123456789';

function writeConfig(extra = '', name = 'coordinator.yaml'): string {
  const file = join(dir, name);
  writeFileSync(
    file,
    `listen: { host: 127.0.0.1, port: 0 }\nsites:\n  - id: site-a\n    token_sha256: ${hashToken('token-of-site-a-0123456789')}\n` +
      `api_tokens:\n  - { name: ada, role: sponsor, token_sha256: ${hashToken(SPONSOR_TOKEN)} }\nlog_level: warn\nlimits: { min_release_sites: 1 }\n${extra}`,
  );
  return file;
}

/** A REST call as the sponsor; returns the parsed body. */
async function call(url: string, path: string, method = 'GET', body?: unknown): Promise<any> {
  const headers: Record<string, string> = { authorization: `Bearer ${SPONSOR_TOKEN}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  return (await fetch(`${url}${path}`, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) })).json();
}

describe('fedval-coordinator start', () => {
  it('prints exactly one listening JSON line on stdout, serves, and exits 0 on SIGTERM', async () => {
    const child = run(['start', '--config', writeConfig()]);
    const output = collect(child);
    const url = await listening(child);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(await (await fetch(`${url}/healthz`)).json()).toEqual({ status: 'ok' });
    child.kill('SIGTERM');
    expect(await output.exit).toBe(0);
    const stdout = output.stdout().split('\n');
    expect(stdout).toHaveLength(2); // one line, newline-terminated
    expect(logLineSchema.parse(JSON.parse(stdout[0]!))).toMatchObject({ event: 'listening', url, level: 'info', component: 'fedval-coordinator', pid: child.pid });
  });

  it('resumes a round left open by a crash on the next start, with its deadline unchanged', async () => {
    const file = writeConfig();
    const first = run(['start', '--config', file]);
    const url = await listening(first);
    const post = (path: string, body?: unknown): Promise<any> => call(url, path, 'POST', body);
    const study = await post('/api/studies', { name: 'crash', score_column: 'p', metric_spec: {}, sites: ['site-a'], contribution: 'plaintext' });
    const round = await post(`/api/studies/${study.study_id}/rounds`);
    const opened = (await call(url, `/api/rounds/${round.round_id}`)) as { deadline_at: string };
    const killed = new Promise((resolve) => first.on('close', resolve));
    first.kill('SIGKILL');
    await killed;

    const second = run(['start', '--config', file, '--port', '0']);
    const secondUrl = await listening(second);
    const after = (await call(secondUrl, `/api/rounds/${round.round_id}`)) as { state: string; reason: string | null; deadline_at: string };
    expect(after).toMatchObject({ state: 'dispatched', deadline_at: opened.deadline_at });
    expect(after).not.toHaveProperty('reason');
    second.kill('SIGTERM');
  });

  it('exits 2 with the code and every problem for an invalid config, and for a missing file', async () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'listen: { port: "eighty" }\nsites: []\nlimits: { auth_timeout_ms: -1 }\n');
    const bad = collect(run(['start', '--config', file]));
    expect(await bad.exit).toBe(2);
    expect(bad.stderr()).toContain('FEDVAL_ERR_COORD_CONFIG');
    for (const path of ['listen.port', 'sites', 'limits.auth_timeout_ms']) expect(bad.stderr()).toContain(path);
    expect(bad.stdout()).toBe('');

    const missing = collect(run(['start', '--config', join(dir, 'absent.yaml')]));
    expect(await missing.exit).toBe(2);
    expect(missing.stderr()).toContain('FEDVAL_ERR_COORD_CONFIG_UNREADABLE');
  });

  it('exits 1 naming the problem when the port is taken', async () => {
    const first = run(['start', '--config', writeConfig()]);
    const port = new URL(await listening(first)).port;
    const second = collect(run(['start', '--config', writeConfig('data_dir: ./other-data\n', 'other.yaml'), '--port', port]));
    expect(await second.exit).toBe(1);
    expect(second.stderr()).toContain('EADDRINUSE');
    first.kill('SIGTERM');
  });

  it('refuses a second coordinator on the same data directory and leaves the open rounds of the first alone', async () => {
    const file = writeConfig();
    const first = run(['start', '--config', file]);
    const url = await listening(first);
    const post = (path: string, body?: unknown): Promise<any> => call(url, path, 'POST', body);
    const study = await post('/api/studies', { name: 'lock', score_column: 'p', metric_spec: {}, sites: ['site-a'], contribution: 'plaintext' });
    const round = await post(`/api/studies/${study.study_id}/rounds`);
    const second = collect(run(['start', '--config', file]));
    expect(await second.exit).toBe(1);
    expect(second.stderr()).toContain('FEDVAL_ERR_COORD_DATA_DIR_LOCKED');
    expect(await call(url, `/api/rounds/${round.round_id}`)).toMatchObject({ state: 'dispatched' });
    first.kill('SIGTERM');
  });
});

describe('fedval-coordinator new-token', () => {
  it('prints a fresh 256-bit token and the SHA-256 of it, as node:crypto computes it', async () => {
    const first = collect(run(['new-token']));
    const second = collect(run(['new-token']));
    expect(await first.exit).toBe(0);
    expect(await second.exit).toBe(0);
    const made = JSON.parse(first.stdout()) as { token: string; token_sha256: string };
    expect(made.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(made.token, 'base64url')).toHaveLength(32);
    expect(made.token_sha256).toBe(createHash('sha256').update(made.token).digest('hex'));
    expect((JSON.parse(second.stdout()) as { token: string }).token).not.toBe(made.token);
  });
});

describe('fedval-coordinator hash-token', () => {
  it('prints the SHA-256 of the token read from stdin (FIPS 180-2 "abc" vector)', async () => {
    const output = collect(run(['hash-token'], 'abc\n'));
    expect(await output.exit).toBe(0);
    expect(output.stdout()).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\n');
  });
});

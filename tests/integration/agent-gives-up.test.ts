// A real `fedval-agent start` process against real servers: each error that will never heal ends it with its code and
// exit status (README, "When the agent gives up"); a refused connection keeps it retrying; SIGTERM always ends it.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import type { Server } from 'node:https';
import { createServer as createHttpServer } from 'node:http';
import type { Server as HttpServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocketServer } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDeployment } from '../helpers/deployment.ts';
import type { Deployment } from '../helpers/deployment.ts';
import { DATA_DIR, REPO_ROOT, runCli } from '../helpers/run-cli.ts';
import { issue, makeCa } from '../helpers/test-pki.ts';

const dir = mkdtempSync(join(tmpdir(), 'fedval-gives-up-'));
let configs = 0;

/** A site configuration for `coordinator` (fast reconnects, so the bounded retry takes well under a second per attempt). */
function siteConfig(coordinator: string, extra: string[] = [], siteId = 'site-0'): string {
  configs += 1;
  const file = join(dir, `site-${configs}.yaml`);
  writeFileSync(
    file,
    [
      `coordinator: ${coordinator}`,
      `site_id: ${siteId}`,
      `token: ${'t'.repeat(32)}`,
      `data: { path: ${join(DATA_DIR, 'site-a.csv')}, label: { column: event5y } }`,
      `data_dir: ${join(dir, `state-${configs}`)}`,
      'limits: { reconnect_initial_ms: 50, reconnect_max_ms: 200 }',
      ...extra,
    ].join('\n'),
  );
  return file;
}

describe('fedval-agent start gives up on what will not heal', () => {
  let deployment: Deployment;
  let untrusted: Server;
  let untrustedPort = 0;
  let refusing: HttpServer;
  let refusingPort = 0;
  let otherCa = '';

  beforeAll(async () => {
    deployment = await startDeployment(['site-0']);
    // A TLS server whose certificate the agent has no CA for, with a WebSocket endpoint at /ws.
    const ca = makeCa(dir, 'ca');
    const server = issue(dir, ca, 'server', 'localhost', 'server');
    otherCa = makeCa(dir, 'other-ca').cert;
    untrusted = createHttpsServer({ cert: readFileSync(server.cert), key: readFileSync(server.key) });
    new WebSocketServer({ server: untrusted, path: '/ws' });
    untrustedPort = await listen(untrusted);
    // A server that refuses every hello as the coordinator does an unknown protocol version (site-hub.ts: close 4400 with the code).
    refusing = createHttpServer();
    new WebSocketServer({ server: refusing, path: '/ws' }).on('connection', (socket) => socket.on('message', () => socket.close(4400, 'FEDVAL_ERR_PROTO_VERSION')));
    refusingPort = await listen(refusing);
  }, 60_000);

  afterAll(async () => {
    untrusted?.closeAllConnections();
    untrusted?.close();
    refusing?.closeAllConnections();
    refusing?.close();
    await deployment?.stop();
  });

  const table: { cause: string; url: () => string; extra?: () => string[]; siteId?: string; code: string; exit: number; says: string }[] = [
    { cause: 'an untrusted TLS certificate', url: () => `wss://localhost:${untrustedPort}/ws`, extra: () => [`tls: { ca: ${otherCa} }`], code: 'FEDVAL_ERR_AGENT_TLS_VERIFY', exit: 2, says: 'tls.ca' },
    { cause: 'a wrong socket path (HTTP 404)', url: () => deployment.wsUrl.replace(/\/ws$/, '/socket'), code: 'FEDVAL_ERR_AGENT_ENDPOINT', exit: 2, says: 'HTTP 404' },
    { cause: 'ws:// to a TLS server', url: () => `ws://127.0.0.1:${untrustedPort}/ws`, code: 'FEDVAL_ERR_AGENT_ENDPOINT', exit: 2, says: 'use wss://' },
    { cause: 'wss:// to a server without TLS', url: () => deployment.wsUrl.replace(/^ws:/, 'wss:'), code: 'FEDVAL_ERR_AGENT_ENDPOINT', exit: 2, says: 'does not speak TLS' },
    { cause: 'a site id the coordinator does not know', url: () => deployment.wsUrl, siteId: 'site-unknown', code: 'FEDVAL_ERR_AGENT_UNAUTHORIZED', exit: 3, says: 'check site_id' },
    { cause: 'a refused protocol version', url: () => `ws://127.0.0.1:${refusingPort}/ws`, code: 'FEDVAL_ERR_AGENT_PROTOCOL_REFUSED', exit: 3, says: 'FEDVAL_ERR_PROTO_VERSION' },
  ];

  for (const row of table) {
    it(`${row.cause}: exits ${row.exit} with ${row.code} after three attempts`, async () => {
      const run = await runCli('fedval-agent', ['start', '--config', siteConfig(row.url(), row.extra?.() ?? [], row.siteId)], { timeoutMs: 30_000 });
      expect(run.code, run.stderr).toBe(row.exit);
      // The last line says why, as a JSON log line (no plain-text line): the code, the exit status and what to check.
      const stopped = run.stderr.trimEnd().split('\n').map((line) => JSON.parse(line) as { code?: string; exitStatus?: number; msg: string }).filter((line) => line.exitStatus !== undefined);
      expect(stopped, run.stderr).toEqual([expect.objectContaining({ level: 'error', code: row.code, exitStatus: row.exit })]);
      expect(stopped[0]!.msg).toContain(row.says);
      expect(run.stderr).not.toContain('--use-system-ca');
      expect(run.stderr).toMatch(/"attempts":3/);
    }, 40_000);
  }

  for (const transient of ['connection refused', 'HTTP 429', 'HTTP 503'] as const) {
    it(`keeps retrying on ${transient} (transient) within the jittered backoff window, and stops on SIGTERM with status 0`, async () => {
      let url = `ws://127.0.0.1:${await closedPort()}/ws`;
      let server: HttpServer | undefined;
      if (transient !== 'connection refused') {
        const status = transient === 'HTTP 429' ? 429 : 503;
        server = createHttpServer((_request, response) => response.writeHead(status).end());
        server.on('upgrade', (_request, socket) => {
          // The agent may reset the connection (it is killed, or gives up on the handshake) before the answer is read: a
          // reset is not this test's concern, and an unheard socket error would end the test process.
          socket.on('error', () => {});
          socket.end(`HTTP/1.1 ${status} Busy\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
        });
        url = `ws://127.0.0.1:${await listen(server)}/ws`;
      }
      const child = spawn(process.execPath, ['site-agent/src/main.ts', 'start', '--config', siteConfig(url)], {
        cwd: REPO_ROOT,
        env: { ...process.env, FEDVAL_LOG_LEVEL: 'info' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      try {
        await waitFor(() => (stderr.match(/"msg":"reconnecting"/g) ?? []).length >= 6, 20_000);
        expect(child.exitCode).toBeNull();
        // Attempt k (1-based in the log) waits at most min(200, 50·2^(k-1)) ms (limits in siteConfig), at least 0.
        const delays = [...stderr.matchAll(/"delayMs":(\d+),"attempt":(\d+)/g)].map((match) => ({ delay: Number(match[1]), attempt: Number(match[2]) }));
        expect(delays.map((entry) => entry.attempt).slice(0, 6)).toEqual([1, 2, 3, 4, 5, 6]);
        for (const { delay, attempt } of delays) expect(delay).toBeLessThanOrEqual(Math.min(200, 50 * 2 ** (attempt - 1)));
        const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
        child.kill('SIGTERM');
        expect(await exited).toBe(0);
        expect(stderr).toContain(transient === 'connection refused' ? 'ECONNREFUSED' : transient);
        expect(stderr).not.toContain('FEDVAL_ERR_AGENT_');
      } finally {
        if (child.exitCode === null) child.kill('SIGKILL');
        server?.closeAllConnections();
        server?.close();
      }
    }, 40_000);
  }

  it('ends on its first SIGTERM within the bounded time after the reader of its stderr died', async () => {
    const port = await closedPort();
    const child = spawn(process.execPath, ['site-agent/src/main.ts', 'start', '--config', siteConfig(`ws://127.0.0.1:${port}/ws`)], {
      cwd: REPO_ROOT,
      env: { ...process.env, FEDVAL_LOG_LEVEL: 'debug' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let seen = '';
    child.stderr.on('data', (chunk: Buffer) => (seen += chunk.toString()));
    await waitFor(() => seen.includes('"msg":"reconnecting"'), 20_000);
    child.stderr.destroy(); // the reader dies; the agent's next log lines meet a closed pipe
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(child.exitCode).toBeNull();
    await expectEndsOnFirstSigterm(child);
  }, 40_000);
});

describe('fedval-agent start and SIGTERM, whatever its pipes do', () => {
  it('ends on its first SIGTERM within the bounded time while nobody reads its stderr (the pipe is full)', async () => {
    const port = await closedPort();
    // Reconnecting every millisecond, the agent fills the stderr pipe in well under a second.
    const config = siteConfig(`ws://127.0.0.1:${port}/ws`);
    writeFileSync(config, readFileSync(config, 'utf8').replace('reconnect_initial_ms: 50, reconnect_max_ms: 200', 'reconnect_initial_ms: 1, reconnect_max_ms: 1'));
    const child = spawn(process.execPath, ['site-agent/src/main.ts', 'start', '--config', config], {
      cwd: REPO_ROOT,
      env: { ...process.env, FEDVAL_LOG_LEVEL: 'debug' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let seen = '';
    const onData = (chunk: Buffer): void => void (seen += chunk.toString());
    child.stderr.on('data', onData);
    await waitFor(() => seen.includes('"msg":"reconnecting"'), 20_000);
    child.stderr.off('data', onData);
    child.stderr.pause(); // a reader that stopped reading: the pipe fills
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(child.exitCode).toBeNull();
    await expectEndsOnFirstSigterm(child);
    child.stderr.destroy();
  }, 40_000);
});

function listen(server: Server | HttpServer): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
}

/** A loopback port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = createHttpServer();
  const port = await listen(server);
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Sends one SIGTERM and expects a clean exit (0) within the agent's bounded shutdown (5 s, checked at 6 s); kills it otherwise. */
async function expectEndsOnFirstSigterm(child: ChildProcess): Promise<void> {
  const started = Date.now();
  const exited = new Promise<string>((resolve) => child.once('exit', (code, signal) => resolve(`${code}/${signal}`)));
  child.kill('SIGTERM');
  const outcome = await Promise.race([exited, new Promise<string>((resolve) => setTimeout(() => resolve('still running'), 8_000))]);
  if (outcome === 'still running') child.kill('SIGKILL');
  expect(outcome).toBe('0/null');
  expect(Date.now() - started).toBeLessThan(6_000);
}

import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMessage, decodeMessage, encodeMessage } from '@fedval/protocol';
import { pino } from 'pino';
import { WebSocketServer } from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { resolveAgentConfig } from './config.ts';
import { CoordinatorConnection } from './coordinator-connection.ts';

const LIMITS = { initialMs: 40, maxMs: 1000 };

describe('reconnection after the coordinator restarts', () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });

  it('goes through the full-jitter backoff from attempt 0 after a welcome, and doubles its window while the coordinator is down', async () => {
    // A coordinator that welcomes the site, then goes away as one restarting does (close 1001), and stops listening.
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((resolve) => server.once('listening', () => resolve()));
    const port = (server.address() as AddressInfo).port;
    let restarted!: () => void;
    const goneAway = new Promise<void>((resolve) => (restarted = resolve));
    server.on('connection', (socket) => {
      socket.on('message', (data) => {
        const hello = decodeMessage(data as Buffer);
        socket.send(encodeMessage(createMessage('welcome', { siteId: 'site-a', heartbeatIntervalMs: 15_000 }, hello.id)), { binary: true }, () => {
          socket.close(1001, 'FEDVAL_ERR_COORD_SHUTTING_DOWN');
          server.close(() => restarted());
        });
      });
    });
    const dir = mkdtempSync(join(tmpdir(), 'fedval-reconnect-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const config = resolveAgentConfig(
      {
        coordinator: `ws://127.0.0.1:${port}/ws`,
        site_id: 'site-a',
        token: 'token-of-site-a-0123456789',
        data: { path: './data.csv', label: { column: 'y' } },
        data_dir: './state',
        limits: { reconnect_initial_ms: LIMITS.initialMs, reconnect_max_ms: LIMITS.maxMs },
      },
      dir,
    );
    const scheduled: { delayMs: number; attempt: number }[] = [];
    let wake: (() => void) | undefined;
    const logger = pino({ level: 'info' }, {
      write(line: string) {
        const entry = JSON.parse(line) as { msg: string; delayMs?: number; attempt?: number };
        if (entry.msg === 'reconnecting') {
          scheduled.push({ delayMs: entry.delayMs!, attempt: entry.attempt! });
          wake?.();
        }
      },
    });
    // The jitter source: each draw is recorded, so the expected delays come from the published formula, not the code.
    const draws = [0.75, 0.5, 0.25];
    const used: number[] = [];
    let welcomed = 0;
    const connection = new CoordinatorConnection({
      config,
      siteKey: undefined,
      tls: {},
      log: logger,
      random: () => {
        const r = draws[used.length % draws.length]!;
        used.push(r);
        return r;
      },
      handlers: { authenticated: () => (welcomed += 1), task: async () => {}, cancel: () => {}, keyStatement: () => {}, errorReply: () => {}, secagg: () => {}, disconnected: () => {}, fatal: () => {}, audit: () => {} },
    });
    cleanup.push(() => connection.close());
    connection.open();
    await goneAway;
    while (scheduled.length < 3) await new Promise<void>((resolve) => (wake = resolve));
    await connection.close();

    expect(welcomed).toBe(1);
    // Attempt k waits floor(r·(min(max, initial·2^k) + 1)): after the restart the window starts at `initial` (40 ms)
    // and doubles with each refused attempt — never an immediate reconnect in step with the rest of the fleet.
    expect(scheduled.slice(0, 3)).toEqual([
      { attempt: 1, delayMs: Math.floor(0.75 * 41) },
      { attempt: 2, delayMs: Math.floor(0.5 * 81) },
      { attempt: 3, delayMs: Math.floor(0.25 * 161) },
    ]);
  });
});

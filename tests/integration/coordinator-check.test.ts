// `fedval-coordinator check`: a good configuration passes every line; each broken item (configuration, storage, TLS files, listen port) fails its own line.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/run-cli.ts';
import { issue, makeCa } from '../helpers/test-pki.ts';

interface Report {
  ok: boolean;
  checks: { check: string; status: 'ok' | 'fail' | 'skipped'; detail: string; fix?: string; code?: string }[];
}

describe('fedval-coordinator check', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedval-coord-check-'));
  let busy: Server;
  let busyPort = 0;
  let freePort = 0;
  let tlsLines: { good: string; mismatched: string } = { good: '', mismatched: '' };
  let count = 0;

  const config = (lines: string[]): string => {
    count += 1;
    const file = join(dir, `coordinator-${count}.yaml`);
    writeFileSync(file, [`sites: [{ id: a, token_sha256: ${'a'.repeat(64)} }]`, ...lines].join('\n'));
    return file;
  };
  const check = async (file: string): Promise<{ code: number | null; report: Report }> => {
    const run = await runCli('fedval-coordinator', ['check', '--config', file, '--json']);
    return { code: run.code, report: JSON.parse(run.stdout) as Report };
  };
  const line = (report: Report, name: string) => report.checks.find((entry) => entry.check === name);

  beforeAll(async () => {
    busy = createServer();
    busyPort = await new Promise<number>((resolve) => busy.listen(0, '127.0.0.1', () => resolve((busy.address() as { port: number }).port)));
    const probe = createServer();
    freePort = await new Promise<number>((resolve) => probe.listen(0, '127.0.0.1', () => resolve((probe.address() as { port: number }).port)));
    await new Promise((resolve) => probe.close(resolve));
    const ca = makeCa(dir, 'ca');
    const server = issue(dir, ca, 'server', 'localhost', 'server');
    const other = issue(dir, ca, 'other', 'site-x', 'client');
    tlsLines = { good: `tls: { cert: ${server.cert}, key: ${server.key} }`, mismatched: `tls: { cert: ${server.cert}, key: ${other.key} }` };
  }, 60_000);

  afterAll(() => busy?.close());

  it('passes a good configuration: every line ok, exit 0; and prints one line per check without --json', async () => {
    const file = config([`data_dir: ${join(dir, 'good')}`, `listen: { host: 127.0.0.1, port: ${freePort} }`, tlsLines.good]);
    const { code, report } = await check(file);
    expect(code).toBe(0);
    expect(report.checks.map((entry) => `${entry.check}:${entry.status}`)).toEqual(['config:ok', 'storage:ok', 'tls_files:ok', 'listen:ok']);
    const run = await runCli('fedval-coordinator', ['check', '--config', file]);
    expect(run.code).toBe(0);
    expect(run.stdout.trim().split('\n').map((text) => text.split(/\s+/).slice(0, 2).join(' '))).toEqual(['ok config', 'ok storage', 'ok tls_files', 'ok listen']);
  }, 60_000);

  it('fails the config line for an invalid configuration and skips the rest', async () => {
    const { code, report } = await check(config(['listen: { port: 70000 }']));
    expect(code).toBe(1);
    expect(line(report, 'config')).toMatchObject({ status: 'fail', code: 'FEDVAL_ERR_COORD_CONFIG' });
    expect(report.checks.slice(1).map((entry) => entry.status)).toEqual(['skipped', 'skipped', 'skipped']);
  }, 60_000);

  it('fails the listen line for a port another process holds', async () => {
    const { code, report } = await check(config([`data_dir: ${join(dir, 'busy')}`, `listen: { host: 127.0.0.1, port: ${busyPort} }`]));
    expect(code).toBe(1);
    expect(line(report, 'listen')).toMatchObject({ status: 'fail' });
    expect(line(report, 'listen')!.detail).toContain('EADDRINUSE');
    expect(line(report, 'storage')!.status).toBe('ok');
  }, 60_000);

  it('fails the tls_files line for a key of another certificate', async () => {
    const { report } = await check(config([`data_dir: ${join(dir, 'tls')}`, `listen: { host: 127.0.0.1, port: ${freePort} }`, tlsLines.mismatched]));
    expect(line(report, 'tls_files')).toMatchObject({ status: 'fail', code: 'FEDVAL_ERR_COORD_TLS' });
  }, 60_000);

  it('fails the storage line for a data directory another coordinator holds, and for one that cannot be created', async () => {
    const locked = join(dir, 'locked');
    const run = await check(config([`data_dir: ${locked}`, `listen: { host: 127.0.0.1, port: ${freePort} }`]));
    expect(line(run.report, 'storage')!.status).toBe('ok');
    writeFileSync(join(locked, 'coordinator.lock'), String(process.pid)); // this (live) test process holds it
    const held = await check(config([`data_dir: ${locked}`, `listen: { host: 127.0.0.1, port: ${freePort} }`]));
    expect(line(held.report, 'storage')).toMatchObject({ status: 'fail', code: 'FEDVAL_ERR_COORD_DATA_DIR_LOCKED' });
    const file = join(dir, 'a-file');
    writeFileSync(file, 'x');
    const impossible = await check(config([`data_dir: ${join(file, 'data')}`, `listen: { host: 127.0.0.1, port: ${freePort} }`]));
    expect(line(impossible.report, 'storage')).toMatchObject({ status: 'fail', code: 'FEDVAL_ERR_COORD_STORAGE' });
  }, 60_000);
});

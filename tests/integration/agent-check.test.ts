// `fedval-agent check` against a real coordinator: a good configuration passes every line; each broken item fails its own line.
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import type { Server } from 'node:https';
import { createServer as createHttpServer } from 'node:http';
import { join } from 'node:path';
import { WebSocketServer } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDeployment } from '../helpers/deployment.ts';
import type { Deployment } from '../helpers/deployment.ts';
import { runCli } from '../helpers/run-cli.ts';
import { issue, makeCa } from '../helpers/test-pki.ts';

interface Report {
  ok: boolean;
  checks: { check: string; status: 'ok' | 'fail' | 'skipped'; detail: string; fix?: string; code?: string }[];
}

// Hand-written: 5 rows; `age` has 2 missing cells (empty, NA), `score` 1 (NaN), `y` none.
const CSV = ['y,score,age', '1,0.9137,70.25', '0,0.2468,', '1,NaN,55.75', '0,0.4321,NA', '0,0.1357,61.5'].join('\n');

describe('fedval-agent check', () => {
  let deployment: Deployment;
  let dataFile = '';
  let untrusted: Server;
  let untrustedPort = 0;
  let good = '';

  /** The deployment's configuration for site-0, edited by `edit`. */
  const config = (name: string, edit: (text: string) => string = (text) => text): string => {
    const file = join(deployment.dir, `${name}.yaml`);
    writeFileSync(file, edit(readFileSync(good, 'utf8')).replace('data_dir: ./state', `data_dir: ${join(deployment.dir, `${name}-state`)}`));
    return file;
  };
  const check = async (file: string, extra: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; report: Report; stderr: string }> => {
    const run = await runCli('fedval-agent', ['check', '--config', file, '--json', ...extra], { env, timeoutMs: 60_000 });
    return { code: run.code, report: JSON.parse(run.stdout) as Report, stderr: run.stderr };
  };
  const line = (report: Report, name: string) => report.checks.find((entry) => entry.check === name);

  beforeAll(async () => {
    deployment = await startDeployment(['site-0']);
    dataFile = join(deployment.dir, 'site-0.csv');
    writeFileSync(dataFile, `${CSV}\n`);
    good = deployment.writeAgentConfig('site-0', dataFile, { label: 'y' });
    const ca = makeCa(deployment.dir, 'check-ca');
    const server = issue(deployment.dir, ca, 'check-server', 'localhost', 'server');
    untrusted = createHttpsServer({ cert: readFileSync(server.cert), key: readFileSync(server.key) });
    new WebSocketServer({ server: untrusted, path: '/ws' });
    untrustedPort = await new Promise<number>((resolve) => untrusted.listen(0, '127.0.0.1', () => resolve((untrusted.address() as { port: number }).port)));
  }, 60_000);

  afterAll(async () => {
    untrusted?.closeAllConnections();
    untrusted?.close();
    await deployment?.stop();
  });

  it('passes a good configuration: every line ok, the data as counts (rows, missing values per column), exit 0', async () => {
    const { code, report } = await check(good);
    expect(code).toBe(0);
    expect(report.ok).toBe(true);
    expect(report.checks.map((entry) => `${entry.check}:${entry.status}`)).toEqual([
      'config:ok', 'site_key:ok', 'tls_files:ok', 'data:ok', 'models:ok', 'connectivity:ok', 'tls:ok', 'clock:ok', 'identity:ok',
    ]);
    expect(line(report, 'data')!.detail).toContain('5 rows, 3 columns; missing values per column: y 0, score 1, age 2');
    // Counts only: no cell value of the file appears in the report.
    for (const value of ['0.9137', '0.2468', '70.25', '55.75', '61.5', '0.4321', '0.1357']) expect(JSON.stringify(report)).not.toContain(value);
  }, 60_000);

  it('prints one line per check without --json', async () => {
    const run = await runCli('fedval-agent', ['check', '--config', good], { timeoutMs: 60_000 });
    expect(run.code).toBe(0);
    expect(run.stdout.trim().split('\n').map((text) => text.split(/\s+/).slice(0, 2).join(' '))).toEqual([
      'ok config', 'ok site_key', 'ok tls_files', 'ok data', 'ok models', 'ok connectivity', 'ok tls', 'ok clock', 'ok identity',
    ]);
  }, 60_000);

  it('fails the config line on an invalid configuration, and skips the rest', async () => {
    const { code, report } = await check(config('bad-config', (text) => `${text}\nno_such_key: 1\n`));
    expect(code).toBe(1);
    expect(line(report, 'config')).toMatchObject({ status: 'fail', code: 'FEDVAL_ERR_AGENT_CONFIG' });
    expect(report.checks.slice(1).every((entry) => entry.status === 'skipped')).toBe(true);
  }, 60_000);

  it('fails the data line when the label column is absent, the rest still checked', async () => {
    const { code, report } = await check(config('bad-label', (text) => text.replace('label: { column: y }', 'label: { column: outcome }')));
    expect(code).toBe(1);
    expect(line(report, 'data')).toMatchObject({ status: 'fail', code: 'FEDVAL_ERR_AGENT_DATA_COLUMNS' });
    expect(line(report, 'data')!.detail).toContain('no column outcome');
    expect(line(report, 'identity')!.status, JSON.stringify(report)).toBe('ok');
  }, 60_000);

  it('fails the data line when the data file is missing', async () => {
    const { report } = await check(config('no-data', (text) => text.replace(dataFile, join(deployment.dir, 'absent.csv'))));
    expect(line(report, 'data')).toMatchObject({ status: 'fail' });
  }, 60_000);

  it('fails the connectivity line for a wrong path and for a port nothing listens on', async () => {
    const wrongPath = await check(config('wrong-path', (text) => text.replace(deployment.wsUrl, deployment.wsUrl.replace(/\/ws$/, '/socket'))));
    expect(line(wrongPath.report, 'connectivity')).toMatchObject({ status: 'fail', code: 'FEDVAL_ERR_AGENT_ENDPOINT' });
    expect(line(wrongPath.report, 'connectivity')!.detail).toContain('HTTP 404');
    const closed = await check(config('closed-port', (text) => text.replace(deployment.wsUrl, 'ws://127.0.0.1:9/ws')));
    expect(line(closed.report, 'connectivity')).toMatchObject({ status: 'fail' });
    expect(line(closed.report, 'connectivity')!.detail).toContain('ECONNREFUSED');
    expect(closed.code).toBe(1);
  }, 60_000);

  it('fails the tls line for a certificate it has no CA for, naming tls.ca', async () => {
    const { report } = await check(config('untrusted', (text) => text.replace(deployment.wsUrl, `wss://localhost:${untrustedPort}/ws`)));
    expect(line(report, 'connectivity')!.status).toBe('ok');
    expect(line(report, 'tls')).toMatchObject({ status: 'fail', code: 'FEDVAL_ERR_AGENT_TLS_VERIFY' });
    expect(line(report, 'tls')!.fix).toContain('tls.ca');
  }, 60_000);

  it('fails the identity line for a site the coordinator does not know', async () => {
    const { report } = await check(config('unknown-site', (text) => text.replace('site_id: site-0', 'site_id: site-unknown')));
    expect(line(report, 'identity')).toMatchObject({ status: 'fail', code: 'FEDVAL_ERR_AGENT_UNAUTHORIZED' });
    expect(line(report, 'connectivity')!.status).toBe('ok');
  }, 60_000);

  it('fails the clock line when this host runs two minutes ahead of the coordinator', async () => {
    // The check's process sees a clock 120 s ahead (Date.now shifted before the program loads); the coordinator's is true.
    const shift = join(deployment.dir, 'clock-ahead.mjs');
    writeFileSync(shift, 'const now = Date.now;\nDate.now = () => now() + 120_000;\n');
    const { report } = await check(good, [], { NODE_OPTIONS: `--import=${shift}` });
    expect(line(report, 'clock')).toMatchObject({ status: 'fail' });
    expect(line(report, 'clock')!.detail).toMatch(/this host is 1[12]\d{4} ms off/);
  }, 60_000);
});

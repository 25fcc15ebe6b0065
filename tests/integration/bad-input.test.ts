// Bad input gets a clear, coded error and loses nothing: configs, data files, models, credentials.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createHash } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, runCli } from '../helpers/run-cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'fedval-bad-input-'));
const model = join(REPO_ROOT, 'examples/rotterdam/model');
function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe('command-line errors', () => {
  it('a missing or malformed agent config exits 2 naming the problem', async () => {
    const missing = await runCli('fedval-agent', ['start', '--config', join(dir, 'absent.yaml')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('FEDVAL_ERR_AGENT_CONFIG');
    const bad = await runCli('fedval-agent', ['start', '--config', file('bad.yaml', 'coordinator: http://nowhere\nsite_id: a b\n')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/coordinator: must be a ws/);
    expect(bad.stderr).toMatch(/site_id/);
    expect(bad.stderr).toMatch(/data/);
  });

  it('a CSV without the named columns, or a model whose manifest does not match the data, names the columns', async () => {
    const data = file('few.csv', 'age,status\n50,1\n60,0\n');
    const noScore = await runCli('fedval-agent', ['eval-local', '--data', data, '--label', 'status', '--score', 'risk']);
    expect(noScore.code).toBe(1);
    expect(noScore.stderr).toContain('FEDVAL_ERR_AGENT_DATA_COLUMNS');
    expect(noScore.stderr).toContain('risk');
    const wrongModel = await runCli('fedval-agent', ['eval-local', '--data', data, '--label', 'status', '--model', model]);
    expect(wrongModel.code).toBe(1);
    expect(wrongModel.stderr).toContain('FEDVAL_ERR_AGENT_DATA_COLUMNS');
    for (const column of ['nodes', 'grade', 'pgr']) expect(wrongModel.stderr).toContain(column);
  });

  it('a malformed CSV is refused without quoting its cells', async () => {
    const data = file('ragged.csv', 'score,status\n0.2,1\n0.3,0,PATIENT-SMITH\n');
    const run = await runCli('fedval-agent', ['eval-local', '--data', data, '--label', 'status', '--score', 'score']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('FEDVAL_ERR_AGENT_DATA_MALFORMED');
    expect(run.stderr).not.toContain('SMITH');
  });

  it('usage errors exit 2', async () => {
    const both = await runCli('fedval', ['simulate', '--site', `a=${join(dir, 'x.csv')}`, '--label', 'y', '--score', 's', '--model', model]);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('FEDVAL_ERR_CLI_USAGE');
    const badSite = await runCli('fedval', ['simulate', '--site', 'no-equals-sign', '--label', 'y', '--score', 's']);
    expect(badSite.code).toBe(2);
    // What the argument parser itself refuses (a non-number, an unknown command, a missing option) exits 2 too.
    const notNumber = await runCli('fedval-agent', ['eval-local', '--data', join(dir, 'x.csv'), '--label', 'y', '--score', 's', '--bins', '0x10']);
    expect(notNumber).toMatchObject({ code: 2, stderr: expect.stringContaining('--bins must be a number') });
    expect((await runCli('fedval', ['no-such-command'])).code).toBe(2);
    expect((await runCli('fedval-coordinator', ['start'])).code).toBe(2);
    expect((await runCli('fedval', ['--help'])).code).toBe(0);
  });

  it('a site that cannot run the task refuses with a coded reason the sponsor sees', async () => {
    const good = file('good.csv', `score,status\n${Array.from({ length: 40 }, (_, i) => `${(i % 10) / 10},${i % 2}`).join('\n')}\n`);
    const noLabel = file('nolabel.csv', `score,outcome\n0.1,1\n0.2,0\n`);
    const run = await runCli('fedval', ['simulate', '--site', `good=${good}`, '--site', `broken=${noLabel}`, '--label', 'status', '--score', 'score', '--no-dp']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('FEDVAL_ERR_CLI_ROUND_FAILED');
    expect(run.stderr).toContain('broken: FEDVAL_ERR_AGENT_DATA_COLUMNS');
  }, 60_000);
});

describe('credentials', () => {
  const children: ReturnType<typeof spawn>[] = [];
  afterAll(() => children.forEach((child) => child.kill('SIGKILL')));

  it('an agent with an unknown token is refused, exits non-zero, and the coordinator keeps serving', async () => {
    const token = 'the-right-token-for-site-a-0123456789';
    const config = file(
      'coordinator.yaml',
      `listen: { host: 127.0.0.1, port: 0 }\ndata_dir: ./coord\nsites:\n  - id: site-a\n    token_sha256: ${createHash('sha256').update(token).digest('hex')}\n`,
    );
    const coordinator = spawn(process.execPath, ['coordinator/src/main.ts', 'start', '--config', config], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'ignore'] });
    children.push(coordinator);
    const url = await new Promise<string>((resolve) => {
      createInterface({ input: coordinator.stdout! }).on('line', (line) => {
        const event = JSON.parse(line) as { event: string; url: string };
        if (event.event === 'listening') resolve(event.url);
      });
    });
    const data = file('a.csv', 'score,status\n0.1,0\n');
    const siteConfig = (name: string, secret: string) =>
      file(
        name,
        `coordinator: ${url.replace('http', 'ws')}/ws\nsite_id: site-a\ntoken: ${secret}\ndata:\n  path: ${data}\n  label: { column: status }\ndata_dir: ./${name}.d\n`,
      );
    const wrong = await runCli('fedval-agent', ['start', '--config', siteConfig('wrong.yaml', 'a-wrong-token-for-site-a-0123456789')], { timeoutMs: 20_000 });
    expect(wrong.code).toBe(3);
    expect(wrong.stderr).toContain('FEDVAL_ERR_AGENT_UNAUTHORIZED');
    expect(wrong.stderr).not.toContain('a-wrong-token');
    const health = await fetch(`${url}/healthz`);
    expect(health.status).toBe(200);
  }, 60_000);
});

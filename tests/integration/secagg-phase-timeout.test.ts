// The coordinator's per-phase timeout of secure aggregation (limits.secagg_phase_timeout_ms): real agents that stay
// connected after the key exchange but never send their masked input (`simulate --stall-site`) are dropped when the
// phase times out, long before the round deadline; the round goes on with the rest if at least the threshold remain
// (the exact sum of the others is released), else fails with nothing decrypted and every charge refunded.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { describe, it } from 'vitest';
import { DATA_DIR, runCli, runJson } from '../helpers/run-cli.ts';
import { sitesChargedThenRefunded } from '../helpers/site-budgets.ts';

const dir = mkdtempSync(join(tmpdir(), 'fedval-secagg-timeout-'));
const HEADER = 'pid,age,meno,grade,status,score';
const SITES = 4;
// Long enough for an honest site to mask and encrypt its input on a loaded 2-core machine running two test files at
// once (at 4 s every site timed out there; the honest input phase took 0.4-2.5 s on a quiet machine, 10.7 s at worst
// under heavy load), short against the round deadline (600 s) the second case compares with.
const PHASE_TIMEOUT_MS = 15_000;

/** GBSG patients with a fixed, documented risk score (as in secure-aggregation.test.ts), split into four site files. */
function writeSites(): string[][] {
  const rows = parse(readFileSync(join(DATA_DIR, 'gbsg.csv')), { columns: true }) as Record<string, string>[];
  const lines = rows.map((row) => {
    const z = -2 + 0.04 * Number(row.nodes) + 0.3 * Number(row.grade) - 0.002 * Number(row.pgr) + 0.01 * Number(row.age);
    return `${row.pid},${row.age},${row.meno},${row.grade},${row.status},${(1 / (1 + Math.exp(-z))).toFixed(6)}`;
  });
  const size = Math.ceil(lines.length / SITES);
  return Array.from({ length: SITES }, (_, i) => lines.slice(i * size, (i + 1) * size));
}

function writeFile(name: string, lines: string[]): string {
  const path = join(dir, name);
  writeFileSync(path, `${HEADER}\n${lines.join('\n')}\n`);
  return path;
}

const parts = writeSites();
const siteArgs = parts.flatMap((lines, i) => ['--site', `site-${i}=${writeFile(`site-${i}.csv`, lines)}`]);
const common = ['--label', 'status', '--positive', '1', '--score', 'score', '--group', 'meno'];
const timeoutArgs = ['--secagg-threshold', '3', '--secagg-phase-timeout', String(PHASE_TIMEOUT_MS)];

/** The coordinator's audit entries of one action, from a simulation's work directory. */
function coordinatorEntries(workDir: string, action: string): { details: Record<string, unknown> }[] {
  return readFileSync(join(workDir, 'coordinator-data', 'audit.jsonl'), 'utf8')
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as { action: string; details: Record<string, unknown> })
    .filter((entry) => entry.action === action);
}

// The two cases run side by side (separate work directories and coordinators): most of each is the coordinator waiting
// out the phase timeout, and those waits overlap. Each uses its own test context's `expect`.
describe.concurrent('the coordinator’s secure-aggregation phase timeout', () => {
  it('drops a site that stalls after the key exchange; the others’ exact sum equals eval-local', async ({ expect }) => {
    const workDir = join(dir, 'one-stalled');
    // eval-local runs while the simulation waits out the timeout: the two are independent.
    const [local, run] = await Promise.all([
      runJson('fedval-agent', ['eval-local', '--data', writeFile('pooled-0-1-2.csv', parts.slice(0, 3).flat()), ...common]),
      runCli('fedval', ['simulate', ...siteArgs, ...common, '--no-dp', ...timeoutArgs, '--stall-site', 'site-3', '--work-dir', workDir, '--json'], { timeoutMs: 400_000 }),
    ]);
    expect(run.code, run.stderr).toBe(0);
    const federated = JSON.parse(run.stdout) as {
      metrics: unknown;
      round: { contributions: number; sites: { site_id: string; code?: string }[] };
      privacy: { aggregation?: unknown };
    };
    expect(federated.metrics).toEqual(local.metrics);
    expect(federated.round.contributions).toBe(3);
    expect(federated.round.sites.filter((site) => site.code === 'FEDVAL_ERR_COORD_SECAGG_TIMEOUT').map((site) => site.site_id)).toEqual(['site-3']);
    expect(federated.privacy.aggregation).toEqual({ scheme: 'bonawitz-double-mask', threshold: 3, sites_masked: ['site-0', 'site-1', 'site-2', 'site-3'], dropped: ['site-3'], recovered: ['site-3'] });
    // Dropped by the timeout, in the masked-input phase, not by a disconnection.
    expect(coordinatorEntries(workDir, 'secagg.site_timed_out').map((entry) => [entry.details.site, entry.details.phase])).toEqual([['site-3', 'input']]);
    expect(coordinatorEntries(workDir, 'secagg.site_dropped')).toEqual([]);
  }, 400_000);

  it('fails the round when fewer than the threshold remain: nothing decrypted, every charge refunded', async ({ expect }) => {
    const workDir = join(dir, 'two-stalled');
    const started = Date.now();
    const run = await runCli('fedval', ['simulate', ...siteArgs, ...common, ...timeoutArgs, '--stall-site', 'site-1', '--stall-site', 'site-2', '--work-dir', workDir, '--json'], { timeoutMs: 400_000 });
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain('FEDVAL_ERR_CLI_ROUND_FAILED');
    expect(run.stderr).toContain('secure_aggregation_incomplete');
    // The phase timeout, not the round deadline (600 s), ended it.
    expect(Date.now() - started).toBeLessThan(300_000);
    expect(coordinatorEntries(workDir, 'secagg.site_timed_out').map((entry) => entry.details.site).sort()).toEqual(['site-1', 'site-2']);
    expect(readFileSync(join(workDir, 'key-holder', 'audit.jsonl'), 'utf8')).not.toContain('aggregate.decrypted');
    // The two sites that sent their masked input were charged and refunded; the stalled ones read nothing, were never charged.
    // Each site's own ledger, read by its own `fedval-agent budget` process.
    expect(await sitesChargedThenRefunded(workDir)).toEqual(['site-0', 'site-3']);
  }, 400_000);
});

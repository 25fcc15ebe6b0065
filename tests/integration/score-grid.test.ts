// A fitted score grid end to end: `fedval grid fit` on development scores, then the same grid in `fedval-agent eval-local`
// and in `fedval simulate` (a real coordinator and real agents; the grid travels in the study and in every task).
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { DATA_DIR, runCli, runJson } from '../helpers/run-cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'fedval-score-grid-'));

/** GBSG patients with a fixed, documented risk score (not a fitted model), rounded to 3 decimals: many ties, few distinct values. */
function writeData(): { development: string; sites: string[]; pooled: string } {
  const rows = parse(readFileSync(join(DATA_DIR, 'gbsg.csv')), { columns: true }) as Record<string, string>[];
  const header = 'pid,meno,status,score';
  const lines = rows.map((row) => {
    const z = -2 + 0.04 * Number(row['nodes']) + 0.3 * Number(row['grade']) - 0.002 * Number(row['pgr']) + 0.01 * Number(row['age']);
    return `${row['pid']},${row['meno']},${row['status']},${(1 / (1 + Math.exp(-z))).toFixed(3)}`;
  });
  const write = (name: string, part: string[]) => {
    const path = join(dir, name);
    writeFileSync(path, `${header}\n${part.join('\n')}\n`);
    return path;
  };
  // The sponsor's development data: every other patient (the sponsor holds its own data; here, a share of the same cohort).
  return { development: write('development.csv', lines.filter((_, i) => i % 2 === 0)), sites: [write('a.csv', lines.slice(0, 300)), write('b.csv', lines.slice(300))], pooled: write('pooled.csv', lines) };
}

describe('a fitted score grid across the commands', () => {
  const { development, sites, pooled } = writeData();
  const grid = join(dir, 'grid.json');
  const common = ['--label', 'status', '--positive', '1', '--score', 'score', '--threshold', '0.237', '--group', 'meno', '--score-grid', grid];

  it('fits the grid from development scores, keeping the threshold as an edge', async () => {
    const fitted = await runJson<{ out: string; grid: { kind: string; method: string; edges: number[]; source_digest: string }; summary: { bins: number; binsWithSeveralScores: number } }>(
      'fedval',
      ['grid', 'fit', '--scores', development, '--column', 'score', '--bins', '1000', '--thresholds', '0.237', '--out', grid],
    );
    const written = JSON.parse(readFileSync(grid, 'utf8')) as typeof fitted.grid;
    expect(written).toEqual(fitted.grid);
    expect(written).toMatchObject({ kind: 'fitted', method: 'quantile' });
    expect(written.edges).toContain(0.237);
    expect(written.source_digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(fitted.summary.binsWithSeveralScores).toBe(0);
  }, 60_000);

  it('gives the same metrics in eval-local on the pooled rows and in a simulated federated round (--no-dp), naming the grid', async () => {
    // eval-local runs while the simulation starts its processes: the two are independent.
    const [local, federated] = await Promise.all([
      runJson('fedval-agent', ['eval-local', '--data', pooled, ...common]),
      runJson('fedval', ['simulate', ...sites.flatMap((path, i) => ['--site', `s${i}=${path}`]), '--no-dp', ...common]),
    ]);
    expect(federated.metrics).toEqual(local.metrics);
    const written = JSON.parse(readFileSync(grid, 'utf8')) as { source_digest: string };
    expect(local.metrics['score_grid']).toMatchObject({ kind: 'fitted', method: 'quantile', source_digest: written.source_digest });
    expect((local.metrics['at_threshold'] as { threshold: number }).threshold).toBe(0.237);
  }, 180_000);

  it('runs a round with differential privacy on the fitted grid', async () => {
    const federated = await runJson<{ metrics: Record<string, unknown>; privacy: { dp: Record<string, unknown> | null } }>('fedval', [
      'simulate',
      ...sites.flatMap((path, i) => ['--site', `s${i}=${path}`]),
      '--min-sites',
      '2',
      '--epsilon',
      '1',
      ...common,
    ]);
    expect(federated.privacy.dp).not.toBeNull();
    expect(federated.metrics['score_grid']).toMatchObject({ kind: 'fitted', method: 'quantile' });
    expect(federated.metrics['noise_in_intervals']).toBe(true);
  }, 180_000);

  it('refuses --bins with --score-grid, and a grid file that breaks the rules, as usage errors', async () => {
    const both = await runCli('fedval-agent', ['eval-local', '--data', pooled, ...common, '--bins', '100']);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('FEDVAL_ERR_AGENT_USAGE: invalid command-line arguments: give --bins (equal-width bins) or --score-grid (a fitted grid), not both');
    const bad = join(dir, 'bad-grid.json');
    writeFileSync(bad, JSON.stringify({ kind: 'fitted', method: 'quantile', edges: [0.4, 0.4, 1.2] }));
    const refused = await runCli('fedval', ['simulate', '--site', `s0=${sites[0]}`, '--no-dp', ...common.slice(0, -1), bad]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`FEDVAL_ERR_CLI_USAGE: invalid command-line arguments: --score-grid ${bad}: edges[1] repeats edges[0] (edges must be distinct); edges[2] must lie strictly between 0 and 1`);
    const missing = await runCli('fedval', ['grid', 'fit', '--scores', pooled, '--column', 'nope', '--out', join(dir, 'x.json')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('FEDVAL_ERR_CLI_SCORES');
  }, 60_000);
});

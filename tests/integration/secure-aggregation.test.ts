// Secure aggregation end to end (issue 13): five real agents, a real coordinator and key holder over loopback. Sites
// that drop after the key exchange (`simulate --drop-site`) leave the exact sum of the others; more dropouts than
// n − threshold fail the round, nothing is decrypted, and every charged site refunds its charge.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { DATA_DIR, runCli, runJson } from '../helpers/run-cli.ts';
import { sitesChargedThenRefunded } from '../helpers/site-budgets.ts';

const dir = mkdtempSync(join(tmpdir(), 'fedval-secagg-'));
const HEADER = 'pid,age,meno,grade,status,score';

/** GBSG patients with a fixed, documented risk score, split into five site files. */
function writeSites(): string[][] {
  const rows = parse(readFileSync(join(DATA_DIR, 'gbsg.csv')), { columns: true }) as Record<string, string>[];
  const lines = rows.map((row) => {
    const z = -2 + 0.04 * Number(row.nodes) + 0.3 * Number(row.grade) - 0.002 * Number(row.pgr) + 0.01 * Number(row.age);
    return `${row.pid},${row.age},${row.meno},${row.grade},${row.status},${(1 / (1 + Math.exp(-z))).toFixed(6)}`;
  });
  const size = Math.ceil(lines.length / 5);
  return Array.from({ length: 5 }, (_, i) => lines.slice(i * size, (i + 1) * size));
}

function writeFile(name: string, lines: string[]): string {
  const path = join(dir, name);
  writeFileSync(path, `${HEADER}\n${lines.join('\n')}\n`);
  return path;
}

const parts = writeSites();
const siteFiles = parts.map((lines, i) => writeFile(`site-${i}.csv`, lines));
const common = ['--label', 'status', '--positive', '1', '--score', 'score', '--group', 'meno'];
const siteArgs = siteFiles.flatMap((path, i) => ['--site', `site-${i}=${path}`]);

interface SimulateDocument {
  metrics: Record<string, unknown>;
  round: { contributions: number; sites: { site_id: string; status: string; code?: string }[] };
  privacy: { aggregation?: { scheme: string; threshold: number; sites_masked: string[]; dropped: string[]; recovered: string[] } };
}

/** `fedval simulate … --json` with room for five agents on a busy machine. */
async function simulateJson(args: string[]): Promise<SimulateDocument> {
  const run = await runCli('fedval', ['simulate', ...args, '--json'], { timeoutMs: 400_000 });
  if (run.code !== 0) throw new Error(`fedval simulate exited ${run.code}\n${run.stderr}`);
  return JSON.parse(run.stdout) as SimulateDocument;
}

describe('fedval simulate --secure-aggregation', () => {
  for (const dropped of [['site-4'], ['site-1', 'site-3']]) {
    it(`with ${dropped.join(' and ')} dropping after the key exchange, equals eval-local on the other sites' data`, async () => {
      const remaining = parts.filter((_, i) => !dropped.includes(`site-${i}`));
      const pooled = writeFile(`pooled-without-${dropped.join('-')}.csv`, remaining.flat());
      // eval-local runs while the simulation starts its processes: the two are independent.
      const [local, federated] = await Promise.all([
        runJson('fedval-agent', ['eval-local', '--data', pooled, ...common]),
        simulateJson([...siteArgs, ...common, '--no-dp', '--secure-aggregation', '--secagg-threshold', '3', ...dropped.flatMap((site) => ['--drop-site', site])]),
      ]);
      expect(federated.metrics).toEqual(local.metrics);
      expect(federated.round.contributions).toBe(5 - dropped.length);
      expect(federated.round.sites.filter((site) => site.code === 'FEDVAL_ERR_COORD_SITE_DROPPED').map((site) => site.site_id).sort()).toEqual([...dropped].sort());
      expect(federated.privacy.aggregation).toEqual({
        scheme: 'bonawitz-double-mask',
        threshold: 3,
        sites_masked: ['site-0', 'site-1', 'site-2', 'site-3', 'site-4'],
        dropped: [...dropped].sort(),
        recovered: [...dropped].sort(),
      });
    }, 400_000);
  }

  it('fails the round when more than n − threshold sites drop: nothing decrypted, every charge refunded', async () => {
    const workDir = join(dir, 'too-many-dropped');
    const run = await runCli(
      'fedval',
      ['simulate', ...siteArgs, ...common, '--secure-aggregation', '--secagg-threshold', '3', '--drop-site', 'site-0', '--drop-site', 'site-2', '--drop-site', 'site-4', '--work-dir', workDir, '--json'],
      { timeoutMs: 400_000 },
    );
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain('FEDVAL_ERR_CLI_ROUND_FAILED');
    expect(run.stderr).toContain('secure_aggregation_incomplete');
    // Nothing was decrypted: the key holder's trail has no decryption.
    const keyHolderTrail = readFileSync(join(workDir, 'key-holder', 'audit.jsonl'), 'utf8');
    expect(keyHolderTrail).not.toContain('aggregate.decrypted');
    // The two sites that sent their masked input were charged and refunded; the dropped ones were never charged.
    // Each site's own ledger, read by its own `fedval-agent budget` process.
    expect(await sitesChargedThenRefunded(workDir)).toEqual(['site-1', 'site-3']);
  }, 400_000);
});

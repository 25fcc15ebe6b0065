// Attack: the owner of a trail (the coordinator's operator, a site's admin, the key holder) cuts its tail, empties it or
// rewinds it (cuts it back and writes other entries after). The hash chain alone still verifies; the heads the other
// parties kept of it (sent with every welcome, task, result, aggregate answer and release) catch each case, in
// `fedval audit verify --anchors`, `fedval-agent audit verify --anchors` and `fedval audit cross-check`.
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { AuditLog, readAuditLog } from '@fedval/trust';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDeployment, waitForRoundClosed, waitForSites } from '../helpers/deployment.ts';
import type { Deployment } from '../helpers/deployment.ts';
import { DATA_DIR, runCli } from '../helpers/run-cli.ts';

const SITES = ['site-0', 'site-1', 'site-2'];

/** Three site files from the bundled GBSG data, with a fixed score formula. */
function writeSiteFiles(dir: string): Record<string, string> {
  const rows = parse(readFileSync(join(DATA_DIR, 'gbsg.csv')), { columns: true }) as Record<string, string>[];
  const lines = rows.map((row) => {
    const z = -2 + 0.04 * Number(row.nodes) + 0.3 * Number(row.grade) - 0.002 * Number(row.pgr) + 0.01 * Number(row.age);
    return `${row.status},${(1 / (1 + Math.exp(-z))).toFixed(6)}`;
  });
  const files: Record<string, string> = {};
  [lines.slice(0, 230), lines.slice(230, 460), lines.slice(460)].forEach((part, i) => {
    files[`site-${i}`] = join(dir, `site-${i}.csv`);
    writeFileSync(files[`site-${i}`]!, `status,score\n${part.join('\n')}\n`);
  });
  return files;
}

type Party = 'coordinator' | 'site:site-0' | 'key-holder';
type Attack = 'cut' | 'empty' | 'rewind';

describe('a trail cut short, emptied or rewound by its owner', () => {
  let deployment: Deployment;
  let pristine: string;
  let roundId: string;
  const trailDir = (root: string, party: Party): string =>
    party === 'coordinator' ? join(root, 'coordinator-data') : party === 'key-holder' ? join(root, 'keys') : join(root, 'sites', 'site-0', 'state');

  beforeAll(async () => {
    // Enrolled sites on the key holder's roster: it decrypts only contributions they signed.
    deployment = await startDeployment(SITES, { minReleaseSites: 3, enrolledSites: SITES });
    const files = writeSiteFiles(deployment.dir);
    for (const site of SITES) await deployment.startEnrolledAgent(site, files[site]!, { label: 'status' });
    await waitForSites(deployment, SITES);
    const study = await deployment.api('POST', '/api/studies', { name: 'anchored', score_column: 'score', metric_spec: { bins: 20 }, sites: SITES });
    expect(study.status).toBe(201);
    const keys = join(deployment.dir, 'keys');
    const keyHolder = { env: { FEDVAL_API_TOKEN: deployment.apiTokens.privacy_officer } };
    expect((await runCli('fedval', ['keys', 'init', '--coordinator', deployment.url, '--study', study.body.study_id, '--out', keys, '--signing-key', deployment.keyHolderSigningKey, '--roster', deployment.writeRoster(SITES)], keyHolder)).code).toBe(0);
    const round = await deployment.api('POST', `/api/studies/${study.body.study_id}/rounds`);
    roundId = round.body.round_id;
    expect((await waitForRoundClosed(deployment, roundId)).state).toBe('aggregated');
    const decrypted = await runCli('fedval', ['decrypt', '--coordinator', deployment.url, '--round', roundId, '--keys', keys], keyHolder);
    expect(decrypted.code, decrypted.stderr).toBe(0);
    await deployment.stop();
    // The trails as the round left them: each attack works on a fresh copy.
    pristine = join(deployment.dir, 'pristine');
    for (const party of ['coordinator', 'site:site-0', 'key-holder'] as const) cpSync(trailDir(deployment.dir, party), trailDir(pristine, party), { recursive: true });
    for (const site of ['site-1', 'site-2']) cpSync(join(deployment.dir, 'sites', site, 'state'), join(pristine, 'sites', site, 'state'), { recursive: true });
  }, 180_000);

  afterAll(async () => {
    await deployment?.stop();
    if (deployment) rmSync(deployment.dir, { recursive: true, force: true });
  });

  /**
   * The anchors of `party` as another party exports them from its own, untouched trail. Every attack on `party` leaves
   * that other trail as the round left it (a copy of the pristine one), so they are exported once per party, from the
   * pristine trails, and shared by the three attacks on it.
   */
  const anchorsOf = new Map<Party, Promise<{ file: string; anchors: { seq: number; hash: string }[] }>>();
  function exportedAnchors(party: Party): Promise<{ file: string; anchors: { seq: number; hash: string }[] }> {
    let exported = anchorsOf.get(party);
    if (!exported) {
      exported = (async () => {
        const run =
          party === 'coordinator'
            ? await runCli('fedval-agent', ['audit', 'anchors', '--dir', trailDir(pristine, 'site:site-0'), '--json'])
            : await runCli('fedval', ['audit', 'anchors', '--dir', trailDir(pristine, 'coordinator'), '--party', party, '--json']);
        expect(run.code, run.stderr).toBe(0);
        const file = join(pristine, `anchors-of-${party.replace(':', '-')}.json`);
        writeFileSync(file, run.stdout);
        return { file, anchors: JSON.parse(run.stdout).anchors };
      })();
      anchorsOf.set(party, exported);
    }
    return exported;
  }

  const crossCheck = (root: string) =>
    runCli('fedval', [
      'audit', 'cross-check', '--coordinator-dir', trailDir(root, 'coordinator'),
      ...SITES.flatMap((site) => ['--site', `${site}=${join(root, 'sites', site, 'state')}`]),
      '--key-dir', trailDir(root, 'key-holder'), '--round', roundId, '--json',
    ]);

  it('the untouched trails hold against every head the others kept, and agree on the round', async () => {
    const run = await crossCheck(pristine);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const report = JSON.parse(run.stdout) as { logs: { party: string; anchors: number; verification: { ok: boolean } }[]; discrepancies: unknown[] };
    // Every party's trail is anchored by the others: the coordinator's by the sites and the key holder, each site's and
    // the key holder's by the coordinator.
    expect(report.logs.map((log) => [log.party, log.verification.ok, log.anchors > 0])).toEqual([
      ['coordinator', true, true],
      ['site:site-0', true, true],
      ['site:site-1', true, true],
      ['site:site-2', true, true],
      ['key-holder', true, true],
    ]);
    expect(report.discrepancies).toEqual([]);
  }, 60_000);

  for (const party of ['coordinator', 'site:site-0', 'key-holder'] as const) {
    for (const attack of ['cut', 'empty', 'rewind'] as const) {
      it(`${party}: ${attack} — the chain alone says intact; verify --anchors and cross-check do not`, async () => {
        const root = join(deployment.dir, `attack-${party.replace(':', '-')}-${attack}`);
        for (const dir of ['coordinator', 'site:site-0', 'key-holder'] as const) cpSync(trailDir(pristine, dir), trailDir(root, dir), { recursive: true });
        for (const site of ['site-1', 'site-2']) cpSync(join(pristine, 'sites', site, 'state'), join(root, 'sites', site, 'state'), { recursive: true });
        const { file: anchorsFile, anchors } = await exportedAnchors(party);
        expect(anchors.length).toBeGreaterThan(0);
        const newest = Math.max(...anchors.map((anchor) => anchor.seq));

        const trail = join(trailDir(root, party), 'audit.jsonl');
        const lines = readFileSync(trail, 'utf8').split('\n').filter(Boolean);
        const keep = attack === 'empty' ? 0 : newest - 1; // the owner removes every entry from the newest head others saw on
        writeFileSync(trail, lines.slice(0, keep).map((line) => `${line}\n`).join(''));
        if (attack === 'rewind') {
          // ... and writes a different history in its place, longer than the original, every hash recomputed.
          const log = AuditLog.open(trail);
          for (let i = 0; i < lines.length - keep + 2; i++) log.append({ actor: 'coordinator', action: 'config.loaded', object: `config:rewritten-${i}` });
          log.close();
        }
        expect(readAuditLog(trail).verification.ok).toBe(true); // what today's verification without anchors reports

        const verify =
          party === 'site:site-0'
            ? await runCli('fedval-agent', ['audit', 'verify', '--dir', trailDir(root, party), '--anchors', anchorsFile, '--json'])
            : await runCli('fedval', ['audit', 'verify', '--dir', trailDir(root, party), '--anchors', anchorsFile, '--json']);
        expect(verify.code).toBe(1);
        const verification = party === 'site:site-0' ? JSON.parse(verify.stdout) : JSON.parse(verify.stdout).verification;
        expect(verification).toMatchObject({ ok: false, reason: 'anchor_mismatch', intactEntries: keep });

        const checked = await crossCheck(root);
        expect(checked.code).toBe(1);
        const report = JSON.parse(checked.stdout) as { logs: { party: string; verification: { ok: boolean; reason?: string } }[]; discrepancies: unknown };
        expect(report.logs.filter((log) => !log.verification.ok)).toEqual([
          expect.objectContaining({ party, verification: expect.objectContaining({ ok: false, reason: 'anchor_mismatch' }) }),
        ]);
        expect(report.discrepancies).toBeNull();
      }, 60_000);
    }
  }
});

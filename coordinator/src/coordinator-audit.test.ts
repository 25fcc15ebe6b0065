import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createStatisticsLayout, resolveMetricSpecInput } from '@fedval/metrics';
import { createMessage } from '@fedval/protocol';
import type { Message } from '@fedval/protocol';
import { AuditLog, crossCheckRound, readAuditLog, verifyAuditLog } from '@fedval/trust';
import { afterEach, describe, expect, it } from 'vitest';
import { CoordinatorError } from './errors.ts';
import { createCoordinator } from './server.ts';
import { ProtocolSite, SITE_TOKENS, startTestCoordinator, testConfig, waitForRoundClosed } from './test-support/protocol-site.ts';
import type { RunningCoordinator } from './test-support/protocol-site.ts';

let running: RunningCoordinator | undefined;
const sites: ProtocolSite[] = [];
const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(sites.splice(0).map((site) => site.close()));
  await running?.stop();
  running = undefined;
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const SPEC = { task: 'binary', bins: 10, min_cell_size: 1 };
const STUDY = { name: 'audited', score_column: 'score', metric_spec: SPEC, sites: ['site-a'], contribution: 'plaintext' };

function entriesOf(dataDir: string): any[] {
  return readFileSync(join(dataDir, 'audit.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line));
}

/** SHA-256 of a plaintext vector's bytes, computed here independently of the coordinator. */
function sha256Of(vector: Float64Array): string {
  return createHash('sha256').update(Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength)).digest('hex');
}

describe('coordinator audit trail', () => {
  it('records a round from configuration to close, in order, as a chain that verifies and cross-checks with the sites', async () => {
    running = await startTestCoordinator();
    const server = running;
    const peers = await Promise.all(['site-a', 'site-b', 'site-c'].map((id) => ProtocolSite.authenticated(server.wsUrl, id)));
    sites.push(...peers);
    const intruder = await ProtocolSite.connect(server.wsUrl);
    sites.push(intruder);
    expect((await intruder.hello('site-a', 'not-the-token-of-site-a-0123456789')).type).toBe('error');

    const study = await server.api('POST', '/api/studies', { ...STUDY, sites: ['site-a', 'site-b', 'site-c'], quorum: 2 });
    expect(study.status).toBe(201);
    const round = await server.api('POST', `/api/studies/${study.body.study_id}/rounds`);
    const roundId = round.body.round_id as string;
    const tasks = (await Promise.all(peers.map((peer) => peer.next('task')))) as (Message & { type: 'task' })[];
    const [a, b, c] = peers as [ProtocolSite, ProtocolSite, ProtocolSite];
    const vectorLength = createStatisticsLayout(resolveMetricSpecInput(SPEC)).length;
    const vectorA = new Float64Array(vectorLength).fill(1);
    const vectorB = new Float64Array(vectorLength).fill(2);
    a.send(createMessage('task.accept', { roundId }, tasks[0]!.id));
    a.send(createMessage('task.result', { roundId, contribution: { kind: 'plaintext', vector: vectorA }, contributionSha256: sha256Of(vectorA) }, tasks[0]!.id));
    b.send(createMessage('task.result', { roundId, contribution: { kind: 'plaintext', vector: vectorB }, contributionSha256: sha256Of(vectorB) }, tasks[1]!.id));
    c.send(createMessage('task.refuse', { roundId, reason: { code: 'FEDVAL_ERR_DP_BUDGET_EXCEEDED', message: 'budget' } }, tasks[2]!.id));
    expect((await waitForRoundClosed(server.api, roundId)).state).toBe('aggregated');

    const verification = verifyAuditLog(join(server.dataDir, 'audit.jsonl'));
    expect(verification.ok).toBe(true);
    const entries = entriesOf(server.dataDir);
    const summary = entries.map((entry) => `${entry.action} ${entry.object}`);
    const r = `round:${roundId}`;
    expect(summary[0]).toBe('config.loaded config:in-memory');
    expect(summary).toEqual(
      expect.arrayContaining([
        'connection.accepted site:site-a',
        'connection.refused site:site-a',
        `study.created study:${study.body.study_id}`,
        `round.started ${r}`,
        `task.dispatched ${r}`,
        `task.accepted ${r}`,
        `contribution.received ${r}`,
        `task.refused ${r}`,
        `round.closed ${r}`,
      ]),
    );
    expect(summary.indexOf(`round.started ${r}`)).toBeLessThan(summary.indexOf(`task.dispatched ${r}`));
    expect(summary.at(-1)).toBe(`round.closed ${r}`);
    expect(entries.find((e) => e.action === 'round.started')).toMatchObject({ actor: 'role:sponsor:sponsor' });
    expect(entries.find((e) => e.action === 'study.created').details).toMatchObject({ sites: 3, quorum: 2, contribution: 'plaintext', dp: false, encrypted: false });
    expect(entries.find((e) => e.action === 'connection.refused')).toMatchObject({ reason: 'FEDVAL_ERR_COORD_UNAUTHORIZED' });
    expect(entries.find((e) => e.action === 'task.refused')).toMatchObject({ actor: 'site:site-c', reason: 'FEDVAL_ERR_DP_BUDGET_EXCEEDED' });
    expect(entries.find((e) => e.action === 'round.closed')).toMatchObject({ reason: null, details: { state: 'aggregated', contributions: 2, sites: ['site-a', 'site-b'] } });
    const received = entries.filter((e) => e.action === 'contribution.received');
    expect(received.map((e) => e.details)).toEqual([
      expect.objectContaining({ site: 'site-a', sha256: sha256Of(vectorA), bytes: vectorA.byteLength }),
      expect.objectContaining({ site: 'site-b', sha256: sha256Of(vectorB), bytes: vectorB.byteLength }),
    ]);
    expect(readFileSync(join(server.dataDir, 'audit.jsonl'), 'utf8')).not.toContain(SITE_TOKENS['site-a']);

    // The site side of the cross-check, written here with the hashes the test computed: the logs agree.
    const siteDir = mkdtempSync(join(tmpdir(), 'fedval-site-log-'));
    dirs.push(siteDir);
    const siteLog = AuditLog.open(join(siteDir, 'audit.jsonl'));
    siteLog.append({ actor: 'site:site-a', action: 'contribution.sent', object: r, details: { sha256: sha256Of(vectorA) } });
    siteLog.close();
    const coordinatorEntries = readAuditLog(join(server.dataDir, 'audit.jsonl')).entries;
    const siteEntries = readAuditLog(join(siteDir, 'audit.jsonl')).entries;
    expect(crossCheckRound({ 'site-a': siteEntries }, coordinatorEntries, roundId)).toEqual([
      { kind: 'site_log_missing', siteId: 'site-b', coordinatorSeq: received[1].seq },
    ]);

    // Read back over REST: paged entries and the verification, for auditors.
    const page = await server.api('GET', '/api/audit?after_seq=1&limit=2', undefined, 'auditor');
    expect(page.status).toBe(200);
    expect(page.body.entries.map((e: { seq: number }) => e.seq)).toEqual([2, 3]);
    expect(page.body).toMatchObject({ intact: true, next_after_seq: 3, head: { seq: entries.at(-1).seq, hash: entries.at(-1).hash } });
    expect((await server.api('GET', '/api/audit/verify', undefined, 'auditor')).body).toEqual({ ok: true, entries: entries.length, head: entries.at(-1).hash });
    expect((await server.api('GET', '/api/audit?limit=5000', undefined, 'auditor')).body.error.code).toBe('FEDVAL_ERR_COORD_INVALID_REQUEST');

    // An edited entry: the verification names it, in the REST API's snake_case.
    const file = join(server.dataDir, 'audit.jsonl');
    writeFileSync(file, readFileSync(file, 'utf8').replace('"actor":"coordinator"', '"actor":"someone"'));
    expect((await server.api('GET', '/api/audit/verify', undefined, 'auditor')).body).toEqual({
      ok: false,
      line: 1,
      seq: 1,
      reason: 'hash_mismatch',
      detail: expect.any(String),
      intact_entries: 0,
    });
    expect((await server.api('GET', '/api/audit', undefined, 'auditor')).body).toMatchObject({ intact: false, entries: [] });
  });

  it('refuses to start on a tampered trail, naming the audit code', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedval-coord-audit-'));
    dirs.push(dir);
    await createCoordinator(testConfig(dir)).close();
    const file = join(dir, 'audit.jsonl');
    writeFileSync(file, readFileSync(file, 'utf8').replace('"actor":"coordinator"', '"actor":"someone"'));
    let refused: unknown;
    try {
      createCoordinator(testConfig(dir));
    } catch (error) {
      refused = error;
    }
    expect(refused).toBeInstanceOf(CoordinatorError);
    expect((refused as CoordinatorError).code).toBe('FEDVAL_ERR_COORD_AUDIT');
    expect((refused as CoordinatorError).message).toContain('FEDVAL_ERR_TRUST_AUDIT_BROKEN');
  });
});

import { createHash } from 'node:crypto';
import { createAccumulator, createStatisticsLayout, finalizeMetrics, resolveMetricSpecInput } from '@fedval/metrics';
import type { StatisticsLayout } from '@fedval/metrics';
import { createMessage } from '@fedval/protocol';
import type { Message } from '@fedval/protocol';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openSqliteStore } from './storage/sqlite-store.ts';
import { ProtocolSite, startTestCoordinator, waitForRoundClosed } from './test-support/protocol-site.ts';
import type { RunningCoordinator } from './test-support/protocol-site.ts';

const SPEC = { task: 'binary', bins: 100, min_cell_size: 1 } as const;
let running: RunningCoordinator | undefined;
const sites: ProtocolSite[] = [];

afterEach(async () => {
  await Promise.all(sites.splice(0).map((site) => site.close()));
  await running?.stop();
  running = undefined;
});

async function start(limits: Record<string, number> = {}): Promise<RunningCoordinator> {
  running = await startTestCoordinator(limits);
  return running;
}
async function authenticated(wsUrl: string, siteId: string): Promise<ProtocolSite> {
  const site = await ProtocolSite.authenticated(wsUrl, siteId);
  sites.push(site);
  return site;
}
async function createStudy(server: RunningCoordinator, extra: Record<string, unknown> = {}): Promise<string> {
  const { status, body } = await server.api('POST', '/api/studies', { name: 'test study', score_column: 'score', metric_spec: SPEC, sites: ['site-a', 'site-b', 'site-c'], contribution: 'plaintext', ...extra });
  expect(status).toBe(201);
  return body.study_id as string;
}
async function startRound(server: RunningCoordinator, studyId: string): Promise<string> {
  const { status, body } = await server.api('POST', `/api/studies/${studyId}/rounds`);
  expect(status).toBe(201);
  expect(body.state).toBe('dispatched');
  return body.round_id as string;
}
async function takeTask(site: ProtocolSite): Promise<Message & { type: 'task' }> {
  const task = await site.next('task');
  if (task.type !== 'task') throw new Error('expected a task');
  return task;
}

/** Polls the round until the site has the status (its store write is done). */
async function waitForSiteStatus(server: RunningCoordinator, roundId: string, siteId: string, status: string): Promise<void> {
  for (let i = 0; i < 200; i += 1) {
    const { body } = await server.api('GET', `/api/rounds/${roundId}`);
    if (body.sites.some((site: { site_id: string; status: string }) => site.site_id === siteId && site.status === status)) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`${siteId} never became ${status}`);
}

/** One site's data: deterministic patients with scores at bin centres (k + 0.5)/B, so ties are exact. */
function sitePatients(seed: number, n: number, bins: number): { score: number; label: number }[] {
  let state = seed >>> 0;
  const next = (): number => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
  return Array.from({ length: n }, () => {
    const label = next() < 0.35 ? 1 : 0;
    const k = Math.min(bins - 1, Math.floor((0.25 * label + 0.75 * next()) * bins));
    return { score: (k + 0.5) / bins, label };
  });
}

function statistics(layout: StatisticsLayout, patients: { score: number; label: number }[]): Float64Array<ArrayBuffer> {
  const accumulator = createAccumulator(layout);
  for (const p of patients) accumulator.addBinary(p.score, p.label);
  return new Float64Array(accumulator.vector());
}

function sha256Of(vector: Float64Array): string {
  return createHash('sha256').update(new Uint8Array(vector.buffer, vector.byteOffset, vector.byteLength)).digest('hex');
}

function contribute(site: ProtocolSite, task: Message & { type: 'task' }, vector: Float64Array<ArrayBuffer>, sha = sha256Of(vector)): Message {
  const result = createMessage('task.result', { roundId: task.content.roundId, contribution: { kind: 'plaintext', vector }, contributionSha256: sha }, task.id);
  site.send(result);
  return result;
}

/** Mann–Whitney AUC by brute force over all positive–negative pairs, ties counting one half. */
function mannWhitneyAuc(patients: { score: number; label: number }[]): number {
  const pos = patients.filter((p) => p.label === 1).map((p) => p.score);
  const neg = patients.filter((p) => p.label === 0).map((p) => p.score);
  let wins = 0;
  for (const a of pos) for (const b of neg) wins += a > b ? 1 : a === b ? 0.5 : 0;
  return wins / (pos.length * neg.length);
}

describe('a full plaintext round', () => {
  it('dispatches to three sites, adds their vectors on arrival and releases the metrics of the sum', async () => {
    const server = await start();
    const [a, b, c] = await Promise.all(['site-a', 'site-b', 'site-c'].map((id) => authenticated(server.wsUrl, id)));
    const studyId = await createStudy(server);
    const roundId = await startRound(server, studyId);
    const layout = createStatisticsLayout(resolveMetricSpecInput(SPEC));
    const patients = [sitePatients(1, 400, 100), sitePatients(2, 250, 100), sitePatients(3, 600, 100)];
    const vectors = patients.map((p) => statistics(layout, p));

    const peers = [a, b, c] as ProtocolSite[];
    const tasks = await Promise.all(peers.map(takeTask));
    for (const task of tasks) {
      expect(task.content).toMatchObject({ studyId, roundId, scorer: { kind: 'score_column', columns: ['score'] }, contribution: { kind: 'plaintext' } });
      expect(task.content.metricSpec).toMatchObject({ task: 'binary', bins: 100, minCellSize: 1, threshold: 0.5 });
    }
    peers.forEach((peer, i) => peer.send(createMessage('task.accept', { roundId }, tasks[i]?.id)));
    await expect.poll(async () => (await server.api('GET', `/api/rounds/${roundId}`)).body.state).toBe('collecting');
    peers.forEach((peer, i) => contribute(peer, tasks[i] as Message & { type: 'task' }, vectors[i] as Float64Array<ArrayBuffer>));

    const round = await waitForRoundClosed(server.api, roundId);
    expect(round).toMatchObject({ round_id: roundId, study_id: studyId, state: 'aggregated', contributions: 3 });
    expect(round.sites).toEqual([
      { site_id: 'site-a', status: 'contributed' },
      { site_id: 'site-b', status: 'contributed' },
      { site_id: 'site-c', status: 'contributed' },
    ]);
    expect(round.reason).toBeUndefined();

    const expectedSum = new Float64Array(layout.length);
    for (const v of vectors) for (let i = 0; i < v.length; i += 1) expectedSum[i] = (expectedSum[i] as number) + (v[i] as number);
    expect(round.result.contributions).toBe(3);
    expect([...round.result.sites].sort()).toEqual(['site-a', 'site-b', 'site-c']);
    expect(round.result.metrics).toEqual(JSON.parse(JSON.stringify(finalizeMetrics(layout, expectedSum))));
    // Independent of the metrics package: pooled counts and the brute-force Mann–Whitney AUC.
    const pooled = patients.flat();
    expect(round.result.metrics.n).toBe(pooled.length);
    expect(round.result.metrics.positives).toBe(pooled.filter((p) => p.label === 1).length);
    expect(round.result.metrics.roc_auc).toBeCloseTo(mannWhitneyAuc(pooled), 12);

    // The stored aggregate is the element-wise sum; per-site rows hold only size and hash.
    await server.coordinator.close();
    const store = openSqliteStore(server.dataDir);
    expect([...((await store.getRoundAggregate(roundId)) ?? [])]).toEqual([...expectedSum]);
    const stored = await store.getRound(roundId);
    expect(stored?.sites.map((s) => [s.contributionBytes, s.contributionSha256])).toEqual(vectors.map((v) => [v.byteLength, sha256Of(v)]));
    await store.close();
  });

  it('carries a registered model bundle inline in the task, manifest first', async () => {
    const server = await start();
    const weights = 'weights-bytes';
    const manifestJson = JSON.stringify({ name: 'm', version: '2', format: 'tfjs', files: [{ path: 'model.json', sha256: createHash('sha256').update(weights).digest('hex') }] });
    const upload = await server.api('POST', '/api/models', { manifest_json: manifestJson, files: [{ path: 'model.json', data_base64: Buffer.from(weights).toString('base64') }] });
    expect(upload.status).toBe(201);
    const studyId = await createStudy(server, { score_column: undefined, model_id: upload.body.model_id, sites: ['site-a'] });
    const site = await authenticated(server.wsUrl, 'site-a');
    await startRound(server, studyId);
    const task = await takeTask(site);
    const scorer = task.content.scorer;
    expect(scorer.kind).toBe('model');
    if (scorer.kind !== 'model') return;
    expect(scorer.bundleSha256).toBe(createHash('sha256').update(manifestJson).digest('hex'));
    expect(scorer.files.map((f) => [f.path, Buffer.from(f.data).toString()])).toEqual([
      ['manifest.json', manifestJson],
      ['model.json', weights],
    ]);
  });

  it('sends the task to a site that connects after the round opened', async () => {
    const server = await start();
    const studyId = await createStudy(server, { sites: ['site-b'] });
    const roundId = await startRound(server, studyId);
    expect((await server.api('GET', `/api/rounds/${roundId}`)).body.sites).toEqual([{ site_id: 'site-b', status: 'pending' }]);
    const late = await authenticated(server.wsUrl, 'site-b');
    const task = await takeTask(late);
    expect(task.content.roundId).toBe(roundId);
    expect((await server.api('GET', `/api/rounds/${roundId}`)).body.sites).toEqual([{ site_id: 'site-b', status: 'dispatched' }]);
  });
});

describe('quorum, deadline and bad contributions', () => {
  it('fails with quorum_not_met when refusals leave too few contributions, and releases nothing', async () => {
    const server = await start();
    const peers = await Promise.all(['site-a', 'site-b', 'site-c'].map((id) => authenticated(server.wsUrl, id)));
    const studyId = await createStudy(server, { quorum: 3 });
    const roundId = await startRound(server, studyId);
    const layout = createStatisticsLayout(resolveMetricSpecInput(SPEC));
    const tasks = await Promise.all(peers.map(takeTask));
    contribute(peers[0] as ProtocolSite, tasks[0] as Message & { type: 'task' }, statistics(layout, sitePatients(4, 50, 100)));
    contribute(peers[1] as ProtocolSite, tasks[1] as Message & { type: 'task' }, statistics(layout, sitePatients(5, 50, 100)));
    peers[2]?.send(createMessage('task.refuse', { roundId, reason: { code: 'FEDVAL_ERR_AGENT_POLICY_MIN_COHORT', message: 'too few' } }, tasks[2]?.id));
    const round = await waitForRoundClosed(server.api, roundId);
    expect(round).toMatchObject({ state: 'failed', reason: 'quorum_not_met', contributions: 2 });
    expect(round.sites[2]).toEqual({ site_id: 'site-c', status: 'refused', code: 'FEDVAL_ERR_AGENT_POLICY_MIN_COHORT' });
    expect(round.result).toBeUndefined();
    await server.coordinator.close();
    const store = openSqliteStore(server.dataDir);
    expect(await store.getRoundAggregate(roundId)).toBeUndefined();
    await store.close();
  });

  it('closes at the deadline with the contributions in hand and cancels the outstanding site', async () => {
    const server = await start();
    const peers = await Promise.all(['site-a', 'site-b', 'site-c'].map((id) => authenticated(server.wsUrl, id)));
    const studyId = await createStudy(server, { quorum: 2, deadline_seconds: 1 });
    const roundId = await startRound(server, studyId);
    const layout = createStatisticsLayout(resolveMetricSpecInput(SPEC));
    const tasks = await Promise.all(peers.map(takeTask));
    const vectors = [statistics(layout, sitePatients(6, 80, 100)), statistics(layout, sitePatients(7, 90, 100))];
    contribute(peers[0] as ProtocolSite, tasks[0] as Message & { type: 'task' }, vectors[0] as Float64Array<ArrayBuffer>);
    contribute(peers[1] as ProtocolSite, tasks[1] as Message & { type: 'task' }, vectors[1] as Float64Array<ArrayBuffer>);
    peers[2]?.send(createMessage('task.accept', { roundId }, tasks[2]?.id));
    const cancel = await (peers[2] as ProtocolSite).next('task.cancel', 3000);
    expect(cancel).toMatchObject({ type: 'task.cancel', content: { roundId, reason: { code: 'FEDVAL_ERR_COORD_ROUND_DEADLINE' } } });
    const round = await waitForRoundClosed(server.api, roundId);
    expect(round).toMatchObject({ state: 'aggregated', contributions: 2 });
    expect(round.sites.map((s: { status: string }) => s.status)).toEqual(['contributed', 'contributed', 'accepted']);
    const sum = vectors[0]?.map((x, i) => x + (vectors[1]?.[i] as number)) as Float64Array;
    expect(round.result.metrics).toEqual(JSON.parse(JSON.stringify(finalizeMetrics(layout, sum))));
    // A result after the close is refused and changes nothing.
    const late = contribute(peers[2] as ProtocolSite, tasks[2] as Message & { type: 'task' }, statistics(layout, sitePatients(8, 10, 100)));
    expect(await (peers[2] as ProtocolSite).next('error')).toMatchObject({ replyTo: late.id, error: { code: 'FEDVAL_ERR_COORD_ROUND_NOT_OPEN' } });
    expect((await server.api('GET', `/api/rounds/${roundId}`)).body.result).toEqual(round.result);
  });

  it('counts a result sent twice byte for byte once, refuses other bytes from the same site', async () => {
    const server = await start();
    const peers = await Promise.all(['site-a', 'site-b'].map((id) => authenticated(server.wsUrl, id)));
    const studyId = await createStudy(server, { sites: ['site-a', 'site-b'] });
    const roundId = await startRound(server, studyId);
    const layout = createStatisticsLayout(resolveMetricSpecInput(SPEC));
    const tasks = await Promise.all(peers.map(takeTask));
    const first = statistics(layout, sitePatients(9, 70, 100));
    contribute(peers[0] as ProtocolSite, tasks[0] as Message & { type: 'task' }, first);
    contribute(peers[0] as ProtocolSite, tasks[0] as Message & { type: 'task' }, first);
    const other = contribute(peers[0] as ProtocolSite, tasks[0] as Message & { type: 'task' }, statistics(layout, sitePatients(12, 70, 100)));
    // The first error answers the other bytes: the same bytes again were taken silently.
    expect(await (peers[0] as ProtocolSite).next('error')).toMatchObject({ replyTo: other.id, error: { code: 'FEDVAL_ERR_COORD_DUPLICATE_CONTRIBUTION' } });
    const second = statistics(layout, sitePatients(10, 70, 100));
    contribute(peers[1] as ProtocolSite, tasks[1] as Message & { type: 'task' }, second);
    const round = await waitForRoundClosed(server.api, roundId);
    expect(round).toMatchObject({ state: 'aggregated', contributions: 2 });
    expect(round.result.metrics.n).toBe(140);
  });

  it('marks an invalid contribution and completes the round with the others', async () => {
    const server = await start();
    const peers = await Promise.all(['site-a', 'site-b', 'site-c'].map((id) => authenticated(server.wsUrl, id)));
    const studyId = await createStudy(server, { quorum: 1 });
    const roundId = await startRound(server, studyId);
    const layout = createStatisticsLayout(resolveMetricSpecInput(SPEC));
    const tasks = await Promise.all(peers.map(takeTask));
    const good = statistics(layout, sitePatients(11, 120, 100));
    const short = new Float64Array(layout.length - 1);
    const wrongLength = contribute(peers[0] as ProtocolSite, tasks[0] as Message & { type: 'task' }, short);
    const fractional = new Float64Array(good);
    fractional[3] = 0.5;
    const wrongHash = contribute(peers[1] as ProtocolSite, tasks[1] as Message & { type: 'task' }, fractional, sha256Of(good));
    contribute(peers[2] as ProtocolSite, tasks[2] as Message & { type: 'task' }, good);
    expect(await (peers[0] as ProtocolSite).next('error')).toMatchObject({ replyTo: wrongLength.id, error: { code: 'FEDVAL_ERR_COORD_INVALID_CONTRIBUTION' } });
    expect(await (peers[1] as ProtocolSite).next('error')).toMatchObject({ replyTo: wrongHash.id, error: { code: 'FEDVAL_ERR_COORD_CONTRIBUTION_HASH' } });
    const round = await waitForRoundClosed(server.api, roundId);
    expect(round).toMatchObject({ state: 'aggregated', contributions: 1 });
    expect(round.sites).toEqual([
      { site_id: 'site-a', status: 'invalid', code: 'FEDVAL_ERR_COORD_INVALID_CONTRIBUTION' },
      { site_id: 'site-b', status: 'invalid', code: 'FEDVAL_ERR_COORD_CONTRIBUTION_HASH' },
      { site_id: 'site-c', status: 'contributed' },
    ]);
    expect(round.result.metrics).toEqual(JSON.parse(JSON.stringify(finalizeMetrics(layout, good))));
  });

  it('refuses a second open round of the same study; a stopped coordinator leaves it open and the next start resumes it to the same result', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'fedval-resume-'));
    try {
      const server = await startTestCoordinator({}, dataDir);
      const studyId = await createStudy(server, { sites: ['site-a', 'site-b'] });
      const roundId = await startRound(server, studyId);
      const again = await server.api('POST', `/api/studies/${studyId}/rounds`);
      expect(again).toMatchObject({ status: 409, body: { error: { code: 'FEDVAL_ERR_COORD_ROUND_IN_PROGRESS' } } });
      const layout = createStatisticsLayout(resolveMetricSpecInput(SPEC));
      const vectors = [statistics(layout, sitePatients(21, 60, 100)), statistics(layout, sitePatients(22, 50, 100))];
      const siteA = await authenticated(server.wsUrl, 'site-a');
      contribute(siteA, await takeTask(siteA), vectors[0]!);
      await waitForSiteStatus(server, roundId, 'site-a', 'contributed');
      await server.stop();
      const stored = openSqliteStore(dataDir);
      expect(await stored.getRound(roundId)).toMatchObject({ state: 'collecting', reason: null });
      await stored.close();

      // The next start resumes the round: the plaintext seam kept no vector, so site-a is asked again and re-sends the
      // same bytes; site-b gets the task it never had; the result is the sum of the two, counted once each.
      running = await startTestCoordinator({}, dataDir);
      const peers = await Promise.all(['site-a', 'site-b'].map((id) => authenticated(running!.wsUrl, id)));
      const tasks = await Promise.all(peers.map(takeTask));
      expect(tasks.map((task) => task.content.roundId)).toEqual([roundId, roundId]);
      contribute(peers[0]!, tasks[0]!, vectors[0]!);
      contribute(peers[0]!, tasks[0]!, vectors[0]!);
      contribute(peers[1]!, tasks[1]!, vectors[1]!);
      const round = await waitForRoundClosed(running.api, roundId);
      expect(round).toMatchObject({ state: 'aggregated', contributions: 2 });
      const sum = vectors[0]!.map((x, i) => x + vectors[1]![i]!);
      expect(round.result.metrics).toEqual(JSON.parse(JSON.stringify(finalizeMetrics(layout, sum))));
    } finally {
      await running?.stop();
      running = undefined;
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('closes at once, on the next start, a round whose deadline passed while the coordinator was down', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'fedval-resume-'));
    try {
      const server = await startTestCoordinator({}, dataDir);
      const studyId = await createStudy(server, { sites: ['site-a', 'site-b'], deadline_seconds: 1 });
      const roundId = await startRound(server, studyId);
      const deadlineAt = Date.parse((await server.api('GET', `/api/rounds/${roundId}`)).body.deadline_at);
      await server.stop();
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, deadlineAt - Date.now() + 50)));
      running = await startTestCoordinator({}, dataDir);
      // Nothing was received (the plaintext seam stores no vector): below quorum, it fails, at once, not a deadline later.
      const round = (await running.api('GET', `/api/rounds/${roundId}`)).body;
      expect(round).toMatchObject({ state: 'failed', reason: 'quorum_not_met' });
      expect(Date.parse(round.closed_at)).toBeGreaterThanOrEqual(deadlineAt);
    } finally {
      await running?.stop();
      running = undefined;
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('answers task messages for unknown rounds with ROUND_NOT_OPEN without closing the socket', async () => {
    const server = await start();
    const site = await authenticated(server.wsUrl, 'site-a');
    const accept = createMessage('task.accept', { roundId: 'no-such-round' });
    site.send(accept);
    expect(await site.next('error')).toMatchObject({ replyTo: accept.id, error: { code: 'FEDVAL_ERR_COORD_ROUND_NOT_OPEN' } });
    expect(site.socket.readyState).toBe(site.socket.OPEN);
  });
});

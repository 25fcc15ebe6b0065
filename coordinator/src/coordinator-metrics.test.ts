import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAccumulator, createStatisticsLayout, resolveMetricSpecInput } from '@fedval/metrics';
import { createMessage } from '@fedval/protocol';
import type { AuditEntry, AuditEvent } from '@fedval/trust';
import { afterEach, describe, expect, it } from 'vitest';
import { parseCoordinatorConfig } from './config.ts';
import { CoordinatorMetrics, MAX_CODE_LABELS, OTHER_CODE } from './coordinator-metrics.ts';
import { createCoordinator } from './server.ts';
import { API_TOKENS, ProtocolSite, startTestCoordinator, testConfig, waitForRoundClosed } from './test-support/protocol-site.ts';
import type { RunningCoordinator } from './test-support/protocol-site.ts';

/** The samples of one series as prom-client reports them: labels → value. */
async function samples(metrics: CoordinatorMetrics, name: string): Promise<{ labels: Record<string, string | number>; value: number; metricName?: string }[]> {
  const found = (await metrics.registry.getMetricsAsJSON()).find((metric) => metric.name === name);
  if (!found) throw new Error(`no series ${name}`);
  return found.values as never;
}

function recorder(events: AuditEvent[]): (event: AuditEvent) => AuditEntry {
  return (event) => {
    events.push(event);
    return { seq: events.length } as unknown as AuditEntry;
  };
}

describe('coordinator metrics from the audit trail', () => {
  it('counts rounds, contributions and refusals by code as the trail records them, and bounds the code label', async () => {
    const metrics = new CoordinatorMetrics({ defaultMetrics: false });
    const trail: AuditEvent[] = [];
    const record = metrics.observeAudit(recorder(trail));
    record({ actor: 'coordinator', action: 'round.started', object: 'round:r1' });
    record({ actor: 'site:a', action: 'contribution.received', object: 'round:r1' });
    record({ actor: 'site:b', action: 'contribution.received', object: 'round:r1' });
    record({ actor: 'site:c', action: 'contribution.invalid', object: 'round:r1', reason: 'FEDVAL_ERR_COORD_CONTRIBUTION_HASH' });
    record({ actor: 'site:d', action: 'task.refused', object: 'round:r1', reason: 'FEDVAL_ERR_AGENT_POLICY_MIN_SITES' });
    record({ actor: 'site:e', action: 'task.refused', object: 'round:r1', reason: 'site-e says <script>' }); // not a code
    record({ actor: 'coordinator', action: 'round.closed', object: 'round:r1', details: { state: 'aggregated' } });
    record({ actor: 'coordinator', action: 'round.started', object: 'round:r2' });
    record({ actor: 'coordinator', action: 'round.closed', object: 'round:r2', details: { state: 'failed' } });
    record({ actor: 'coordinator', action: 'round.started', object: 'round:r3' });
    expect(trail).toHaveLength(10); // the recorder underneath saw every event, unchanged

    const rounds = Object.fromEntries((await samples(metrics, 'fedval_coordinator_rounds')).map((s) => [s.labels.state, s.value]));
    expect(rounds).toEqual({ open: 1, aggregated: 1, released: 0, failed: 1 });
    expect((await samples(metrics, 'fedval_coordinator_rounds_started_total'))[0]!.value).toBe(3);
    expect((await samples(metrics, 'fedval_coordinator_contributions_accepted_total'))[0]!.value).toBe(2);
    expect(await samples(metrics, 'fedval_coordinator_contributions_refused_total')).toEqual([expect.objectContaining({ labels: { code: 'FEDVAL_ERR_COORD_CONTRIBUTION_HASH' }, value: 1 })]);
    const refusedTasks = Object.fromEntries((await samples(metrics, 'fedval_coordinator_tasks_refused_total')).map((s) => [s.labels.code, s.value]));
    expect(refusedTasks).toEqual({ FEDVAL_ERR_AGENT_POLICY_MIN_SITES: 1, [OTHER_CODE]: 1 });

    // The release of r1 is observed once; releasing again, or an unknown round, changes nothing.
    record({ actor: 'role:privacy_officer:pat', action: 'result.released', object: 'round:r1' });
    record({ actor: 'role:privacy_officer:pat', action: 'result.released', object: 'round:r1' });
    record({ actor: 'role:privacy_officer:pat', action: 'result.released', object: 'round:nope' });
    const released = await samples(metrics, 'fedval_coordinator_round_aggregated_to_released_seconds');
    expect(released.find((s) => s.metricName === 'fedval_coordinator_round_aggregated_to_released_seconds_count')!.value).toBe(1);
    const after = Object.fromEntries((await samples(metrics, 'fedval_coordinator_rounds')).map((s) => [s.labels.state, s.value]));
    expect(after).toEqual({ open: 1, aggregated: 0, released: 1, failed: 1 });

    // A site sending ever new codes: the label keeps at most MAX_CODE_LABELS values, the rest count as other.
    for (let i = 0; i < MAX_CODE_LABELS + 10; i += 1) record({ actor: 'site:x', action: 'task.refused', object: 'round:r3', reason: `FEDVAL_ERR_MADE_UP_${i}` });
    const codes = await samples(metrics, 'fedval_coordinator_tasks_refused_total');
    expect(codes).toHaveLength(MAX_CODE_LABELS + 1); // 64 codes (FEDVAL_ERR_AGENT_POLICY_MIN_SITES and 63 made up) and other
    expect(codes.find((s) => s.labels.code === OTHER_CODE)!.value).toBe(1 + 11); // the non-code, and 74 − 63 made-up codes
  });

  it('counts nothing when the trail refuses the event', async () => {
    const metrics = new CoordinatorMetrics({ defaultMetrics: false });
    const record = metrics.observeAudit(() => {
      throw new Error('disk full');
    });
    expect(() => record({ actor: 'site:a', action: 'contribution.received', object: 'round:r1' })).toThrow('disk full');
    expect((await samples(metrics, 'fedval_coordinator_contributions_accepted_total'))[0]!.value).toBe(0);
  });
});

describe('GET /metrics across a restart', () => {
  let running: RunningCoordinator | undefined;
  let site: ProtocolSite | undefined;
  afterEach(async () => {
    await site?.close();
    await running?.stop();
    site = undefined;
    running = undefined;
  });

  const scrape = async (url: string): Promise<string> => (await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${API_TOKENS.metrics}` } })).text();

  it('reports the rounds a previous run left in the store, and counts events of this run only', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedval-metrics-'));
    running = await startTestCoordinator({}, dir);
    site = await ProtocolSite.authenticated(running.wsUrl, 'site-a');
    const spec = { task: 'binary', bins: 10, min_cell_size: 1 } as const;
    const study = await running.api('POST', '/api/studies', { name: 'restart', score_column: 'score', metric_spec: spec, sites: ['site-a'], contribution: 'plaintext' });
    const round = await running.api('POST', `/api/studies/${study.body.study_id}/rounds`);
    const task = await site.next('task');
    if (task.type !== 'task') throw new Error('expected a task');
    site.send(createMessage('task.accept', { roundId: task.content.roundId }, task.id));
    const accumulator = createAccumulator(createStatisticsLayout(resolveMetricSpecInput(spec)));
    accumulator.addBinary(0.25, 1);
    const vector = new Float64Array(accumulator.vector());
    const sha = createHash('sha256').update(new Uint8Array(vector.buffer)).digest('hex');
    site.send(createMessage('task.result', { roundId: task.content.roundId, contribution: { kind: 'plaintext', vector }, contributionSha256: sha }, task.id));
    expect((await waitForRoundClosed(running.api, round.body.round_id)).state).toBe('aggregated');
    const first = await scrape(running.url);
    expect(first).toMatch(/^fedval_coordinator_contributions_accepted_total 1$/m);
    expect(first).toMatch(/^fedval_coordinator_rounds\{state="aggregated"\} 1$/m);
    await site.close();
    site = undefined;
    await running.stop();

    running = await startTestCoordinator({}, dir);
    const second = await scrape(running.url);
    expect(second).toMatch(/^fedval_coordinator_rounds\{state="aggregated"\} 1$/m);
    expect(second).toMatch(/^fedval_coordinator_rounds\{state="open"\} 0$/m);
    expect(second).toMatch(/^fedval_coordinator_rounds_started_total 0$/m);
    expect(second).toMatch(/^fedval_coordinator_contributions_accepted_total 0$/m);
    expect(second).toMatch(/^fedval_coordinator_sites_connected 0$/m);
  });

  it("refuses a metrics token at the web console's login: a scraper's token is not a person's", async () => {
    running = await startTestCoordinator();
    const login = (token: string) =>
      fetch(`${running!.url}/console/login`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `token=${encodeURIComponent(token)}` });
    const scraper = await login(API_TOKENS.metrics);
    expect(scraper.status).toBe(401);
    expect(await scraper.text()).toContain('FEDVAL_ERR_COORD_CONSOLE_LOGIN_REFUSED');
    expect((await login(API_TOKENS.sponsor)).status).toBe(303);
  });

  it('serves no /metrics with metrics.enabled: false', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedval-metrics-off-'));
    const base = testConfig(dir);
    const config = parseCoordinatorConfig({ ...base, listen: { ...base.listen }, sites: [...base.sites], api_tokens: [...base.api_tokens], limits: { ...base.limits }, metrics: { enabled: false } }, { baseDir: dir });
    expect(config.metrics.enabled).toBe(false);
    expect(testConfig(dir).metrics.enabled).toBe(true); // the default
    const coordinator = createCoordinator(config);
    try {
      const { url } = await coordinator.start();
      const response = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${API_TOKENS.metrics}` } });
      expect(response.status).toBe(404);
    } finally {
      await coordinator.close();
    }
  });
});

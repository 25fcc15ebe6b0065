// End to end: after a real round (a real coordinator process, real agents, a site that refuses the task and a raw site
// whose contribution does not match its hash), GET /metrics serves the documented series with the round's numbers and
// no site-level value, and every line the coordinator and the agents wrote is a JSON log line of the committed schema.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { createMessage } from '@fedval/protocol';
import { readAuditLog } from '@fedval/trust';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDeployment, waitForRoundClosed, waitForSites } from '../helpers/deployment.ts';
import type { Deployment } from '../helpers/deployment.ts';
import { gbsgScoreLines } from '../helpers/gbsg-scores.ts';
import { RawSite } from '../helpers/raw-site.ts';
import { REPO_ROOT } from '../helpers/run-cli.ts';

const CANARY = 'CANARY-MRN-5521';
const AGENTS = ['site-0', 'site-1', 'site-2'];
/** Declines plaintext tasks under its policy. */
const PICKY = 'site-picky';
/** A hand-driven site whose result does not match its SHA-256. */
const RAW = 'site-raw';

/** The series of the README's "Metrics" table and their types, written out here (not read from the code). */
const DOCUMENTED_SERIES: Record<string, string> = {
  fedval_coordinator_sites_connected: 'gauge',
  fedval_coordinator_rounds: 'gauge',
  fedval_coordinator_rounds_started_total: 'counter',
  fedval_coordinator_contributions_accepted_total: 'counter',
  fedval_coordinator_contributions_refused_total: 'counter',
  fedval_coordinator_tasks_refused_total: 'counter',
  fedval_coordinator_round_dispatch_to_aggregated_seconds: 'histogram',
  fedval_coordinator_round_aggregated_to_released_seconds: 'histogram',
  fedval_coordinator_received_bytes_total: 'counter',
  fedval_coordinator_sent_bytes_total: 'counter',
  fedval_coordinator_site_reads_paused_total: 'counter',
  fedval_coordinator_frames_queued_total: 'counter',
  process_cpu_seconds_total: 'counter',
  process_resident_memory_bytes: 'gauge',
  nodejs_eventloop_lag_seconds: 'gauge',
  nodejs_heap_size_used_bytes: 'gauge',
};

interface Scrape {
  text: string;
  types: Map<string, string>;
  /** The value of a sample: name and exact labels. */
  value(name: string, labels?: Record<string, string>): number | undefined;
}

/** Parses the Prometheus text format (0.0.4): `# TYPE` lines and `name{labels} value` samples. */
function parseScrape(text: string): Scrape {
  const types = new Map<string, string>();
  const samples: { name: string; labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) types.set(type[1]!, type[2]!);
    if (line === '' || line.startsWith('#')) continue;
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!sample) throw new Error(`not a sample line: ${line}`);
    const labels = Object.fromEntries([...(sample[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1]!, m[2]!]));
    samples.push({ name: sample[1]!, labels, value: Number(sample[3]) });
  }
  return {
    text,
    types,
    value(name, labels = {}) {
      const found = samples.find((s) => s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === JSON.stringify(Object.entries(labels).sort()));
      return found?.value;
    },
  };
}

describe('observability of a real round', () => {
  let deployment: Deployment;
  let raw: RawSite;
  const scores: string[] = [];
  let heartbeat: NodeJS.Timeout | undefined;

  const scrape = async (token: string | null): Promise<{ status: number; type: string | null; text: string }> => {
    const response = await fetch(`${deployment.url}/metrics`, { headers: token === null ? {} : { authorization: `Bearer ${token}` } });
    return { status: response.status, type: response.headers.get('content-type'), text: await response.text() };
  };

  beforeAll(async () => {
    deployment = await startDeployment([...AGENTS, PICKY, RAW], { captureOutput: true, logLevel: 'info', minReleaseSites: 3 });
    const lines = gbsgScoreLines();
    const parts = [lines.slice(0, 230), lines.slice(230, 460), lines.slice(460), lines.slice(0, 50)];
    const files = parts.map((part, i) => {
      const path = join(deployment.dir, `observed-${i}.csv`);
      writeFileSync(path, `mrn,status,score\n${part.map((line, j) => `${CANARY}-${i}-${j},${line}`).join('\n')}\n`);
      for (const line of part) scores.push(line.split(',')[1]!);
      return path;
    });
    AGENTS.forEach((site, i) => deployment.startAgent(site, files[i]!, { label: 'status' }));
    // The picky site also serves its own metrics on a local port (any free one; the agent logs the URL).
    deployment.startAgent(PICKY, files[3]!, { label: 'status', policy: 'allowed_contributions: [bfv]', extraYaml: ['metrics: { port: 0 }'] });
    raw = new RawSite(deployment.wsUrl);
    expect((await raw.authenticateWithToken(RAW, deployment.tokens.get(RAW)!)).type).toBe('welcome');
    heartbeat = setInterval(() => raw.socket.readyState === raw.socket.OPEN && raw.send(createMessage('heartbeat', {})), 2000);
    await waitForSites(deployment, [...AGENTS, PICKY, RAW]);
  }, 60_000);

  afterAll(async () => {
    clearInterval(heartbeat);
    raw?.close();
    await deployment?.stop();
  });

  it('serves /metrics to the metrics token only, with the round counted: contributions, refusals by code, states, latency, traffic', async () => {
    expect((await scrape(null)).status).toBe(401);
    expect((await scrape(deployment.apiTokens.sponsor)).status).toBe(403);
    expect((await deployment.api('GET', '/api/studies', undefined, 'metrics')).status).toBe(403);
    const before = parseScrape((await scrape(deployment.apiTokens.metrics)).text);
    expect(before.value('fedval_coordinator_sites_connected')).toBe(5);

    const study = await deployment.api('POST', '/api/studies', { name: 'observed', score_column: 'score', metric_spec: { bins: 20, threshold: 0.3 }, sites: [...AGENTS, PICKY, RAW], quorum: 3, contribution: 'plaintext' });
    expect(study.status, JSON.stringify(study.body)).toBe(201);
    const startedAt = Date.now();
    const round = await deployment.api('POST', `/api/studies/${study.body.study_id}/rounds`);
    expect(round.status, JSON.stringify(round.body)).toBe(201);
    const task = await raw.next((m) => m.type === 'task');
    if (task.type !== 'task') throw new Error('shape');
    raw.send(createMessage('task.accept', { roundId: task.content.roundId }));
    raw.send(createMessage('task.result', { roundId: task.content.roundId, contribution: { kind: 'plaintext', vector: new Float64Array(4) }, contributionSha256: '0'.repeat(64) }));
    const closed = await waitForRoundClosed(deployment, round.body.round_id as string);
    const elapsedSeconds = (Date.now() - startedAt) / 1000;
    expect(closed).toMatchObject({ state: 'aggregated', contributions: 3 });
    expect(closed.sites).toEqual(expect.arrayContaining([
      expect.objectContaining({ site_id: PICKY, status: 'refused', code: 'FEDVAL_ERR_AGENT_POLICY_CONTRIBUTION' }),
      expect.objectContaining({ site_id: RAW, status: 'invalid', code: 'FEDVAL_ERR_COORD_CONTRIBUTION_HASH' }),
    ]));

    const response = await scrape(deployment.apiTokens.metrics);
    expect(response.status).toBe(200);
    expect(response.type).toMatch(/^text\/plain; version=0\.0\.4/);
    const after = parseScrape(response.text);
    for (const [name, type] of Object.entries(DOCUMENTED_SERIES)) expect(after.types.get(name), name).toBe(type);
    expect(after.value('fedval_coordinator_sites_connected')).toBe(5);
    expect(after.value('fedval_coordinator_rounds_started_total')).toBe(1);
    expect(after.value('fedval_coordinator_contributions_accepted_total')).toBe(AGENTS.length);
    expect(after.value('fedval_coordinator_tasks_refused_total', { code: 'FEDVAL_ERR_AGENT_POLICY_CONTRIBUTION' })).toBe(1);
    expect(after.value('fedval_coordinator_contributions_refused_total', { code: 'FEDVAL_ERR_COORD_CONTRIBUTION_HASH' })).toBe(1);
    expect(after.value('fedval_coordinator_rounds', { state: 'open' })).toBe(0);
    expect(after.value('fedval_coordinator_rounds', { state: 'aggregated' })).toBe(1);
    expect(after.value('fedval_coordinator_rounds', { state: 'failed' })).toBe(0);
    expect(after.value('fedval_coordinator_round_dispatch_to_aggregated_seconds_count')).toBe(1);
    const latency = after.value('fedval_coordinator_round_dispatch_to_aggregated_seconds_sum')!;
    expect(latency).toBeGreaterThan(0);
    expect(latency).toBeLessThanOrEqual(elapsedSeconds);
    expect(after.value('fedval_coordinator_round_aggregated_to_released_seconds_count')).toBe(0); // plaintext: nothing to release
    // Traffic grew by at least the three plaintext contributions the sites sent (and the task frames the coordinator sent).
    const received = after.value('fedval_coordinator_received_bytes_total')! - before.value('fedval_coordinator_received_bytes_total')!;
    const sent = after.value('fedval_coordinator_sent_bytes_total')! - before.value('fedval_coordinator_sent_bytes_total')!;
    const received3 = readAuditLog(join(deployment.coordinatorDataDir, 'audit.jsonl')).entries.filter((e) => e.action === 'contribution.received');
    expect(received3).toHaveLength(AGENTS.length);
    const contributionBytes = received3.reduce((sum, e) => sum + (e.details.bytes as number), 0);
    expect(contributionBytes).toBeGreaterThan(0);
    expect(received).toBeGreaterThanOrEqual(contributionBytes);
    expect(received).toBeGreaterThan(0);
    expect(sent).toBeGreaterThan(0);
    expect(after.value('process_resident_memory_bytes')).toBeGreaterThan(0);

    // No site-level value: no site id anywhere, no privacy figure.
    for (const site of [...AGENTS, PICKY, RAW]) expect(response.text).not.toContain(site);
    expect(response.text).not.toMatch(/epsilon|rho/i);
  }, 90_000);

  it("serves an agent's metrics on 127.0.0.1 when its site.yaml asks, and opens no port otherwise", async () => {
    const announced = deployment.output.filter(({ line }) => line.includes('"event":"metrics.listening"')).map(({ process, line }) => ({ process, url: (JSON.parse(line) as { url: string }).url }));
    expect(announced.map((a) => a.process)).toEqual([PICKY]); // off by default: the other agents opened nothing
    const url = announced[0]!.url;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    expect((await fetch(url.replace(/\/metrics$/, '/other'))).status).toBe(404);
    const response = await fetch(url);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const agent = parseScrape(await response.text());
    expect(agent.types.get('fedval_agent_connected')).toBe('gauge');
    expect(agent.value('fedval_agent_connected')).toBe(1);
    expect(agent.value('fedval_agent_connections_total')).toBe(1);
    expect(agent.value('fedval_agent_tasks_total', { outcome: 'refused' })).toBe(1);
    expect(agent.value('fedval_agent_tasks_refused_total', { code: 'FEDVAL_ERR_AGENT_POLICY_CONTRIBUTION' })).toBe(1);
    expect(agent.value('process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(agent.text).not.toContain(CANARY);
    expect(agent.text).not.toMatch(/epsilon|rho/i);
  }, 30_000);

  it('writes nothing but JSON log lines of the committed schema on stdout and stderr, and no row-level value', async () => {
    await deployment.stop(); // the shutdown lines too
    const ajv = new Ajv2020({ strict: true, validateFormats: false });
    const validate = ajv.compile(JSON.parse(readFileSync(join(REPO_ROOT, 'packages/command-line/log-line.schema.json'), 'utf8')));
    expect(deployment.output.length).toBeGreaterThan(10);
    const byProcess = new Map<string, Record<string, unknown>[]>();
    for (const { process, stream, line } of deployment.output) {
      let parsed: Record<string, unknown>;
      try {
        parsed = JSON.parse(line) as Record<string, unknown>;
      } catch {
        throw new Error(`${process} ${stream}: not a JSON line: ${line}`);
      }
      expect(validate(parsed), `${process} ${stream}: ${line}: ${ajv.errorsText(validate.errors)}`).toBe(true);
      expect(line).not.toContain(CANARY);
      for (const score of scores) expect(line, `${process} ${stream} carries a score`).not.toMatch(new RegExp(`(?<![0-9.])${score.replace('.', '\\.')}(?![0-9])`));
      byProcess.set(process, [...(byProcess.get(process) ?? []), parsed]);
    }
    const coordinator = byProcess.get('coordinator') ?? [];
    expect(coordinator.every((line) => line.component === 'fedval-coordinator')).toBe(true);
    expect(coordinator.some((line) => line.event === 'listening')).toBe(true);
    expect(coordinator.some((line) => typeof line.reqId === 'string')).toBe(true); // REST requests are logged
    for (const site of [...AGENTS, PICKY]) {
      const agent = byProcess.get(site) ?? [];
      expect(agent.length, site).toBeGreaterThan(0);
      expect(agent.every((line) => line.component === 'fedval-agent' && line.siteId === site), site).toBe(true);
    }
    expect(byProcess.get(PICKY)!.some((line) => line.code === 'FEDVAL_ERR_AGENT_POLICY_CONTRIBUTION')).toBe(true);
  }, 60_000);
});

// The agent is the site's guardian: garbage, malformed tasks and tampered model bundles from the coordinator
// side are refused with coded errors, nothing is written outside its data directory, and it reconnects.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { planBfvParameters } from '@fedval/he';
import { resolveMetricSpec } from '@fedval/metrics';
import { createMessage } from '@fedval/protocol';
import type { Message } from '@fedval/protocol';
import { Packr } from 'msgpackr';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/run-cli.ts';
import { ScriptedCoordinator } from '../helpers/scripted-coordinator.ts';

const dir = mkdtempSync(join(tmpdir(), 'fedval-hostile-'));

/**
 * A task message packed as a hostile coordinator may pack it, without the codec's validation
 * (same msgpackr options as @fedval/protocol's codec).
 */
function rawTask(roundId: string, overrides: Record<string, unknown>): Uint8Array {
  const { v, id, sentAt, content } = task(roundId) as Extract<Message, { type: 'task' }>;
  return new Packr({ moreTypes: true, useRecords: false, structuredClone: false, mapsAsObjects: true }).pack({ v, id, sentAt, type: 'task', content: { ...content, ...overrides } });
}

function task(roundId: string, overrides: Record<string, unknown> = {}): Message {
  return createMessage('task', {
    studyId: 'study-1',
    roundId,
    metricSpec: resolveMetricSpec({ task: 'binary', bins: 100 }),
    scorer: { kind: 'score_column', columns: ['score'] },
    contribution: { kind: 'plaintext' },
    deadline: Date.now() + 60_000,
    ...overrides,
  } as never);
}

describe('site agent against a hostile coordinator', () => {
  const coordinator = new ScriptedCoordinator();
  let agent: ChildProcess | undefined;
  afterAll(async () => {
    agent?.kill('SIGKILL');
    await coordinator.close();
  });

  it('refuses garbage, bad tasks and tampered bundles with coded errors, then serves an honest task', async () => {
    const rows = Array.from({ length: 50 }, (_, i) => `${(i % 10) / 10 + 0.05},${i % 3 === 0 ? 1 : 0}`);
    writeFileSync(join(dir, 'data.csv'), `score,status\n${rows.join('\n')}\n`);
    writeFileSync(
      join(dir, 'site.yaml'),
      [
        `coordinator: ws://127.0.0.1:${coordinator.port}/ws`,
        'site_id: site-h',
        'token: hostile-test-token-0123456789',
        'data: { path: ./data.csv, label: { column: status } }',
        'data_dir: ./state',
        'policy: { allowed_contributions: [plaintext], require_dp: false }',
        'limits: { reconnect_initial_ms: 100, reconnect_max_ms: 400 }',
      ].join('\n'),
    );
    agent = spawn(process.execPath, ['site-agent/src/main.ts', 'start', '--config', join(dir, 'site.yaml')], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let log = '';
    agent.stderr!.on('data', (chunk: Buffer) => (log += chunk.toString()));
    const hello = await coordinator.next((m) => m.type === 'hello');
    expect(hello.type === 'hello' && hello.content.siteId).toBe('site-h');

    coordinator.send(new Uint8Array([0xc1, 0xff, 0x00]));
    const garbage = await coordinator.next((m) => m.type === 'error');
    expect(garbage.type === 'error' && garbage.error.code).toBe('FEDVAL_ERR_PROTO_MALFORMED');

    // A metric spec or BFV plan that breaks its owner's schema is refused when the task is decoded, naming the field.
    coordinator.send(rawTask('r-spec', { metricSpec: { task: 'binary', bins: -5 } }));
    const badSpec = await coordinator.next((m) => m.type === 'error');
    expect(badSpec.type === 'error' && badSpec.error.code).toBe('FEDVAL_ERR_PROTO_INVALID_MESSAGE');
    expect(badSpec.type === 'error' && badSpec.error.message).toContain('content.metricSpec.bins');

    coordinator.send(rawTask('r-plan', { contribution: { kind: 'bfv', plan: {}, publicKey: new Uint8Array(4) } }));
    const badPlan = await coordinator.next((m) => m.type === 'error');
    expect(badPlan.type === 'error' && badPlan.error.message).toContain('content.contribution.plan');

    // A valid plan, but this site allows plaintext contributions only: refused by its policy.
    const plan = planBfvParameters({ vectorLength: 100, maxSites: 3, maxAbsPerSite: 1000 });
    coordinator.send(task('r-he', { contribution: { kind: 'bfv', plan, publicKey: new Uint8Array(4) } }));
    const policy = await coordinator.next((m) => m.type === 'task.refuse');
    expect(policy.type === 'task.refuse' && policy.content.reason.code).toBe('FEDVAL_ERR_AGENT_POLICY_CONTRIBUTION');

    const manifest = new TextEncoder().encode('{"name":"x"}');
    const sha = createHash('sha256').update(manifest).digest('hex');
    coordinator.send(task('r-hash', { scorer: { kind: 'model', bundleSha256: 'f'.repeat(64), files: [{ path: 'manifest.json', data: manifest }] } }));
    const hash = await coordinator.next((m) => m.type === 'task.refuse');
    expect(hash.type === 'task.refuse' && hash.content.reason.code).toBe('FEDVAL_ERR_AGENT_MODEL_HASH');

    coordinator.send(
      task('r-escape', {
        scorer: { kind: 'model', bundleSha256: sha, files: [{ path: 'manifest.json', data: manifest }, { path: '../../../escaped.txt', data: new Uint8Array([1]) }] },
      }),
    );
    const escape = await coordinator.next((m) => m.type === 'task.refuse');
    expect(escape.type === 'task.refuse' && escape.content.reason.code).toBe('FEDVAL_ERR_AGENT_MODEL');
    expect(existsSync(join(dir, 'escaped.txt'))).toBe(false);
    expect(existsSync(join(dir, '..', 'escaped.txt'))).toBe(false);

    coordinator.send(task('r-late', { deadline: Date.now() - 1 }));
    const late = await coordinator.next((m) => m.type === 'task.refuse');
    expect(late.type === 'task.refuse' && late.content.reason.code).toBe('FEDVAL_ERR_AGENT_DEADLINE');

    coordinator.send(task('r-ok'));
    const result = await coordinator.next((m) => m.type === 'task.result');
    if (result.type !== 'task.result' || result.content.contribution.kind !== 'plaintext') throw new Error('expected a plaintext result');
    const vector = result.content.contribution.vector;
    expect(createHash('sha256').update(new Uint8Array(vector.buffer, vector.byteOffset, vector.byteLength)).digest('hex')).toBe(
      result.content.contributionSha256,
    );
    expect(vector.reduce((sum, v) => sum + v, 0)).toBeGreaterThan(0);
    // The agent's log names codes, never the token or a data value.
    expect(log).not.toContain('hostile-test-token');
    expect(readFileSync(join(dir, 'data.csv'), 'utf8')).toContain('score,status');
  }, 60_000);

  it('reconnects with backoff when the coordinator goes away and comes back', async () => {
    const port = coordinator.port;
    await coordinator.close();
    const again = new ScriptedCoordinator(port);
    try {
      const hello = await again.next((m) => m.type === 'hello', 20_000);
      expect(hello.type).toBe('hello');
    } finally {
      await again.close();
    }
  }, 30_000);
});

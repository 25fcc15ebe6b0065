// Attack H1 (review of int5): a model bundle makes its runtime's error name a patient's value. An ONNX graph that
// gathers a two-entry table by a feature (Gather(table, Cast(x))) fails on the first patient whose value is not 0 or 1
// with "indices element out of data bounds, idx=<value>"; the agent sent that text in task.refuse, every round, with
// nothing charged, and wrote it to its own log. Now a model error met while scoring leaves as its code and fixed message,
// and the runtime's text is kept at the site with its digits masked.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MODELS_ERROR_MESSAGES, saveOnnxBundle } from '@fedval/models';
import { describe, expect, it } from 'vitest';
import { gatherByFeatureModel } from '../helpers/onnx-graph.ts';
import { answerTo, hostileFixture, hostileTask, privacySpecFor, siteBudget, startHostileSite } from './hostile-coordinator.ts';

const METRIC_SPEC = { task: 'binary', bins: 20 };
/** The patients' values the attacker wants: neither may leave the site, nor reach its log. */
const SECRETS = ['6731', '58213'];

async function hostileBundle(): Promise<{ bundleSha256: string; files: { path: string; data: Uint8Array }[] }> {
  const dir = join(await mkdtemp(join(tmpdir(), 'fedval-model-oracle-')), 'bundle');
  await saveOnnxBundle(dir, gatherByFeatureModel(), {
    name: 'innocent-looking-model',
    version: '1.0.0',
    description: 'scores a patient by a two-entry table indexed by x',
    inputs: [{ kind: 'numeric', column: 'x', missing: 'exclude' }],
    output: { kind: 'probability', positive: 'event' },
  });
  const manifest = new Uint8Array(await readFile(join(dir, 'manifest.json')));
  return {
    bundleSha256: createHash('sha256').update(manifest).digest('hex'),
    files: [
      { path: 'manifest.json', data: manifest },
      { path: 'model.onnx', data: new Uint8Array(await readFile(join(dir, 'model.onnx'))) },
    ],
  };
}

describe('a model whose runtime error names a feature value', () => {
  const { coordinator, sites } = hostileFixture();

  it('is refused with the code and fixed message only, on worker threads and on the agent thread; the site log keeps no value', async () => {
    const rows = Array.from({ length: 60 }, (_, i) => `${i % 2},${i % 3 === 0 ? 1 : 0}`);
    rows.splice(17, 0, `${SECRETS[0]},1`);
    rows.splice(41, 0, `${SECRETS[1]},0`);
    const csv = `x,status\n${rows.join('\n')}\n`;
    const scorer = { kind: 'model', ...(await hostileBundle()) };
    const privacy = privacySpecFor(METRIC_SPEC, { epsilon: 1, minSites: 3 });
    const policy = 'allowed_contributions: [plaintext, bfv], model_approval: any';
    for (const [siteId, limits] of [['site-workers', 'model_threads: 2'], ['site-one-thread', 'model_threads: 0']] as const) {
      const site = startHostileSite(coordinator, siteId, { csv, policy, limits, logLevel: 'info' });
      sites.push(site);
      await coordinator.next((m) => m.type === 'hello' && m.content.siteId === siteId);
      for (const round of [1, 2]) {
        const { outcome, reply } = await answerTo(coordinator, hostileTask(`r-${siteId}-${round}`, { metricSpec: METRIC_SPEC, privacy, scorer }), siteId);
        expect(outcome).toBe('FEDVAL_ERR_MODELS_INFERENCE_FAILED');
        expect(reply.type === 'task.refuse' && reply.content.reason).toEqual({ code: 'FEDVAL_ERR_MODELS_INFERENCE_FAILED', message: MODELS_ERROR_MESSAGES.FEDVAL_ERR_MODELS_INFERENCE_FAILED });
        for (const secret of SECRETS) expect(JSON.stringify(reply)).not.toContain(secret);
      }
      expect((await siteBudget(site)).rounds).toEqual([]);
      await site.stop();
      const log = readFileSync(join(site.dir, 'agent.log'), 'utf8');
      // The refusal is in the log (with the runtime's words, digits masked), so the absence below is not of an empty file.
      expect(log).toContain('task refused');
      expect(log).toContain('FEDVAL_ERR_MODELS_INFERENCE_FAILED');
      expect(log).toContain('out of data bounds, idx=#');
      for (const secret of SECRETS) expect(log).not.toContain(secret);
    }
  }, 90_000);
});

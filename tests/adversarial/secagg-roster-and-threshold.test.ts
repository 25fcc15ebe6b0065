// A coordinator and key holder that collude pick the roster and the threshold of a securely aggregated round (issue 13,
// independent review): a threshold below the release minimum the key holder's statement promises (then t masked
// sites can be unmasked where more are required), or a roster with a Sybil site whose key the key holder holds (then
// the real sites' shares go to it and both secrets of a real site can be rebuilt). A real enrolled agent (site-a) that
// pins its peers (policy.peer_fingerprints) refuses both before it advertises a key or reads a row; the honest task
// runs. The coordinator is scripted.
import { createHash } from 'node:crypto';
import { planSha256 } from '@fedval/he';
import { createMessage } from '@fedval/protocol';
import type { Message } from '@fedval/protocol';
import { generateSiteIdentity, signStudyKeyStatement } from '@fedval/trust';
import { describe, expect, it } from 'vitest';
import { bfvKeysFor, enrolledSiteFixture } from './hostile-coordinator.ts';

const METRIC_SPEC = { task: 'binary', bins: 20 };

describe('a colluding coordinator and key holder choosing the roster and threshold', () => {
  const { coordinator, contexts, start } = enrolledSiteFixture();

  it('refuses a threshold below the statement’s release minimum and a roster with a key the site did not pin; runs the honest task', async () => {
    const keyHolder = generateSiteIdentity();
    const [a, b, c, sybil] = [0, 1, 2, 3].map(() => generateSiteIdentity());
    const keys = await bfvKeysFor(METRIC_SPEC, undefined, 100_000);
    contexts.push(keys.context);
    // The privacy officer approved site-b's and site-c's keys out of band; min_sites 2 (the statements say more).
    await start({ siteKeyPem: a!.privateKeyPem, policy: `require_dp: false, min_sites: 2, key_holder_keys: [${keyHolder.fingerprint}], peer_fingerprints: [${b!.fingerprint}, ${c!.fingerprint}]` });

    const real = [
      { siteId: 'site-a', fingerprint: a!.fingerprint },
      { siteId: 'site-b', fingerprint: b!.fingerprint },
      { siteId: 'site-c', fingerprint: c!.fingerprint },
    ];
    /** A securely aggregated task of its own study, under a statement the (colluding) key holder signed. */
    const task = (name: string, fields: { minSites: number; roster: { siteId: string; fingerprint: string }[]; threshold: number }): Message =>
      createMessage('task', {
        studyId: `study-${name}`,
        roundId: `round-${name}`,
        metricSpec: METRIC_SPEC,
        scorer: { kind: 'score_column', columns: ['score'] },
        contribution: {
          kind: 'bfv',
          plan: keys.plan,
          publicKey: keys.publicKey,
          keyStatement: signStudyKeyStatement(keyHolder.privateKeyPem, {
            studyId: `study-${name}`,
            planSha256: planSha256(keys.plan),
            publicKeySha256: createHash('sha256').update(keys.publicKey).digest('hex'),
            minSites: fields.minSites,
            roster: fields.roster,
            rosterSha256: 'b'.repeat(64),
            issuedAt: Date.now(),
            version: 1,
          }),
        },
        deadline: Date.now() + 120_000,
        secureAggregation: { threshold: fields.threshold },
      } as never);
    /** The agent's first answer to a task: its key advertisement (it took part) or its refusal code. */
    const answer = async (message: Message): Promise<string> => {
      coordinator.send(message);
      const roundId = message.type === 'task' ? message.content.roundId : '';
      const reply = await coordinator.next((m) => (m.type === 'task.refuse' || m.type === 'secagg.advertise') && m.content.roundId === roundId, 60_000);
      return reply.type === 'task.refuse' ? reply.content.reason.code : reply.type;
    };

    // Threshold 2 of 3 meets the site's policy.min_sites (2) and 2t > n, but the key holder's statement releases only
    // sums of at least 3: two masked sites must not be unmaskable.
    expect(await answer(task('below-release-minimum', { minSites: 3, roster: real, threshold: 2 }))).toBe('FEDVAL_ERR_AGENT_SECAGG_UNAVAILABLE');
    // A roster with a Sybil site-d (its key held by the key holder), threshold 3 of 4: refused, nothing shared with it.
    const withSybil = [...real, { siteId: 'site-d', fingerprint: sybil!.fingerprint }];
    expect(await answer(task('sybil-roster', { minSites: 3, roster: withSybil, threshold: 3 }))).toBe('FEDVAL_ERR_AGENT_SECAGG_PEER_NOT_APPROVED');
    // The honest task (the pinned peers, t = 3 = the release minimum) runs: the site advertises its keys.
    expect(await answer(task('honest', { minSites: 3, roster: real, threshold: 3 }))).toBe('secagg.advertise');
  }, 240_000);
});

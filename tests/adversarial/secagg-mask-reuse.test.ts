// A coordinator that re-sends a securely aggregated round's task with other deadlines, to get a second masked input
// under the same keys (review of s6-secagg-resume, HIGH 2: y1 = x1 + m, y2 = x2 + m, so a colluding key holder reads
// x1 − x2). A real enrolled agent (site-a) runs the round against a scripted coordinator; the two other sites are real
// sessions played by this test. The round keeps the deadline of its first task: a task with another one is refused
// (FEDVAL_ERR_AGENT_SECAGG_CHANGED), and once a masked input has left and the site no longer holds it, the round never
// runs again. Timing-independent: every step waits for the site's answer; the only wait is past a deadline.
import { createPrivateKey } from 'node:crypto';
import { createMessage } from '@fedval/protocol';
import type { Message, MessageOf } from '@fedval/protocol';
import type { KeyAdvertisement } from '@fedval/trust';
import { describe, expect, it } from 'vitest';
import { SecureAggregationSession } from '../../site-agent/src/secure-aggregation-session.ts';
import { enrolledSiteFixture } from './hostile-coordinator.ts';

const SITES = ['site-a', 'site-b', 'site-c'];
const STUDY = 'study-mask-reuse';
const METRIC_SPEC = { task: 'binary', bins: 20 };
const sleepUntil = (at: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, Math.max(0, at - Date.now())));

describe('a coordinator that re-sends a securely aggregated round with other deadlines', () => {
  const { coordinator, startWithParties } = enrolledSiteFixture();

  it('never gets a second masked input of a round, nor a run under another deadline', async () => {
    const parties = await startWithParties(SITES, STUDY, METRIC_SPEC);
    const task = (roundId: string, deadline: number): Message => {
      const message = parties.task(roundId) as MessageOf<'task'>;
      return { ...message, content: { ...message.content, deadline } };
    };
    const rosterMap = new Map(parties.roster.map((site) => [site.siteId, site.fingerprint]));
    const masked: string[] = [];
    const refusals: string[] = [];
    const ofRound = (roundId: string, types: string[]) => (m: Message): boolean => types.includes(m.type) && 'content' in m && (m.content as { roundId?: string }).roundId === roundId;
    /** Sends a task and plays the round's two other sites until the site sends its result or refuses. */
    const attempt = async (roundId: string, deadline: number): Promise<void> => {
      coordinator.send(task(roundId, deadline));
      const peers = [1, 2].map((i) => new SecureAggregationSession({ studyId: STUDY, roundId, siteId: SITES[i]!, threshold: 2, siteKey: createPrivateKey(parties.identities[i]!.privateKeyPem), minSites: 2, roster: rosterMap }));
      for (;;) {
        const answer = await coordinator.next(ofRound(roundId, ['secagg.advertise', 'task.result', 'task.refuse']), 60_000);
        if (answer.type === 'task.refuse') return void refusals.push(`${roundId}: ${answer.content.reason.code}`);
        if (answer.type === 'task.result') return void masked.push(`${roundId}: ${JSON.stringify(answer.content.attestation?.secure_aggregation?.peers ?? null)}`);
        if (answer.type !== 'secagg.advertise') continue;
        const advertisements: KeyAdvertisement[] = [answer.content.advertisement, ...peers.map((peer) => peer.advertisement())];
        coordinator.send(createMessage('secagg.keys', { roundId, advertisements }));
        const peerShares = peers.map((peer) => peer.shareKeys(advertisements));
        const inbox = [1, 2].map((i) => ({ from: SITES[i]!, sealed: new Uint8Array(peerShares[i - 1]!.find((share) => share.to === 'site-a')!.sealed) }));
        coordinator.send(createMessage('secagg.inbox', { roundId, shares: inbox }));
      }
    };
    // Round 1, attempt 1 (a long deadline: the round's) is cancelled once the site advertised its keys.
    coordinator.send(task('round-1', Date.now() + 90_000));
    await coordinator.next(ofRound('round-1', ['secagg.advertise', 'task.refuse']), 60_000);
    coordinator.send(createMessage('task.cancel', { roundId: 'round-1', reason: { code: 'FEDVAL_ERR_COORD_ROUND_CLOSED', message: 'restarted' } }));
    const cancelled = await coordinator.next(ofRound('round-1', ['task.refuse']), 30_000);
    expect(cancelled.type === 'task.refuse' && cancelled.content.reason.code).toBe('FEDVAL_ERR_AGENT_CANCELLED');
    // Attempt 2: the same round with a short deadline. Before the fix it ran under attempt 1's kept keys, and its masked
    // input was held (answered again) only until that short deadline, while the keys stayed until attempt 1's.
    const short = Date.now() + 5_000;
    await attempt('round-1', short);
    // Round 2 runs to its masked input under its own (short) deadline: the one input the round ever gets.
    await attempt('round-2', short);
    // Past the short deadline, neither input is held any more; round 1's keys still are (attempt 1's deadline ahead),
    // round 2's until the wipe a moment later. Each round is asked again, with its deadline and with a later one.
    await sleepUntil(short + 100);
    await attempt('round-1', Date.now() + 120_000);
    await attempt('round-2', short);
    await attempt('round-2', Date.now() + 120_000);

    // One masked input in all: round 2's first; round 1 never ran under another deadline than its first task's.
    expect(masked).toEqual(['round-2: ["site-b","site-c"]']);
    expect(refusals).toEqual([
      'round-1: FEDVAL_ERR_AGENT_SECAGG_CHANGED',
      'round-1: FEDVAL_ERR_AGENT_SECAGG_CHANGED',
      'round-2: FEDVAL_ERR_AGENT_ROUND_REPEATED',
      'round-2: FEDVAL_ERR_AGENT_ROUND_REPEATED',
    ]);
  }, 60_000);
});

// A coordinator that "restarts" in a securely aggregated round (issue 17) and, as if it had lost what the site sent,
// asks again — for something other than it asked the first time. A real enrolled agent (site-a) runs the round against
// a scripted coordinator; the two other sites are real sessions played by this test. The agent, itself restarted
// (SIGKILL) mid-round, answers from what agent.sqlite kept: the task cancelled and sent again gets the same advertisement
// (never a second key pair for one round), the same keys list the same sealed shares (never new shares of its secrets),
// another keys list or inbox FEDVAL_ERR_AGENT_SECAGG_CHANGED, the task again the same masked input, another survivor
// set than the one it signed FEDVAL_ERR_AGENT_SECAGG_REFUSED, and the unmasking request only the shares it revealed.
import { createPrivateKey } from 'node:crypto';
import { createMessage } from '@fedval/protocol';
import type { Message, MessageOf } from '@fedval/protocol';
import type { KeyAdvertisement, SurvivorSignature } from '@fedval/trust';
import { describe, expect, it } from 'vitest';
import { SecureAggregationSession } from '../../site-agent/src/secure-aggregation-session.ts';
import { enrolledSiteFixture } from './hostile-coordinator.ts';

const SITES = ['site-a', 'site-b', 'site-c'];
const STUDY = 'study-restarting';
const ROUND = 'round-restarted-1';
const METRIC_SPEC = { task: 'binary', bins: 20 };

describe('a coordinator that restarts and asks a securely aggregated site again', () => {
  const { coordinator, startWithParties, restart, ask } = enrolledSiteFixture();
  const codeOf = (answer: Message): string | undefined => (answer.type === 'error' ? answer.error.code : undefined);
  const sealedText = (shares: { to: string; sealed: Uint8Array }[]): string[] => shares.map((share) => `${share.to}:${Buffer.from(share.sealed).toString('base64')}`);

  it('gets, from the site and from its restarted agent, only what it got before, and a coded refusal for anything else', async () => {
    const parties = await startWithParties(SITES, STUDY, METRIC_SPEC);
    const { identities, roster } = parties;
    const task = () => parties.task(ROUND);
    const advertisement = async (): Promise<KeyAdvertisement> => {
      const advertised = (await coordinator.next((m) => m.type === 'secagg.advertise' || m.type === 'task.refuse', 60_000)) as MessageOf<'secagg.advertise'>;
      expect(advertised.type, JSON.stringify(advertised.content)).toBe('secagg.advertise');
      return advertised.content.advertisement;
    };
    coordinator.send(task());
    const first = await advertisement();

    // "Restart" 1, before any key exchange: the round cancelled, then its task sent again. The site advertises the
    // same keys (the secrets it kept before advertising), never a second key pair for the round.
    coordinator.send(createMessage('task.cancel', { roundId: ROUND, reason: { code: 'FEDVAL_ERR_COORD_ROUND_CLOSED', message: 'restarted' } }));
    expect(((await coordinator.next((m) => m.type === 'task.refuse', 30_000)) as MessageOf<'task.refuse'>).content.reason.code).toBe('FEDVAL_ERR_AGENT_CANCELLED');
    coordinator.send(task());
    expect(await advertisement()).toEqual(first);

    const rosterMap = new Map(roster.map((site) => [site.siteId, site.fingerprint]));
    const peerSession = (i: number) =>
      new SecureAggregationSession({ studyId: STUDY, roundId: ROUND, siteId: SITES[i]!, threshold: 2, siteKey: createPrivateKey(identities[i]!.privateKeyPem), minSites: 2, roster: rosterMap });
    const peers = [peerSession(1), peerSession(2)];
    const advertisements: KeyAdvertisement[] = [first, ...peers.map((peer) => peer.advertisement())];
    coordinator.send(createMessage('secagg.keys', { roundId: ROUND, advertisements }));
    const shares = ((await coordinator.next((m) => m.type === 'secagg.shares', 60_000)) as MessageOf<'secagg.shares'>).content.shares;

    // "Restart" 2, after the shares: the same keys list gets the same sealed shares, byte for byte (its secrets are not
    // split again); a keys list with another key for site-c gets nothing.
    const again = (await ask(createMessage('secagg.keys', { roundId: ROUND, advertisements }), 'secagg.shares')) as MessageOf<'secagg.shares'>;
    expect(again.type).toBe('secagg.shares');
    expect(sealedText(again.content.shares)).toEqual(sealedText(shares));
    const otherKeys = [first, advertisements[1]!, peerSession(2).advertisement()];
    expect(codeOf(await ask(createMessage('secagg.keys', { roundId: ROUND, advertisements: otherKeys }), 'secagg.shares'))).toBe('FEDVAL_ERR_AGENT_SECAGG_CHANGED');

    const peerShares = peers.map((peer) => peer.shareKeys(advertisements));
    const from = (sender: string, to: string) => {
      const sent = sender === 'site-a' ? shares : peerShares[SITES.indexOf(sender) - 1]!;
      return { from: sender, sealed: new Uint8Array(sent.find((share) => share.to === to)!.sealed) };
    };
    const inbox = [from('site-b', 'site-a'), from('site-c', 'site-a')];
    coordinator.send(createMessage('secagg.inbox', { roundId: ROUND, shares: inbox }));
    peers[0]!.receiveShares([from('site-a', 'site-b'), from('site-c', 'site-b')]);
    peers[1]!.receiveShares([from('site-a', 'site-c'), from('site-b', 'site-c')]);
    const result = (await coordinator.next((m) => m.type === 'task.result' || m.type === 'task.refuse', 60_000)) as MessageOf<'task.result'>;
    expect(result.type, JSON.stringify(result.content)).toBe('task.result');

    // The agent itself restarts (SIGKILL): what it sent and received is on its disk, nowhere else.
    await restart();
    // "Restart" 3: the task again gets the same masked input; an inbox with site-b's share twice (as if from site-c) is
    // refused by the session rebuilt from agent.sqlite.
    const resent = (await ask(task(), 'task.result')) as MessageOf<'task.result'>;
    expect(resent.type).toBe('task.result');
    expect(resent.content.contributionSha256).toBe(result.content.contributionSha256);
    const otherInbox = [inbox[0]!, { from: 'site-c', sealed: inbox[0]!.sealed }];
    expect(codeOf(await ask(createMessage('secagg.inbox', { roundId: ROUND, shares: otherInbox }), 'secagg.shares'))).toBe('FEDVAL_ERR_AGENT_SECAGG_CHANGED');

    // The survivor set, signed by the restored session; another one after it (a "restart" that lost the first) refused.
    const signed = (await ask(createMessage('secagg.survivors', { roundId: ROUND, survivors: SITES }), 'secagg.consistency')) as MessageOf<'secagg.consistency'>;
    expect(signed.type).toBe('secagg.consistency');
    const signatures: SurvivorSignature[] = [signed.content.signed, ...peers.map((peer) => peer.signSurvivors(SITES))];
    const reveal = (await ask(createMessage('secagg.unmask', { roundId: ROUND, survivors: SITES, signatures }), 'secagg.reveal')) as MessageOf<'secagg.reveal'>;
    expect(reveal.type).toBe('secagg.reveal');
    expect(reveal.content.reveal.shares.map((share) => `${share.owner}:${share.kind}`)).toEqual(['site-a:self_mask_seed', 'site-b:self_mask_seed', 'site-c:self_mask_seed']);

    // Restarted once more: site-c now "dropped" (its mask key's share would be revealed beside its self-mask seed's):
    // another survivor set is refused, and the unmasking request for the signed set gets the same shares again.
    await restart();
    expect(codeOf(await ask(createMessage('secagg.survivors', { roundId: ROUND, survivors: ['site-a', 'site-b'] }), 'secagg.consistency'))).toBe('FEDVAL_ERR_AGENT_SECAGG_REFUSED');
    const twoSigned: SurvivorSignature[] = [signed.content.signed, peers[0]!.signSurvivors(SITES)].map((record) => ({ ...record, survivors: ['site-a', 'site-b'] }));
    expect(codeOf(await ask(createMessage('secagg.unmask', { roundId: ROUND, survivors: ['site-a', 'site-b'], signatures: twoSigned }), 'secagg.reveal'))).toBe('FEDVAL_ERR_AGENT_SECAGG_REFUSED');
    const revealedAgain = (await ask(createMessage('secagg.unmask', { roundId: ROUND, survivors: SITES, signatures }), 'secagg.reveal')) as MessageOf<'secagg.reveal'>;
    expect(revealedAgain.type).toBe('secagg.reveal');
    expect(revealedAgain.content.reveal.shares).toEqual(reveal.content.reveal.shares);
  }, 240_000);
});

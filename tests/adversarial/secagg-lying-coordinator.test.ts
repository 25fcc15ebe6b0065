// A coordinator that lies during secure aggregation (issue 13): it reports a live site as dropped, or asks a site to
// unmask for another survivor set than the one it signed, or with too few signatures. A real enrolled agent (site-a)
// runs a securely aggregated bfv round against a scripted coordinator; the two other sites are real sessions played by
// this test. The agent refuses every lie with FEDVAL_ERR_AGENT_SECAGG_REFUSED and reveals nothing; only the honest
// request, with every survivor's signature on the set it signed, gets its shares (of the self-mask seeds, never of a key).
import { createPrivateKey } from 'node:crypto';
import { createMessage } from '@fedval/protocol';
import type { Message, MessageOf } from '@fedval/protocol';
import type { KeyAdvertisement, SurvivorSignature } from '@fedval/trust';
import { describe, expect, it } from 'vitest';
import { SecureAggregationSession } from '../../site-agent/src/secure-aggregation-session.ts';
import { enrolledSiteFixture } from './hostile-coordinator.ts';

const SITES = ['site-a', 'site-b', 'site-c'];
const STUDY = 'study-hostile';
const ROUND = 'round-secagg-1';
const METRIC_SPEC = { task: 'binary', bins: 20 };

describe('a coordinator lying in a securely aggregated round', () => {
  const { coordinator, startWithParties, ask } = enrolledSiteFixture();

  it('refuses a live site reported dropped, another survivor set and too few signatures; reveals only for the set it signed', async () => {
    const parties = await startWithParties(SITES, STUDY, METRIC_SPEC);
    const { identities, roster } = parties;
    const task = parties.task(ROUND);
    coordinator.send(task);
    const advertised = (await coordinator.next((m) => m.type === 'secagg.advertise' || m.type === 'task.refuse', 60_000)) as MessageOf<'secagg.advertise'>;
    expect(advertised.type, JSON.stringify(advertised.content)).toBe('secagg.advertise');

    // site-b and site-c: honest peers, as real sessions.
    const rosterMap = new Map(roster.map((site) => [site.siteId, site.fingerprint]));
    const peers = [1, 2].map(
      (i) => new SecureAggregationSession({ studyId: STUDY, roundId: ROUND, siteId: SITES[i]!, threshold: 2, siteKey: createPrivateKey(identities[i]!.privateKeyPem), minSites: 2, roster: rosterMap }),
    );
    const advertisements: KeyAdvertisement[] = [advertised.content.advertisement, ...peers.map((peer) => peer.advertisement())];
    coordinator.send(createMessage('secagg.keys', { roundId: ROUND, advertisements }));
    const agentShares = (await coordinator.next((m) => m.type === 'secagg.shares', 60_000)) as MessageOf<'secagg.shares'>;
    const peerShares = peers.map((peer) => peer.shareKeys(advertisements));
    const from = (sender: string, to: string) => {
      const shares = sender === 'site-a' ? agentShares.content.shares : peerShares[SITES.indexOf(sender) - 1]!;
      return { from: sender, sealed: new Uint8Array(shares.find((share) => share.to === to)!.sealed) };
    };
    coordinator.send(createMessage('secagg.inbox', { roundId: ROUND, shares: [from('site-b', 'site-a'), from('site-c', 'site-a')] }));
    peers[0]!.receiveShares([from('site-a', 'site-b'), from('site-c', 'site-b')]);
    peers[1]!.receiveShares([from('site-a', 'site-c'), from('site-b', 'site-c')]);
    const result = (await coordinator.next((m) => m.type === 'task.result' || m.type === 'task.refuse', 60_000)) as MessageOf<'task.result'>;
    expect(result.type, JSON.stringify(result.content)).toBe('task.result');
    expect(result.content.attestation?.secure_aggregation).toEqual({ threshold: 2, peers: ['site-b', 'site-c'] });

    // Threshold 2 of 3 (the sites' policy.min_sites is 2): a survivor set of two is large enough, so only the rule that
    // a live site is never reported dropped stands between the coordinator and lie 1.
    // Lie 1: the live site-a reported dropped (the coordinator would then collect its mask key from the others and
    // still hold its self-mask seed's shares): refused, nothing signed.
    const dropped = await ask(createMessage('secagg.survivors', { roundId: ROUND, survivors: ['site-b', 'site-c'] }), 'secagg.consistency');
    expect(dropped.type === 'error' && dropped.error.code).toBe('FEDVAL_ERR_AGENT_SECAGG_REFUSED');

    // The honest survivor set: signed.
    const signed = (await ask(createMessage('secagg.survivors', { roundId: ROUND, survivors: SITES }), 'secagg.consistency')) as MessageOf<'secagg.consistency'>;
    expect(signed.type).toBe('secagg.consistency');
    const signatures: SurvivorSignature[] = [signed.content.signed, ...peers.map((peer) => peer.signSurvivors(SITES))];

    // Lie 2: a different survivor set once one was signed; lie 3: unmasking for another set; lie 4: too few signatures.
    const resigned = await ask(createMessage('secagg.survivors', { roundId: ROUND, survivors: ['site-a', 'site-b'] }), 'secagg.consistency');
    expect(resigned.type === 'error' && resigned.error.code).toBe('FEDVAL_ERR_AGENT_SECAGG_REFUSED');
    const otherSet = await ask(createMessage('secagg.unmask', { roundId: ROUND, survivors: ['site-a', 'site-b'], signatures }), 'secagg.reveal');
    expect(otherSet.type === 'error' && otherSet.error.code).toBe('FEDVAL_ERR_AGENT_SECAGG_REFUSED');
    const tooFew = await ask(createMessage('secagg.unmask', { roundId: ROUND, survivors: SITES, signatures: signatures.slice(0, 1) }), 'secagg.reveal');
    expect(tooFew.type === 'error' && tooFew.error.code).toBe('FEDVAL_ERR_AGENT_SECAGG_REFUSED');
    // A forged signature (site-c's record, signed by site-b's key) does not count either.
    const forged = { ...peers[0]!.signSurvivors(SITES), site_id: 'site-c' };
    const forgedSet = await ask(createMessage('secagg.unmask', { roundId: ROUND, survivors: SITES, signatures: [signatures[0]!, forged] }), 'secagg.reveal');
    expect(forgedSet.type === 'error' && forgedSet.error.code).toBe('FEDVAL_ERR_AGENT_SECAGG_REFUSED');

    // The honest request: shares of every survivor's self-mask seed, never of a mask key.
    const reveal = (await ask(createMessage('secagg.unmask', { roundId: ROUND, survivors: SITES, signatures }), 'secagg.reveal')) as MessageOf<'secagg.reveal'>;
    expect(reveal.type).toBe('secagg.reveal');
    expect(reveal.content.reveal.shares.map((share) => `${share.owner}:${share.kind}`)).toEqual(['site-a:self_mask_seed', 'site-b:self_mask_seed', 'site-c:self_mask_seed']);
  }, 240_000);
});

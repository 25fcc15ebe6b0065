// A site's secure-aggregation session against a coordinator that lies (Bonawitz et al. 2017, §4): forged or repeated
// advertisements, a live site reported dropped, a survivor set that changes, too few signatures, a request contradicting
// what was revealed. Three real sessions with real keys; the relay is this test.
import { createPrivateKey } from 'node:crypto';
import { combineShares, EMPTY_UNMASKING_MEMORY } from '@fedval/secagg';
import { decodeRevealedShare, generateSiteIdentity } from '@fedval/trust';
import type { KeyAdvertisement, SurvivorSignature } from '@fedval/trust';
import { describe, expect, it } from 'vitest';
import { SecureAggregationSession, secaggThresholdFloor } from './secure-aggregation-session.ts';

const SITES = ['site-a', 'site-b', 'site-c'];

function codeOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    return (error as { code?: string }).code;
  }
  return undefined;
}

/** Three sessions that completed AdvertiseKeys and ShareKeys through an honest relay. */
function exchanged() {
  const identities = SITES.map(() => generateSiteIdentity());
  const roster = new Map(SITES.map((site, i) => [site, identities[i]!.fingerprint]));
  const sessions = SITES.map(
    (siteId, i) => new SecureAggregationSession({ studyId: 'study-1', roundId: 'round-1', siteId, threshold: 2, siteKey: createPrivateKey(identities[i]!.privateKeyPem), minSites: 2, roster }),
  );
  const ads = sessions.map((session) => session.advertisement());
  const outgoing = sessions.map((session) => session.shareKeys(ads));
  sessions.forEach((session, i) => {
    const inbox = outgoing.flatMap((shares, from) => shares.filter((share) => share.to === SITES[i]).map((share) => ({ from: SITES[from]!, sealed: share.sealed })));
    session.receiveShares(inbox);
  });
  return { sessions, ads, roster, identities };
}

describe('SecureAggregationSession', () => {
  it('refuses an advertisement not signed by the key the roster pins, or a site advertised twice', () => {
    const { sessions, ads, roster, identities } = exchanged();
    const intruder = new SecureAggregationSession({ studyId: 'study-1', roundId: 'round-1', siteId: 'site-c', threshold: 2, siteKey: createPrivateKey(generateSiteIdentity().privateKeyPem), minSites: 2, roster: undefined });
    const forged: KeyAdvertisement = intruder.advertisement();
    const fresh = new SecureAggregationSession({ studyId: 'study-1', roundId: 'round-1', siteId: 'site-a', threshold: 2, siteKey: createPrivateKey(identities[0]!.privateKeyPem), minSites: 2, roster });
    const own = fresh.advertisement();
    expect(codeOf(() => fresh.shareKeys([own, ads[1]!, forged]))).toBe('FEDVAL_ERR_AGENT_SECAGG_PEER');
    expect(codeOf(() => fresh.shareKeys([own, ads[1]!, ads[1]!]))).toBe('FEDVAL_ERR_AGENT_SECAGG_PEER');
    expect(codeOf(() => fresh.shareKeys([own, { ...ads[1]!, round_id: 'round-2' }, ads[2]!]))).toBe('FEDVAL_ERR_AGENT_SECAGG_PEER');
    expect(sessions[0]!.peers).toEqual(['site-b', 'site-c']);
  });

  it('refuses a roster that lists one key under several site ids (one colluding site counted as several)', () => {
    const { roster, identities } = exchanged();
    const doubled = new Map([...roster, ['site-d', identities[1]!.fingerprint]]);
    const join = () => new SecureAggregationSession({ studyId: 'study-1', roundId: 'round-1', siteId: 'site-a', threshold: 3, siteKey: createPrivateKey(identities[0]!.privateKeyPem), minSites: 2, roster: doubled });
    expect(codeOf(join)).toBe('FEDVAL_ERR_AGENT_SECAGG_PEER');
  });

  it('refuses a threshold below its floor or one that k colluding sites could defeat (2t > n + k), before any key leaves', () => {
    const identities = SITES.map(() => generateSiteIdentity());
    const roster = new Map(SITES.map((site, i) => [site, identities[i]!.fingerprint]));
    const make = (threshold: number, minSites: number, maxColluders?: number) => () =>
      new SecureAggregationSession({ studyId: 'study-1', roundId: 'round-1', siteId: 'site-a', threshold, siteKey: createPrivateKey(identities[0]!.privateKeyPem), minSites, roster, maxColluders });
    // The floor is the largest of policy.min_sites, the statement's and the release's minimums.
    expect(secaggThresholdFloor(2, 3, undefined)).toBe(3);
    expect(secaggThresholdFloor(2, 3, 4)).toBe(4);
    expect(secaggThresholdFloor(5, 3, 4)).toBe(5);
    expect(codeOf(make(2, 3))).toBe('FEDVAL_ERR_AGENT_SECAGG_UNAVAILABLE');
    // 2 of 3 sites: 2t = 4 > 3 + 0, not > 3 + 1; 3 of 3 holds against k = 2 (6 > 5), not k = 3.
    expect(codeOf(make(2, 2))).toBeUndefined();
    expect(codeOf(make(2, 2, 1))).toBe('FEDVAL_ERR_AGENT_SECAGG_UNAVAILABLE');
    expect(codeOf(make(3, 2, 2))).toBeUndefined();
    expect(codeOf(make(3, 2, 3))).toBe('FEDVAL_ERR_AGENT_SECAGG_UNAVAILABLE');
  });

  it('with pinned peers, refuses a roster or an advertisement naming a key the privacy officer did not approve', () => {
    const identities = SITES.map(() => generateSiteIdentity());
    const sybil = generateSiteIdentity();
    const roster = new Map(SITES.map((site, i) => [site, identities[i]!.fingerprint]));
    const approvedPeers = new Set([identities[1]!.fingerprint, identities[2]!.fingerprint]);
    const session = (siteRoster: Map<string, string> | undefined) =>
      new SecureAggregationSession({ studyId: 'study-1', roundId: 'round-1', siteId: 'site-a', threshold: 2, siteKey: createPrivateKey(identities[0]!.privateKeyPem), minSites: 2, roster: siteRoster, approvedPeers });
    expect(codeOf(() => session(roster))).toBeUndefined();
    expect(codeOf(() => session(new Map([...roster, ['site-d', sybil.fingerprint]])))).toBe('FEDVAL_ERR_AGENT_SECAGG_PEER_NOT_APPROVED');
    // Without a roster, the advertisement itself is checked: site-c's slot advertised under the Sybil's key.
    const fresh = session(undefined);
    const forged = new SecureAggregationSession({ studyId: 'study-1', roundId: 'round-1', siteId: 'site-c', threshold: 2, siteKey: createPrivateKey(sybil.privateKeyPem), minSites: 2, roster: undefined });
    const peerB = new SecureAggregationSession({ studyId: 'study-1', roundId: 'round-1', siteId: 'site-b', threshold: 2, siteKey: createPrivateKey(identities[1]!.privateKeyPem), minSites: 2, roster: undefined });
    expect(codeOf(() => fresh.shareKeys([fresh.advertisement(), peerB.advertisement(), forged.advertisement()]))).toBe('FEDVAL_ERR_AGENT_SECAGG_PEER_NOT_APPROVED');
  });

  it('refuses to sign a survivor set that reports this live site as dropped, or another set than the one it signed', () => {
    const { sessions } = exchanged();
    expect(codeOf(() => sessions[2]!.signSurvivors(['site-a', 'site-b']))).toBe('FEDVAL_ERR_AGENT_SECAGG_REFUSED');
    // A repeated id (site-c listed twice inflates |U3|) is refused, and nothing is signed.
    expect(codeOf(() => sessions[2]!.signSurvivors(['site-a', 'site-c', 'site-c']))).toBe('FEDVAL_ERR_AGENT_SECAGG_REFUSED');
    expect(sessions[2]!.signSurvivors(SITES).survivors).toEqual(SITES);
    sessions[0]!.signSurvivors(SITES);
    expect(codeOf(() => sessions[0]!.signSurvivors(['site-a', 'site-b']))).toBe('FEDVAL_ERR_AGENT_SECAGG_REFUSED');
  });

  it('reveals only after every survivor signed the set it signed, and never both secrets of one site', () => {
    const { sessions } = exchanged();
    const signatures: SurvivorSignature[] = sessions.map((session) => session.signSurvivors(SITES));
    // One signature is not enough, nor are threshold (2) of the three survivors' (site-c may have refunded); signatures
    // on another set do not count.
    expect(codeOf(() => sessions[0]!.reveal(SITES, signatures.slice(0, 2), EMPTY_UNMASKING_MEMORY))).toBe('FEDVAL_ERR_AGENT_SECAGG_REFUSED');
    expect(codeOf(() => sessions[0]!.reveal(SITES, signatures.slice(0, 1), EMPTY_UNMASKING_MEMORY))).toBe('FEDVAL_ERR_AGENT_SECAGG_REFUSED');
    expect(codeOf(() => sessions[0]!.reveal(['site-a', 'site-b'], signatures, EMPTY_UNMASKING_MEMORY))).toBe('FEDVAL_ERR_AGENT_SECAGG_REFUSED');
    // A memory that already revealed site-c's mask key (as if site-c had been reported dropped) contradicts revealing its self-mask seed now.
    expect(codeOf(() => sessions[0]!.reveal(SITES, signatures, { revealed: { 'site-c': 'agreement-key' } }))).toBe('FEDVAL_ERR_AGENT_SECAGG_REFUSED');
    const { reveal, memory } = sessions[0]!.reveal(SITES, signatures, EMPTY_UNMASKING_MEMORY);
    expect(reveal.shares.map((share) => `${share.owner}:${share.kind}`)).toEqual(['site-a:self_mask_seed', 'site-b:self_mask_seed', 'site-c:self_mask_seed']);
    expect(memory.revealed).toEqual({ 'site-a': 'self-mask-seed', 'site-b': 'self-mask-seed', 'site-c': 'self-mask-seed' });
    // Two sites' shares of site-c's self-mask seed combine to one 32-byte secret, the same from any two of them.
    const second = sessions[1]!.reveal(SITES, signatures, EMPTY_UNMASKING_MEMORY).reveal;
    const third = sessions[2]!.reveal(SITES, signatures, EMPTY_UNMASKING_MEMORY).reveal;
    const shareOf = (r: typeof reveal) => decodeRevealedShare(r.shares.find((share) => share.owner === 'site-c')!.share_base64);
    const fromAB = combineShares([shareOf(reveal), shareOf(second)], 2);
    expect(Buffer.from(combineShares([shareOf(second), shareOf(third)], 2))).toEqual(Buffer.from(fromAB));
    expect(fromAB).toHaveLength(32);
  });

  it('rebuilt from its kept secrets and shares (a restart), advertises the same keys, masks with the same mask and refuses another survivor set', () => {
    const { sessions, ads, roster, identities } = exchanged();
    const options = { studyId: 'study-1', roundId: 'round-1', siteId: 'site-a', threshold: 2, siteKey: createPrivateKey(identities[0]!.privateKeyPem), minSites: 2, roster };
    const original = sessions[0]!;
    const restored = new SecureAggregationSession(options, original.secrets());
    expect(restored.advertisement()).toEqual(ads[0]);
    expect(codeOf(() => new SecureAggregationSession(options, original.secrets().subarray(0, 64)))).toBe('FEDVAL_ERR_AGENT_LEDGER');
    // The inbox site-a received, opened again by the rebuilt session: the same pairwise and self masks.
    const outgoing = sessions.slice(1).map((session, i) => ({ from: SITES[i + 1]!, shares: session.shareKeys(ads) }));
    const fresh = new SecureAggregationSession(options, original.secrets());
    fresh.restoreShareKeys(ads, original.ownShares);
    expect(fresh.ownShares).toEqual(original.ownShares);
    // Shares re-made by the peers above are other polynomials of the same secrets: the masks depend on the keys only.
    fresh.receiveShares(outgoing.map(({ from, shares }) => ({ from, sealed: shares.find((share) => share.to === 'site-a')!.sealed })));
    expect(fresh.peers).toEqual(original.peers);
    expect(fresh.slotMask(64, 65537n)).toEqual(original.slotMask(64, 65537n));
    fresh.restoreSignedSurvivors(SITES);
    expect(codeOf(() => fresh.signSurvivors(['site-a', 'site-b']))).toBe('FEDVAL_ERR_AGENT_SECAGG_REFUSED');
    expect(fresh.signSurvivors(SITES).survivors).toEqual(SITES);
  });
});

// A survivor that never signed the survivor set is never unmasked (issue 13, independent review, HIGH): a site whose
// masked input left but that signed no U3 refunds its charge (it was told the round failed, or it crashed), so the
// others must not reveal its self-mask seed's shares and the key holder must not decrypt a sum including it, even with
// ≥ threshold signatures on U3. Three real sessions (real X25519, Shamir, Ed25519), the coordinator's real round state
// machine and the key holder's real planUnmasking; the relay is this test.
import { createPrivateKey } from 'node:crypto';
import { parseRoster, planUnmasking } from '@fedval/cli';
import { EMPTY_UNMASKING_MEMORY } from '@fedval/secagg';
import { generateSiteIdentity, resultAttestationSchema } from '@fedval/trust';
import type { ResultAttestation, SurvivorSignature } from '@fedval/trust';
import { describe, expect, it } from 'vitest';
import { SecureAggregationRound } from '../../coordinator/src/secure-aggregation.ts';
import { SecureAggregationSession } from '../../site-agent/src/secure-aggregation-session.ts';

const SITES = ['site-a', 'site-b', 'site-c'];
const STUDY = 'study-unsigned';
const ROUND = 'round-unsigned';
const THRESHOLD = 2;

function codeOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    return (error as { code?: string }).code;
  }
  return undefined;
}

/** Three sites through AdvertiseKeys, ShareKeys and MaskedInput, with the coordinator's round in its consistency phase. */
function playedToConsistency() {
  const identities = SITES.map(() => generateSiteIdentity());
  const roster = new Map(SITES.map((site, i) => [site, identities[i]!.fingerprint]));
  const sessions = SITES.map(
    (siteId, i) => new SecureAggregationSession({ studyId: STUDY, roundId: ROUND, siteId, threshold: THRESHOLD, siteKey: createPrivateKey(identities[i]!.privateKeyPem), minSites: 2, roster }),
  );
  const round = new SecureAggregationRound({ threshold: THRESHOLD, studyId: STUDY, roundId: ROUND, sites: SITES });
  const ads = sessions.map((session) => session.advertisement());
  ads.forEach((ad, i) => round.addAdvertisement(SITES[i]!, ad, identities[i]!.publicKey));
  expect(round.advance()?.kind).toBe('keys');
  const outgoing = sessions.map((session) => session.shareKeys(ads));
  outgoing.forEach((shares, i) => round.addShares(SITES[i]!, shares));
  expect(round.advance()?.kind).toBe('inbox');
  sessions.forEach((session, i) => {
    session.receiveShares(outgoing.flatMap((shares, from) => shares.filter((share) => share.to === SITES[i]).map((share) => ({ from: SITES[from]!, sealed: share.sealed }))));
  });
  // Every site's masked input arrives (each site is charged for it).
  for (const site of SITES) {
    round.checkInput(site);
    round.addInput(site);
  }
  const survivors = round.advance();
  expect(survivors).toEqual({ kind: 'survivors', to: SITES, survivors: SITES });
  const rosterFile = parseRoster(JSON.stringify({ sites: SITES.map((site_id, i) => ({ site_id, fingerprint: identities[i]!.fingerprint })) }), 'roster.json');
  const attestations = new Map<string, ResultAttestation | null>(
    sessions.map((session, i) => [
      SITES[i]!,
      resultAttestationSchema.parse({ dataset_commitment: 'a'.repeat(64), audit_head: { seq: 1, hash: 'b'.repeat(64) }, secure_aggregation: { threshold: THRESHOLD, peers: session.peers } }),
    ]),
  );
  return { sessions, round, identities, ads, rosterFile, attestations };
}

describe('a survivor that never signed the survivor set', () => {
  it('crashes after its masked input, before signing: the honest coordinator fails the round instead of unmasking with t signatures', () => {
    const { sessions, round, identities } = playedToConsistency();
    // site-a and site-b sign (2 = threshold); site-c drops before signing and will refund.
    for (const i of [0, 1]) round.addConsistency(SITES[i]!, sessions[i]!.signSurvivors(SITES), identities[i]!.publicKey);
    round.markOut('site-c');
    const outcome = round.advance();
    expect(outcome?.kind).toBe('failed');
    expect(round.phase).toBe('consistency');
  });

  it('told to cancel by a lying coordinator while the others get U3 with it: the others refuse to reveal their shares', () => {
    const { sessions } = playedToConsistency();
    // The coordinator never asks site-c to sign (it tells site-c the round failed: site-c refunds) and sends U3 = all
    // three to site-a and site-b, with their two signatures: threshold 2 is met, but site-c's signature is missing.
    const signatures: SurvivorSignature[] = [sessions[0]!.signSurvivors(SITES), sessions[1]!.signSurvivors(SITES)];
    expect(codeOf(() => sessions[0]!.reveal(SITES, signatures, EMPTY_UNMASKING_MEMORY))).toBe('FEDVAL_ERR_AGENT_SECAGG_REFUSED');
    expect(codeOf(() => sessions[1]!.reveal(SITES, signatures, EMPTY_UNMASKING_MEMORY))).toBe('FEDVAL_ERR_AGENT_SECAGG_REFUSED');
  });

  it('dropped from the transcript the key holder checks: planUnmasking refuses to unmask a survivor whose signature is missing', () => {
    const { sessions, ads, rosterFile, attestations } = playedToConsistency();
    const signatures = sessions.map((session) => session.signSurvivors(SITES));
    const reveals = sessions.slice(0, 2).map((session) => session.reveal(SITES, signatures, EMPTY_UNMASKING_MEMORY).reveal);
    const transcript = { threshold: THRESHOLD, advertisements: ads, shared: SITES, survivors: SITES, consistency: signatures, reveals };
    const context = { roster: rosterFile, studyId: STUDY, roundId: ROUND, attestations };
    // The complete transcript unmasks (the check below is not refusing everything).
    expect(planUnmasking(transcript, context).ok).toBe(true);
    // Without site-c's signature (two signatures: the threshold is met), the key holder refuses.
    const plan = planUnmasking({ ...transcript, consistency: signatures.slice(0, 2) }, context);
    expect(plan.ok).toBe(false);
    expect(plan.ok ? '' : plan.problem).toMatch(/site-c did not sign the survivor set/);
  });
});

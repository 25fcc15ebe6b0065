// secure-aggregation-unmasking.ts — the key holder's check of a securely aggregated round's transcript and the masks it
// removes (Bonawitz et al., CCS 2017, §4, Round 4, server side), from what the sites signed alone: advertisements
// against the pinned roster, every survivor's signature on one U3 (|U3| ≥ t), signed reveals; b_u of every u ∈ U3 and s_v of every
// dropped v are rebuilt from ≥ t Shamir shares. Pure: the roster and the served documents are passed in.
import { agreeSecret, canonicalSiteOrder, combineShares, maskCorrection, pairwiseSign } from '@fedval/secagg';
import type { DroppedPairMask } from '@fedval/secagg';
import type { AggregationSummary, SecaggTranscript } from '@fedval/protocol';
import { decodeRevealedShare, publicKeyFingerprint, verifySecaggRecord } from '@fedval/trust';
import type { KeyAdvertisement, ResultAttestation } from '@fedval/trust';
import type { Roster } from './roster.ts';

/** The outcome: the survivor set to sum and the per-slot mask to subtract, or why unmasking is impossible. */
export type UnmaskingPlan =
  | {
      ok: true;
      /** U3: exactly the sites whose contributions must be summed. */
      survivors: string[];
      /** Per slot, in [0, t): what the survivors' masks add to the sum, to subtract mod t (@fedval/he slotUnmask). */
      slotUnmask: (slots: number, plainModulus: bigint) => BigUint64Array;
      summary: AggregationSummary;
    }
  | { ok: false; problem: string };

const fromBase64 = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'base64'));
const sameList = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((item, i) => item === b[i]);

/**
 * Checks the transcript against the roster and the verified contributions' attestations (site → attestation, each
 * covered by its site's signature) and plans the unmasking. Never trusts a count or set the coordinator states.
 */
export function planUnmasking(
  transcript: SecaggTranscript,
  context: { roster: Roster; studyId: string; roundId: string; attestations: ReadonlyMap<string, ResultAttestation | null> },
): UnmaskingPlan {
  const { roster, studyId, roundId } = context;
  const t = transcript.threshold;
  const fail = (problem: string): UnmaskingPlan => ({ ok: false, problem });
  const ads = new Map<string, KeyAdvertisement>();
  for (const ad of transcript.advertisements) {
    const pinned = roster.sites.get(ad.site_id);
    if (!pinned || ads.has(ad.site_id) || ad.study_id !== studyId || ad.round_id !== roundId) return fail(`the key advertisement of ${ad.site_id} is not for a rostered site of this round, or repeats one`);
    if (publicKeyFingerprint(ad.signing_key) !== pinned.fingerprint || !verifySecaggRecord('advertisement', ad, ad.signing_key)) {
      return fail(`the key advertisement of ${ad.site_id} is not signed by its rostered key`);
    }
    ads.set(ad.site_id, ad);
  }
  let survivors: string[];
  try {
    survivors = canonicalSiteOrder(transcript.survivors);
  } catch {
    return fail('the survivor set repeats a site');
  }
  if (!sameList(survivors, transcript.survivors) || survivors.length < t) return fail(`the survivor set has ${survivors.length} sites, the threshold is ${t}`);
  // U2 as every survivor signed it (its attested peers and itself): one set, or the masks cannot be removed.
  let shared: string[] | undefined;
  for (const site of survivors) {
    const attested = context.attestations.get(site)?.secure_aggregation;
    if (!attested || attested.threshold !== t) return fail(`the contribution of survivor ${site} is missing or does not attest this round's secure aggregation`);
    const mine = canonicalSiteOrder([site, ...attested.peers]);
    if (shared === undefined) shared = mine;
    else if (!sameList(shared, mine)) return fail(`survivor ${site} masked with another set of peers than the others`);
  }
  const sharedSites = shared ?? [];
  if (sharedSites.some((site) => !ads.has(site))) return fail('a site that shared keys did not advertise them');
  const dropped = sharedSites.filter((site) => !survivors.includes(site));
  const signers = new Set<string>();
  for (const signed of transcript.consistency) {
    const ad = ads.get(signed.site_id);
    if (ad && survivors.includes(signed.site_id) && signed.study_id === studyId && signed.round_id === roundId && sameList(signed.survivors, survivors) && verifySecaggRecord('survivors', signed, ad.signing_key)) {
      signers.add(signed.site_id);
    }
  }
  // Every survivor, not only t of them: a site that never signed U3 may have refunded its charge, so it is never unmasked.
  const unsigned = survivors.filter((site) => !signers.has(site));
  if (unsigned.length > 0) return fail(`survivors ${unsigned.join(', ')} did not sign the survivor set (every survivor must)`);
  // Shares per owner, only of the secret the rule allows: b for a survivor, s for a dropped site.
  const selfShares = new Map<string, { x: number; y: bigint }[]>(survivors.map((site) => [site, []]));
  const keyShares = new Map<string, { x: number; y: bigint }[]>(dropped.map((site) => [site, []]));
  const revealers = new Set<string>();
  for (const reveal of transcript.reveals) {
    const ad = ads.get(reveal.site_id);
    if (!ad || !survivors.includes(reveal.site_id) || revealers.has(reveal.site_id) || reveal.study_id !== studyId || reveal.round_id !== roundId) continue;
    if (!sameList(reveal.survivors, survivors) || !verifySecaggRecord('reveal', reveal, ad.signing_key)) continue;
    revealers.add(reveal.site_id);
    for (const share of reveal.shares) {
      const target = share.kind === 'self_mask_seed' ? selfShares.get(share.owner) : keyShares.get(share.owner);
      if (target) target.push(decodeRevealedShare(share.share_base64));
    }
  }
  const selfSeeds: Uint8Array[] = [];
  const agreementKeys = new Map<string, Uint8Array>();
  try {
    for (const [owner, shares] of selfShares) {
      if (shares.length < t) return fail(`${shares.length} shares of the self-mask seed of ${owner}, the threshold is ${t}`);
      selfSeeds.push(combineShares(shares, t));
    }
    for (const [owner, shares] of keyShares) {
      if (shares.length < t) return fail(`${shares.length} shares of the mask key of dropped site ${owner}, the threshold is ${t}`);
      agreementKeys.set(owner, combineShares(shares, t));
    }
  } catch (cause) {
    return fail(`the revealed shares do not combine: ${(cause as { code?: string }).code ?? (cause as Error).message}`);
  }
  const droppedPairs: DroppedPairMask[] = [];
  for (const survivor of survivors) {
    for (const [site, key] of agreementKeys) {
      const secret = agreeSecret(key, fromBase64((ads.get(survivor) as KeyAdvertisement).s_public_key), { purpose: 'pairwise-mask', studyId, roundId, siteA: survivor, siteB: site });
      droppedPairs.push({ secret, sign: pairwiseSign(survivor, site) });
    }
  }
  return {
    ok: true,
    survivors,
    slotUnmask: (slots, plainModulus) => {
      // maskCorrection is −(masks) mod t; the mask to subtract is its negation.
      const correction = maskCorrection(slots, { selfSeeds, droppedPairs }, plainModulus);
      for (let i = 0; i < correction.length; i++) if (correction[i] !== 0n) correction[i] = plainModulus - (correction[i] as bigint);
      return correction;
    },
    summary: { scheme: 'bonawitz-double-mask', threshold: t, sites_masked: sharedSites, dropped, recovered: [...agreementKeys.keys()] },
  };
}

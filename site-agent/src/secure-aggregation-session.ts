// secure-aggregation-session.ts — one site's side of a securely aggregated round (Bonawitz et al., "Practical Secure
// Aggregation for Privacy-Preserving Machine Learning", CCS 2017, Fig. 4 with the consistency check of §4): per-round
// X25519 keys, Shamir shares of its self-mask seed and mask key, the double mask, the survivor signature, the reveal.
import type { KeyObject } from 'node:crypto';
import {
  agreementPublicKey, agreeSecret, canonicalSiteOrder, decideUnmasking, generateAgreementKeyPair, liftToResidues, maskVector,
  openShares, pairwiseSign, sealShares, shareholderXs, splitSecret, systemRandomBytes, validateThreshold,
} from '@fedval/secagg';
import type { AgreementKeyPair, RevealKind, UnmaskingMemory } from '@fedval/secagg';
import { encodeRevealedShare, publicKeyFingerprint, publicKeyOf, signSecaggRecord, verifySecaggRecord } from '@fedval/trust';
import type { KeyAdvertisement, RevealedShare, ShareReveal, SurvivorSignature } from '@fedval/trust';
import { AgentError } from './errors.ts';

/** Who may take part: the roster of site ids and Ed25519 key fingerprints the site trusts for this study. */
export type PeerRoster = ReadonlyMap<string, string>;

export interface SessionOptions {
  studyId: string;
  roundId: string;
  siteId: string;
  threshold: number;
  /** The site's enrolled Ed25519 key: every record of the session is signed with it. */
  siteKey: KeyObject;
  /**
   * The least threshold this site accepts: {@link secaggThresholdFloor} of policy.min_sites, the key statement's and the
   * release's minimum (a site's own threshold floor, no default).
   */
  minSites: number;
  /**
   * The peers whose advertisements are accepted, by fingerprint: the roster of the key holder's signed study key
   * statement. Undefined only in unit tests of the other checks (signatures are then checked under the relayed keys).
   */
  roster: PeerRoster | undefined;
  /**
   * policy.peer_fingerprints: the peer keys this site's privacy officer approved out of band. When set, a roster or
   * advertisement naming any other key (besides this site's own) is refused before any share is made. Undefined: the
   * roster is trusted.
   */
  approvedPeers?: ReadonlySet<string> | undefined;
  /** policy.secagg_max_colluders (k): the threshold must satisfy 2t > n + k. Default 0. */
  maxColluders?: number | undefined;
}

/**
 * The least threshold a site accepts: the largest of its policy.min_sites, the key holder's statement's release minimum
 * and the release's (DP noise plan's) minimum. Any t masked sites can be unmasked together, so t below a release
 * minimum would open a sum of fewer sites than that minimum promises (issue 13, independent review).
 */
export function secaggThresholdFloor(policyMinSites: number, statementMinSites: number, releaseMinSites: number | undefined): number {
  return Math.max(policyMinSites, statementMinSites, releaseMinSites ?? 1);
}

const toBase64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');
const fromBase64 = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'base64'));
const sameList = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((item, i) => item === b[i]);

/** A session's secrets as kept in agent.sqlite (secure-aggregation-sessions.ts): c_u^SK ‖ s_u^SK ‖ b_u, 32 bytes each. */
export const SESSION_SECRETS_BYTES = 96;

/** One shareholder's pair of Shamir shares (of an owner's self-mask seed and mask key) at x; the pair a site keeps of its own secrets is kept in agent.sqlite. */
export interface SharePair {
  x: number;
  selfMaskSeed: bigint;
  agreementKey: bigint;
}

/**
 * One round's secure aggregation at a site. Its secrets (two X25519 private keys and the self-mask seed) are kept on the
 * site's disk before anything made from them leaves (`secrets`), and a session is rebuilt from them (`saved`), so a site
 * never advertises two different key pairs for one round, nor re-splits its secrets (`restoreShareKeys`).
 */
export class SecureAggregationSession {
  readonly #options: SessionOptions;
  readonly #c: AgreementKeyPair;
  readonly #s: AgreementKeyPair;
  readonly #selfSeed: Uint8Array;
  #advertisements = new Map<string, KeyAdvertisement>();
  #held = new Map<string, SharePair>();
  /** U2 as this site saw it: itself and every site whose shares it received. */
  #shareholders: string[] = [];
  #signedSurvivors: string[] | null = null;

  /** `saved`: the secrets of this round kept by an earlier session (`secrets`); fresh ones otherwise. */
  constructor(options: SessionOptions, saved?: Uint8Array) {
    this.#options = options;
    if (saved !== undefined && saved.length !== SESSION_SECRETS_BYTES) throw new AgentError('FEDVAL_ERR_AGENT_LEDGER', 'the kept secure-aggregation secrets are damaged');
    const secret = (i: number): Uint8Array => new Uint8Array(saved!.subarray(32 * i, 32 * (i + 1)));
    this.#c = saved ? { privateKey: secret(0), publicKey: agreementPublicKey(secret(0)) } : generateAgreementKeyPair();
    this.#s = saved ? { privateKey: secret(1), publicKey: agreementPublicKey(secret(1)) } : generateAgreementKeyPair();
    this.#selfSeed = saved ? secret(2) : systemRandomBytes(32);
    if (options.threshold < options.minSites) {
      throw new AgentError('FEDVAL_ERR_AGENT_SECAGG_UNAVAILABLE', `threshold ${options.threshold} is below ${options.minSites}, the largest of policy.min_sites and the release minimums`);
    }
    if (options.roster !== undefined) {
      // Decided at the task, before any data is read or key advertised: the roster is the key holder's signed one.
      for (const [site, fingerprint] of options.roster) this.#checkApproved(site, fingerprint);
      // One key under several site ids would count as several sites: one colluding site could then hold enough shares
      // of another site's two secrets to unmask it (2t > n + k counts keys, not ids).
      const keys = new Set(options.roster.values());
      if (keys.size !== options.roster.size) {
        throw new AgentError('FEDVAL_ERR_AGENT_SECAGG_PEER', `the roster lists ${options.roster.size - keys.size} key(s) under more than one site id`);
      }
      this.#checkThreshold(options.roster.size);
    }
  }

  #checkApproved(site: string, fingerprint: string | undefined): void {
    const { approvedPeers, siteKey, siteId } = this.#options;
    if (approvedPeers === undefined) return;
    const own = site === siteId && fingerprint === publicKeyFingerprint(publicKeyOf(siteKey));
    if (!own && (fingerprint === undefined || !approvedPeers.has(fingerprint))) {
      throw new AgentError('FEDVAL_ERR_AGENT_SECAGG_PEER_NOT_APPROVED', `${site}'s key is not in policy.peer_fingerprints`);
    }
  }

  #checkThreshold(sites: number): void {
    const { threshold, minSites, maxColluders } = this.#options;
    try {
      validateThreshold(threshold, sites, minSites, maxColluders ?? 0);
    } catch (cause) {
      throw new AgentError('FEDVAL_ERR_AGENT_SECAGG_UNAVAILABLE', (cause as Error).message, { cause });
    }
  }

  /** The secrets to keep (c_u^SK ‖ s_u^SK ‖ b_u) before the advertisement leaves; never logged or sent. */
  secrets(): Uint8Array {
    return new Uint8Array(Buffer.concat([this.#c.privateKey, this.#s.privateKey, this.#selfSeed]));
  }

  /** AdvertiseKeys: the site's two public keys, signed (Ed25519 is deterministic: the same bytes for the same keys). */
  advertisement(): KeyAdvertisement {
    const { studyId, roundId, siteId, siteKey } = this.#options;
    return signSecaggRecord('advertisement', siteKey, {
      study_id: studyId,
      round_id: roundId,
      site_id: siteId,
      c_public_key: toBase64(this.#c.publicKey),
      s_public_key: toBase64(this.#s.publicKey),
      signing_key: publicKeyOf(siteKey),
    });
  }

  /**
   * ShareKeys: checks every advertisement (signed by the key the roster pins for its site, this study and round, each
   * site once, this site's own unchanged, at least threshold of them, threshold above half of them), then Shamir-splits
   * b_u and s_u^SK among the advertised sites and seals each other site's pair for it. Returns the sealed pairs.
   */
  shareKeys(advertisements: readonly KeyAdvertisement[]): { to: string; sealed: Uint8Array }[] {
    const { studyId, roundId, siteId, threshold } = this.#options;
    const seen = this.#checkAdvertisements(advertisements);
    this.#advertisements = seen;
    const holders = canonicalSiteOrder([...seen.keys()]);
    const selfShares = splitSecret(this.#selfSeed, threshold, holders, systemRandomBytes);
    const keyShares = splitSecret(this.#s.privateKey, threshold, holders, systemRandomBytes);
    const out: { to: string; sealed: Uint8Array }[] = [];
    holders.forEach((holder, i) => {
      const self = selfShares[i]!;
      const key = keyShares[i]!;
      const pair = { x: self.x, selfMaskSeed: self.y, agreementKey: key.y };
      if (holder === siteId) {
        this.#held.set(siteId, pair);
        return;
      }
      const peer = seen.get(holder)!;
      const transport = agreeSecret(this.#c.privateKey, fromBase64(peer.c_public_key), { purpose: 'share-transport', studyId, roundId, siteA: siteId, siteB: holder });
      out.push({ to: holder, sealed: sealShares(transport, { studyId, roundId, sender: siteId, recipient: holder }, pair) });
    });
    return out;
  }

  /** The share pair this site kept of its own secrets (after shareKeys): kept on disk with the sealed shares it sent. */
  get ownShares(): SharePair {
    const own = this.#held.get(this.#options.siteId);
    if (!own) throw new AgentError('FEDVAL_ERR_AGENT_SECAGG_REFUSED', 'no shares made yet');
    return own;
  }

  /**
   * ShareKeys, already done by an earlier session of this round: takes the advertisements it shared with (checked
   * again) and the share pair it kept, and splits nothing again (new shares of the same secrets must never leave).
   */
  restoreShareKeys(advertisements: readonly KeyAdvertisement[], own: SharePair): void {
    this.#advertisements = this.#checkAdvertisements(advertisements);
    this.#held.set(this.#options.siteId, own);
  }

  /** Restores the survivor set an earlier session of this round signed (kept in secagg_rounds). */
  restoreSignedSurvivors(survivors: readonly string[]): void {
    this.#signedSurvivors = [...survivors];
  }

  #checkAdvertisements(advertisements: readonly KeyAdvertisement[]): Map<string, KeyAdvertisement> {
    const { studyId, roundId, siteId, threshold, roster } = this.#options;
    const seen = new Map<string, KeyAdvertisement>();
    for (const ad of advertisements) {
      const problem =
        seen.has(ad.site_id) ? 'repeats a site'
        : ad.study_id !== studyId || ad.round_id !== roundId ? 'names another study or round'
        : roster !== undefined && roster.get(ad.site_id) !== publicKeyFingerprint(ad.signing_key) ? 'is not signed by the key the roster pins for its site'
        : !verifySecaggRecord('advertisement', ad, ad.signing_key) ? 'has a signature that does not verify'
        : undefined;
      if (problem) throw new AgentError('FEDVAL_ERR_AGENT_SECAGG_PEER', `the advertisement of ${ad.site_id} ${problem}`);
      this.#checkApproved(ad.site_id, publicKeyFingerprint(ad.signing_key));
      seen.set(ad.site_id, ad);
    }
    const mine = seen.get(siteId);
    if (!mine || mine.c_public_key !== toBase64(this.#c.publicKey) || mine.s_public_key !== toBase64(this.#s.publicKey)) {
      throw new AgentError('FEDVAL_ERR_AGENT_SECAGG_PEER', 'this site’s own advertisement is missing or changed');
    }
    this.#checkThreshold(roster?.size ?? seen.size);
    if (seen.size < threshold) throw new AgentError('FEDVAL_ERR_AGENT_SECAGG_PEER', `${seen.size} sites advertised keys, the threshold is ${threshold}`);
    return seen;
  }

  /** ShareKeys, received: opens each sealed pair addressed to this site; U2 is then itself and every sender. */
  receiveShares(inbox: readonly { from: string; sealed: Uint8Array }[]): void {
    const { studyId, roundId, siteId, threshold } = this.#options;
    const xs = shareholderXs([...this.#advertisements.keys()]);
    for (const { from, sealed } of inbox) {
      const peer = this.#advertisements.get(from);
      if (!peer || from === siteId || this.#held.has(from)) throw new AgentError('FEDVAL_ERR_AGENT_SECAGG_PEER', `shares from ${from}, which did not advertise keys or sent twice`);
      const transport = agreeSecret(this.#c.privateKey, fromBase64(peer.c_public_key), { purpose: 'share-transport', studyId, roundId, siteA: siteId, siteB: from });
      let opened;
      try {
        opened = openShares(transport, { studyId, roundId, sender: from, recipient: siteId }, sealed);
      } catch (cause) {
        throw new AgentError('FEDVAL_ERR_AGENT_SECAGG_PEER', `the shares from ${from} do not open`, { cause });
      }
      if (opened.x !== xs.get(siteId)) throw new AgentError('FEDVAL_ERR_AGENT_SECAGG_PEER', `the shares from ${from} are for another shareholder`);
      this.#held.set(from, opened);
    }
    this.#shareholders = canonicalSiteOrder([...this.#held.keys()]);
    if (this.#shareholders.length < threshold) {
      throw new AgentError('FEDVAL_ERR_AGENT_SECAGG_PEER', `${this.#shareholders.length} sites completed the share exchange, the threshold is ${threshold}`);
    }
  }

  /** The peers this site masks with (U2 without itself), sorted: signed in the attestation. */
  get peers(): string[] {
    return this.#shareholders.filter((site) => site !== this.#options.siteId);
  }

  /**
   * MaskedInput: the slot mask PRG(b_u) + Σ_v ±PRG(s_{u,v}) over the peers of U2, as residues in [0, t) for
   * @fedval/he's encrypt (slotMask); the sign rule and PRG are @fedval/secagg's.
   */
  slotMask(slots: number, plainModulus: bigint): BigUint64Array {
    const { studyId, roundId, siteId } = this.#options;
    const pairwise = this.peers.map((peer) => ({
      peerId: peer,
      secret: agreeSecret(this.#s.privateKey, fromBase64(this.#advertisements.get(peer)!.s_public_key), { purpose: 'pairwise-mask', studyId, roundId, siteA: siteId, siteB: peer }),
      sign: pairwiseSign(siteId, peer),
    }));
    return liftToResidues(maskVector(new BigInt64Array(slots), { selfSeed: this.#selfSeed, pairwise }, plainModulus), plainModulus);
  }

  /**
   * ConsistencyCheck: signs U3 when this site is in it, U3 ⊆ U2 and |U3| ≥ threshold; a coordinator that reports this
   * live site as dropped is refused. The caller persists the signed set before sending it.
   */
  signSurvivors(survivors: readonly string[]): SurvivorSignature {
    const { studyId, roundId, siteId, threshold, siteKey } = this.#options;
    const problem =
      new Set(survivors).size !== survivors.length ? 'repeats a site'
      : !survivors.includes(siteId) ? 'reports this live site as dropped'
      : survivors.some((site) => !this.#shareholders.includes(site)) ? 'names a site that did not complete the share exchange'
      : survivors.length < threshold ? `has ${survivors.length} sites, below the threshold ${threshold}`
      : this.#signedSurvivors !== null && !sameList(this.#signedSurvivors, survivors) ? 'differs from the survivor set this site already signed'
      : undefined;
    if (problem) throw new AgentError('FEDVAL_ERR_AGENT_SECAGG_REFUSED', `the survivor set ${problem}`);
    this.#signedSurvivors = [...survivors];
    return signSecaggRecord('survivors', siteKey, { study_id: studyId, round_id: roundId, site_id: siteId, survivors: [...survivors] });
  }

  /**
   * Unmasking: checks that U3 is the set this site signed and that every site of U3 signed it (with the keys they
   * advertised; a site that never signed may have refunded, so it must never be unmasked), decides with the round's memory what to reveal (never both secrets of one site), and
   * returns the signed reveal with the new memory to persist before it is sent.
   */
  reveal(survivors: readonly string[], signatures: readonly SurvivorSignature[], memory: UnmaskingMemory): { reveal: ShareReveal; memory: UnmaskingMemory } {
    const { studyId, roundId, siteId, threshold, siteKey } = this.#options;
    if (this.#signedSurvivors === null || !sameList(this.#signedSurvivors, survivors)) {
      throw new AgentError('FEDVAL_ERR_AGENT_SECAGG_REFUSED', 'the unmasking request is not for the survivor set this site signed');
    }
    const signers = new Set<string>();
    for (const signed of signatures) {
      const peer = this.#advertisements.get(signed.site_id);
      if (!peer || !survivors.includes(signed.site_id) || signed.study_id !== studyId || signed.round_id !== roundId || !sameList(signed.survivors, survivors)) continue;
      if (verifySecaggRecord('survivors', signed, peer.signing_key)) signers.add(signed.site_id);
    }
    // Every member of U3 must have signed U3, not only threshold of them: a site that never signed may have refunded its
    // charge (it was told the round failed, or it crashed), so its masked input must never be unmasked (issue 13, review).
    const unsigned = survivors.filter((site) => !signers.has(site));
    if (unsigned.length > 0) throw new AgentError('FEDVAL_ERR_AGENT_SECAGG_REFUSED', `survivors ${unsigned.join(', ')} did not sign the survivor set (every survivor must)`);
    if (signers.size < threshold) throw new AgentError('FEDVAL_ERR_AGENT_SECAGG_REFUSED', `${signers.size} valid survivor signatures, the threshold is ${threshold}`);
    let decision;
    try {
      decision = decideUnmasking({
        self: siteId,
        shareholders: this.#shareholders,
        threshold,
        request: { masked: survivors, dropped: this.#shareholders.filter((site) => !survivors.includes(site)) },
        memory,
      });
    } catch (cause) {
      throw new AgentError('FEDVAL_ERR_AGENT_SECAGG_REFUSED', `${(cause as { code?: string }).code ?? 'refused'}: ${(cause as Error).message}`, { cause });
    }
    const shares: RevealedShare[] = decision.reveal.map(({ siteId: owner, kind }: { siteId: string; kind: RevealKind }) => {
      const held = this.#held.get(owner)!;
      const y = kind === 'self-mask-seed' ? held.selfMaskSeed : held.agreementKey;
      return { owner, kind: kind === 'self-mask-seed' ? 'self_mask_seed' : 'mask_key', share_base64: encodeRevealedShare(held.x, y) };
    });
    const reveal = signSecaggRecord('reveal', siteKey, { study_id: studyId, round_id: roundId, site_id: siteId, survivors: [...survivors], shares });
    return { reveal, memory: decision.memory };
  }
}

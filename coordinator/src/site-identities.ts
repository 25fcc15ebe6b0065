// site-identities.ts — enrolled sites' Ed25519 public keys: challenge–response on connect, signed-result checks with replay refusal.
import { attestationSha256, publicKeyFingerprint, ReplayGuard, verifyChallengeResponse, verifySignedResult } from '@fedval/trust';
import type { ResultAttestation } from '@fedval/trust';
import type { AuthChallenge, ReplayGuardOptions } from '@fedval/trust';
import { CoordinatorError } from './errors.ts';

/** The signed fields of a task.result, as they arrive. */
export interface SignedResultClaim {
  /** The study of the round, as the coordinator knows it: the site signs it too. */
  studyId: string;
  roundId: string;
  contributionSha256: string;
  attestation?: ResultAttestation | undefined;
  signature?: { nonce: string; sentAt: number; publicKeySha256?: string | undefined; planSha256?: string | undefined; signature: Uint8Array } | undefined;
}

/**
 * The public keys of enrolled sites (set from the store at start, and on enrollment) and the coordinator's one
 * replay guard. A site with a key must answer the connection challenge with a signature and sign every result.
 */
export class SiteIdentities {
  readonly #keys = new Map<string, string>();
  readonly #guard: ReplayGuard;

  constructor(guardOptions?: Partial<ReplayGuardOptions>) {
    this.#guard = new ReplayGuard(guardOptions);
  }

  /** Registers (or replaces, on re-enrollment) a site's key: base64 raw Ed25519. */
  set(siteId: string, publicKey: string): void {
    this.#keys.set(siteId, publicKey);
  }

  /** SHA-256 (hex) of the enrolled site's raw public key, as `fedval-agent enroll` prints it; undefined when not enrolled. */
  fingerprint(siteId: string): string | undefined {
    const publicKey = this.#keys.get(siteId);
    return publicKey === undefined ? undefined : publicKeyFingerprint(publicKey);
  }

  /** The enrolled site's raw Ed25519 public key, base64; undefined when not enrolled. */
  publicKey(siteId: string): string | undefined {
    return this.#keys.get(siteId);
  }

  isEnrolled(siteId: string): boolean {
    return this.#keys.has(siteId);
  }

  /** Whether `signature` answers `challenge` for an enrolled site (RFC 8032 Ed25519 under domain `fedval/v1/auth`, purpose `connect`). */
  verifyConnect(siteId: string, challenge: AuthChallenge, signature: Uint8Array): boolean {
    const publicKey = this.#keys.get(siteId);
    if (publicKey === undefined) return false;
    try {
      verifyChallengeResponse({ challenge, siteId, purpose: 'connect', publicKey, signature });
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Checks an enrolled site's result signature, then remembers its nonce: throws FEDVAL_ERR_COORD_RESULT_SIGNATURE
   * (unsigned, malformed or not verifying) or FEDVAL_ERR_COORD_REPLAYED (nonce seen, or sentAt outside the window).
   */
  verifyResult(siteId: string, claim: SignedResultClaim): void {
    const publicKey = this.#keys.get(siteId);
    if (publicKey === undefined) throw new CoordinatorError('FEDVAL_ERR_COORD_INTERNAL', 'result check for a site that is not enrolled');
    if (!claim.signature) throw new CoordinatorError('FEDVAL_ERR_COORD_RESULT_SIGNATURE', 'unsigned');
    const { nonce, sentAt, signature } = claim.signature;
    try {
      // What the site attests with the result is covered by the signature through its canonical SHA-256.
      const attested = claim.attestation === undefined ? undefined : attestationSha256(claim.attestation);
      const { publicKeySha256, planSha256 } = claim.signature;
      verifySignedResult(
        { studyId: claim.studyId, roundId: claim.roundId, siteId, contributionSha256: claim.contributionSha256, nonce, sentAt, attestationSha256: attested, publicKeySha256, planSha256 },
        publicKey,
        signature,
        this.#guard,
      );
    } catch (cause) {
      const code = (cause as { code?: unknown }).code;
      if (code === 'FEDVAL_ERR_TRUST_REPLAYED' || code === 'FEDVAL_ERR_TRUST_TIMESTAMP_OUTSIDE_WINDOW' || code === 'FEDVAL_ERR_TRUST_REPLAY_GUARD_FULL') {
        throw new CoordinatorError('FEDVAL_ERR_COORD_REPLAYED', String(code), { cause });
      }
      throw new CoordinatorError('FEDVAL_ERR_COORD_RESULT_SIGNATURE', typeof code === 'string' ? code : 'does not verify', { cause });
    }
  }
}

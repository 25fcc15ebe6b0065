// evidence-signature.ts — the signature of whoever made an evidence bundle over its manifest (report.json), so no byte of it can change unseen.
import { z } from 'zod';
import { canonicalJsonBytes } from './canonical-json.ts';
import type { JsonValue } from './canonical-json.ts';
import { fromBase64Strict, toBase64 } from './encoding.ts';
import type { PrivateKeyInput } from './identity.ts';
import { ED25519_PUBLIC_KEY_BYTES, ED25519_SIGNATURE_BYTES, publicKeyFingerprint, publicKeyOf, sign, verify } from './identity.ts';

/** Domain-separation string of an evidence manifest signature. */
export const EVIDENCE_DOMAIN = 'fedval/v1/evidence';

/** The maker's signature of an evidence manifest: its raw Ed25519 public key and the signature, base64. */
export const evidenceSignatureSchema = z.strictObject({
  signerPublicKey: z.string().refine((value) => fromBase64Strict(value, ED25519_PUBLIC_KEY_BYTES) !== undefined, { error: 'must be a raw Ed25519 public key in base64' }),
  signature: z.string().refine((value) => fromBase64Strict(value, ED25519_SIGNATURE_BYTES) !== undefined, { error: 'must be an Ed25519 signature in base64' }),
});
export type EvidenceSignature = z.output<typeof evidenceSignatureSchema>;

/** The signed bytes: canonical JSON (RFC 8785) of `{ domain: 'fedval/v1/evidence', manifest }`. */
export function evidencePayload(manifest: JsonValue): Uint8Array {
  return canonicalJsonBytes({ domain: EVIDENCE_DOMAIN, manifest });
}

/** Signs an evidence manifest with the maker's Ed25519 key. */
export function signEvidence(privateKey: PrivateKeyInput, manifest: JsonValue): EvidenceSignature {
  return { signerPublicKey: publicKeyOf(privateKey), signature: toBase64(sign(privateKey, evidencePayload(manifest))) };
}

/** The signer's fingerprint when `signature` verifies over `manifest`; null when it does not. */
export function verifyEvidence(manifest: JsonValue, signature: EvidenceSignature): string | null {
  const bytes = fromBase64Strict(signature.signature, ED25519_SIGNATURE_BYTES);
  if (bytes === undefined || !verify(signature.signerPublicKey, evidencePayload(manifest), bytes)) return null;
  return publicKeyFingerprint(signature.signerPublicKey);
}

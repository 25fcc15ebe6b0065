// manifest-signature.ts — the sponsor's Ed25519 signature over a model bundle manifest (the `signature` field of @fedval/models manifests).
import { canonicalJsonBytes, isPlainObject } from './canonical-json.ts';
import { fromBase64Strict, toBase64 } from './encoding.ts';
import { TrustError } from './errors.ts';
import type { PrivateKeyInput } from './identity.ts';
import { ED25519_PUBLIC_KEY_BYTES, ED25519_SIGNATURE_BYTES, publicKeyFingerprint, publicKeyOf, sign, verify } from './identity.ts';

/** The manifest's `signature` member: `{ algorithm: 'ed25519', publicKey: base64 raw 32 bytes, value: base64 64 bytes }`. */
export interface ManifestSignature {
  readonly algorithm: 'ed25519';
  readonly publicKey: string;
  readonly value: string;
}

/** The bytes signed: canonical JSON (RFC 8785) of the manifest without its `signature` member. */
export function manifestSigningPayload(manifest: Readonly<Record<string, unknown>>): Uint8Array {
  if (!isPlainObject(manifest)) throw new TrustError('FEDVAL_ERR_TRUST_NOT_CANONICAL_JSON', '$: a manifest is a plain JSON object');
  const { signature: _signature, ...unsigned } = manifest;
  return canonicalJsonBytes(unsigned);
}

/** Signs `manifest` (any existing signature is ignored) and returns the value for its `signature` member. */
export function signManifest(manifest: Readonly<Record<string, unknown>>, sponsorPrivateKey: PrivateKeyInput): ManifestSignature {
  const value = sign(sponsorPrivateKey, manifestSigningPayload(manifest));
  return Object.freeze({ algorithm: 'ed25519', publicKey: publicKeyOf(sponsorPrivateKey), value: toBase64(value) });
}

/**
 * Verifies the manifest's own `signature` and returns the signer's fingerprint (SHA-256 hex of the raw public key).
 * A valid signature proves only that the holder of that key signed this exact manifest: the caller must still check
 * the fingerprint against the sponsors its policy trusts. Throws FEDVAL_ERR_TRUST_UNSIGNED,
 * FEDVAL_ERR_TRUST_SIGNATURE_MALFORMED, FEDVAL_ERR_TRUST_INVALID_PUBLIC_KEY or FEDVAL_ERR_TRUST_SIGNATURE_INVALID.
 */
export function verifyManifestSignature(manifest: Readonly<Record<string, unknown>>): string {
  const signature: unknown = isPlainObject(manifest) ? manifest.signature : undefined;
  if (signature === undefined) throw new TrustError('FEDVAL_ERR_TRUST_UNSIGNED');
  if (!isPlainObject(signature) || Object.keys(signature).sort().join() !== 'algorithm,publicKey,value') {
    throw new TrustError('FEDVAL_ERR_TRUST_SIGNATURE_MALFORMED', 'expected exactly { algorithm, publicKey, value }');
  }
  if (signature.algorithm !== 'ed25519') throw new TrustError('FEDVAL_ERR_TRUST_SIGNATURE_MALFORMED', 'algorithm: expected ed25519');
  const publicKey = fromBase64Strict(signature.publicKey, ED25519_PUBLIC_KEY_BYTES);
  if (publicKey === undefined) throw new TrustError('FEDVAL_ERR_TRUST_INVALID_PUBLIC_KEY', 'signature.publicKey');
  const value = fromBase64Strict(signature.value, ED25519_SIGNATURE_BYTES);
  if (value === undefined) throw new TrustError('FEDVAL_ERR_TRUST_SIGNATURE_MALFORMED', `value: expected ${ED25519_SIGNATURE_BYTES} bytes in base64`);
  if (!verify(publicKey, manifestSigningPayload(manifest), value)) throw new TrustError('FEDVAL_ERR_TRUST_SIGNATURE_INVALID', 'manifest');
  return publicKeyFingerprint(publicKey);
}

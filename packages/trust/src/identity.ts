// identity.ts — Ed25519 (RFC 8032) identities: key pairs, raw public keys, fingerprints, signing and verification.
import type { KeyObject } from 'node:crypto';
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign as cryptoSign, verify as cryptoVerify } from 'node:crypto';
import { sha256Hex } from './digest.ts';
import { fromBase64Strict, toBase64 } from './encoding.ts';
import { TrustError } from './errors.ts';

/** A private key as a node:crypto KeyObject or as PKCS#8 PEM text. */
export type PrivateKeyInput = KeyObject | string;
/** A public key as its raw 32 bytes (RFC 8032 §5.1.5 encoding), or those bytes in base64. */
export type PublicKeyInput = Uint8Array | string;

/** A freshly generated identity. Only the public half (and its fingerprint) ever leaves the machine. */
export interface SiteIdentity {
  /** Raw 32-byte Ed25519 public key, base64. */
  readonly publicKey: string;
  /** PKCS#8 PEM private key: store with savePrivateKey (mode 0600), never send. */
  readonly privateKeyPem: string;
  /** SHA-256 (hex) of the raw public key: what people compare out of band. */
  readonly fingerprint: string;
}

export const ED25519_PUBLIC_KEY_BYTES = 32;
export const ED25519_SIGNATURE_BYTES = 64;

// DER prefixes of the RFC 8410 structures for Ed25519 (OID 1.3.101.112), followed by the raw 32 bytes.
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** Generates a new Ed25519 key pair (for a site, a sponsor, or any party that signs). */
export function generateSiteIdentity(): SiteIdentity {
  const { privateKey } = generateKeyPairSync('ed25519');
  const publicKey = publicKeyOf(privateKey);
  return Object.freeze({
    publicKey,
    privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    fingerprint: publicKeyFingerprint(publicKey),
  });
}

/** The private key whose 32-byte secret (RFC 8032 §5.1.5 "private key", a seed) is `seed`. */
export function privateKeyFromSeed(seed: Uint8Array): KeyObject {
  if (!(seed instanceof Uint8Array) || seed.length !== 32) throw new TrustError('FEDVAL_ERR_TRUST_KEY_INVALID', 'a seed is 32 bytes');
  return createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
}

/** Throws FEDVAL_ERR_TRUST_KEY_INVALID unless `key` is (or parses as) an Ed25519 private key. */
export function toPrivateKey(key: PrivateKeyInput): KeyObject {
  let object: KeyObject;
  try {
    object = typeof key === 'string' ? createPrivateKey({ key, format: 'pem' }) : key;
  } catch (cause) {
    throw new TrustError('FEDVAL_ERR_TRUST_KEY_INVALID', 'not PKCS#8 PEM', { cause });
  }
  if (typeof object !== 'object' || object === null || object.type !== 'private' || object.asymmetricKeyType !== 'ed25519') {
    throw new TrustError('FEDVAL_ERR_TRUST_KEY_INVALID');
  }
  return object;
}

/** Raw 32 bytes of a public key; throws FEDVAL_ERR_TRUST_INVALID_PUBLIC_KEY for anything else. */
export function rawPublicKey(publicKey: PublicKeyInput): Uint8Array {
  const raw =
    typeof publicKey === 'string' ? fromBase64Strict(publicKey, ED25519_PUBLIC_KEY_BYTES)
    : publicKey instanceof Uint8Array && publicKey.length === ED25519_PUBLIC_KEY_BYTES ? publicKey
    : undefined;
  if (raw === undefined) throw new TrustError('FEDVAL_ERR_TRUST_INVALID_PUBLIC_KEY');
  return raw;
}

function toPublicKey(publicKey: PublicKeyInput): KeyObject {
  try {
    return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, rawPublicKey(publicKey)]), format: 'der', type: 'spki' });
  } catch (cause) {
    if (cause instanceof TrustError) throw cause;
    throw new TrustError('FEDVAL_ERR_TRUST_INVALID_PUBLIC_KEY', 'not a point encoding', { cause });
  }
}

/** The raw 32-byte public key of `privateKey`, base64. */
export function publicKeyOf(privateKey: PrivateKeyInput): string {
  const jwk = createPublicKey(toPrivateKey(privateKey)).export({ format: 'jwk' });
  return toBase64(Buffer.from(jwk.x ?? '', 'base64url'));
}

/** SHA-256 (hex) of the raw 32-byte public key. */
export function publicKeyFingerprint(publicKey: PublicKeyInput): string {
  return sha256Hex(rawPublicKey(publicKey));
}

/** Ed25519 signature (64 bytes) of `bytes`: deterministic, RFC 8032 §5.1.6. */
export function sign(privateKey: PrivateKeyInput, bytes: Uint8Array): Uint8Array {
  return new Uint8Array(cryptoSign(null, bytes, toPrivateKey(privateKey)));
}

/**
 * True when `signature` is a valid Ed25519 signature of `bytes` under `publicKey` (RFC 8032 §5.1.7). A signature of
 * the wrong length is simply invalid; a malformed public key throws FEDVAL_ERR_TRUST_INVALID_PUBLIC_KEY.
 */
export function verify(publicKey: PublicKeyInput, bytes: Uint8Array, signature: Uint8Array): boolean {
  const key = toPublicKey(publicKey);
  if (!(signature instanceof Uint8Array) || signature.length !== ED25519_SIGNATURE_BYTES) return false;
  return cryptoVerify(null, bytes, key, signature);
}

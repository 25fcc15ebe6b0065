// key-agreement.ts — X25519 key pairs and pairwise secrets (RFC 7748 via node:crypto, HKDF-SHA256 per RFC 5869),
// the key agreement of Bonawitz et al., "Practical Secure Aggregation for Privacy-Preserving Machine Learning", CCS 2017.
import { createPrivateKey, createPublicKey, diffieHellman } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { pairInfo, SECAGG_LABEL } from './context.ts';
import type { PairContext } from './context.ts';
import { SecaggError } from './errors.ts';
import { hkdfSha256 } from './hkdf.ts';
import { drawBytes, systemRandomBytes } from './random-source.ts';
import type { RandomBytes } from './random-source.ts';

/** Raw X25519 keys (RFC 7748 §5: 32-byte little-endian scalar and u-coordinate). */
export interface AgreementKeyPair {
  publicKey: Uint8Array;
  privateKey: Uint8Array;
}

const PKCS8_X25519_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI_X25519_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');
const KEY_BYTES = 32;

/** The salt of every pairwise HKDF: UTF-8 of "fedval/secagg/v1". */
const AGREEMENT_SALT = Buffer.from(SECAGG_LABEL, 'utf8');

function checkRawKey(key: unknown, what: string): Uint8Array {
  if (!(key instanceof Uint8Array) || key.length !== KEY_BYTES) {
    throw new SecaggError('FEDVAL_ERR_SECAGG_INVALID_KEY', `${what} must be a Uint8Array of 32 bytes`);
  }
  return key;
}

function privateKeyObject(privateKey: Uint8Array): KeyObject {
  checkRawKey(privateKey, 'private key');
  return createPrivateKey({ key: Buffer.concat([PKCS8_X25519_PREFIX, privateKey]), format: 'der', type: 'pkcs8' });
}

function publicKeyObject(publicKey: Uint8Array): KeyObject {
  checkRawKey(publicKey, 'public key');
  return createPublicKey({ key: Buffer.concat([SPKI_X25519_PREFIX, publicKey]), format: 'der', type: 'spki' });
}

/** The raw public key of a raw private key (X25519(k, 9), RFC 7748 §6.1). */
export function agreementPublicKey(privateKey: Uint8Array): Uint8Array {
  const spki = createPublicKey(privateKeyObject(privateKey)).export({ format: 'der', type: 'spki' });
  return new Uint8Array(spki.subarray(SPKI_X25519_PREFIX.length));
}

/** A fresh X25519 key pair; the private key is 32 bytes from `random` (clamped by X25519 itself, RFC 7748 §5). */
export function generateAgreementKeyPair(random: RandomBytes = systemRandomBytes): AgreementKeyPair {
  const privateKey = new Uint8Array(drawBytes(random, KEY_BYTES));
  return { publicKey: agreementPublicKey(privateKey), privateKey };
}

/** Raw X25519(myPrivate, theirPublic) (RFC 7748 §6.1); refuses the all-zero output of a low-order public key (§6.1, last paragraph). */
export function x25519(myPrivate: Uint8Array, theirPublic: Uint8Array): Uint8Array {
  const privateKey = privateKeyObject(myPrivate);
  const publicKey = publicKeyObject(theirPublic);
  let shared: Buffer;
  try {
    shared = diffieHellman({ privateKey, publicKey });
  } catch (cause) {
    // OpenSSL refuses to return the all-zero value itself.
    throw new SecaggError('FEDVAL_ERR_SECAGG_LOW_ORDER_KEY', 'the peer public key is of low order', { cause });
  }
  if (shared.every((byte) => byte === 0)) throw new SecaggError('FEDVAL_ERR_SECAGG_LOW_ORDER_KEY', 'the peer public key is of low order');
  return new Uint8Array(shared);
}

/**
 * The 32-byte secret two sites share for `context.purpose` in one round:
 * HKDF-SHA256(ikm = X25519(myPrivate, theirPublic), salt = "fedval/secagg/v1", info = pairInfo(context), 32).
 * Symmetric: both sites get the same bytes whichever of them is `siteA`.
 */
export function agreeSecret(myPrivate: Uint8Array, theirPublic: Uint8Array, context: PairContext): Uint8Array {
  const info = pairInfo(context);
  return hkdfSha256(x25519(myPrivate, theirPublic), AGREEMENT_SALT, info, KEY_BYTES);
}

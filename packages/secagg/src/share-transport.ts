// share-transport.ts — a site's Shamir shares for one peer, sealed with AES-256-GCM (NIST SP 800-38D) under the pair's
// 'share-transport' secret, the AAD binding study, round, sender and recipient (Bonawitz et al., CCS 2017, Round 1
// ShareKeys: u ‖ v ‖ the shares of s_u^SK and b_u, authenticated-encrypted under KA.agree(c_u^SK, c_v^PK)).
//
// Format: sealed = nonce (12 bytes) ‖ ciphertext (135 bytes) ‖ tag (16 bytes) = 163 bytes, where the plaintext is
//   0x01 (format version) ‖ x (uint16 big-endian) ‖ y of the self-mask-seed share (66 bytes big-endian)
//   ‖ y of the agreement-key share (66 bytes big-endian)
// and AAD = lp("fedval/secagg/v1") ‖ lp("share-transport") ‖ lp(studyId) ‖ lp(roundId) ‖ lp(sender) ‖ lp(recipient)
// with lp = 4-byte big-endian byte length then UTF-8 (context.ts). Sender and recipient are not reordered: a
// sealed bundle opens only in its own direction.
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { lengthPrefixed, SECAGG_LABEL } from './context.ts';
import { SecaggError } from './errors.ts';
import { drawBytes, systemRandomBytes } from './random-source.ts';
import type { RandomBytes } from './random-source.ts';
import { decodeShareY, encodeShareY, MAX_SHAREHOLDERS, SHARE_Y_BYTES } from './shamir.ts';

const FORMAT_VERSION = 1;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const PLAINTEXT_BYTES = 1 + 2 + 2 * SHARE_Y_BYTES;
/** Bytes of one sealed bundle: 163. */
export const SEALED_SHARES_BYTES = NONCE_BYTES + PLAINTEXT_BYTES + TAG_BYTES;

/** Who sends shares to whom, in which round. */
export interface ShareTransportBinding {
  studyId: string;
  roundId: string;
  /** The site whose secrets are shared. */
  sender: string;
  /** The site that holds the shares. */
  recipient: string;
}

/** The recipient's shares of the sender's two secrets: both evaluated at the recipient's x. */
export interface SiteShares {
  x: number;
  /** Share of b_u, the sender's self-mask seed. */
  selfMaskSeed: bigint;
  /** Share of s_u^SK, the sender's pairwise-mask agreement private key. */
  agreementKey: bigint;
}

function aad(binding: ShareTransportBinding): Buffer {
  if (binding === null || typeof binding !== 'object') throw new SecaggError('FEDVAL_ERR_SECAGG_INVALID_ARGUMENT', 'binding is not an object');
  for (const key of ['studyId', 'roundId', 'sender', 'recipient'] as const) {
    if (typeof binding[key] !== 'string' || binding[key].length === 0) throw new SecaggError('FEDVAL_ERR_SECAGG_INVALID_ARGUMENT', `binding.${key} must be a non-empty string`);
  }
  if (binding.sender === binding.recipient) throw new SecaggError('FEDVAL_ERR_SECAGG_INVALID_ARGUMENT', 'sender and recipient are the same site');
  return Buffer.concat([SECAGG_LABEL, 'share-transport', binding.studyId, binding.roundId, binding.sender, binding.recipient].map(lengthPrefixed));
}

function checkKey(key: unknown): Uint8Array {
  if (!(key instanceof Uint8Array) || key.length !== 32) throw new SecaggError('FEDVAL_ERR_SECAGG_INVALID_KEY', 'a share-transport key must be 32 bytes');
  return key;
}

/** Seals `shares` for `binding.recipient` under `key` = agreeSecret(c_sender, C_recipient, { purpose: 'share-transport', … }); the nonce is 12 bytes of `random`. */
export function sealShares(key: Uint8Array, binding: ShareTransportBinding, shares: SiteShares, random: RandomBytes = systemRandomBytes): Uint8Array {
  checkKey(key);
  const additional = aad(binding);
  if (shares === null || typeof shares !== 'object' || !Number.isSafeInteger(shares.x) || shares.x < 1 || shares.x > MAX_SHAREHOLDERS) {
    throw new SecaggError('FEDVAL_ERR_SECAGG_INVALID_SHARE', 'x must be an integer in [1, 65535]');
  }
  const plaintext = Buffer.alloc(PLAINTEXT_BYTES);
  plaintext[0] = FORMAT_VERSION;
  plaintext.writeUInt16BE(shares.x, 1);
  plaintext.set(encodeShareY(shares.selfMaskSeed), 3);
  plaintext.set(encodeShareY(shares.agreementKey), 3 + SHARE_Y_BYTES);
  const nonce = drawBytes(random, NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(additional);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return new Uint8Array(Buffer.concat([nonce, body, cipher.getAuthTag()]));
}

/** Opens a bundle sealed by {@link sealShares}; FEDVAL_ERR_SECAGG_SEALED_SHARES_INVALID on a wrong key, binding or length, or any changed byte. */
export function openShares(key: Uint8Array, binding: ShareTransportBinding, sealed: Uint8Array): SiteShares {
  checkKey(key);
  const additional = aad(binding);
  if (!(sealed instanceof Uint8Array) || sealed.length !== SEALED_SHARES_BYTES) {
    throw new SecaggError('FEDVAL_ERR_SECAGG_SEALED_SHARES_INVALID', `expected ${SEALED_SHARES_BYTES} bytes`);
  }
  const nonce = sealed.subarray(0, NONCE_BYTES);
  const body = sealed.subarray(NONCE_BYTES, NONCE_BYTES + PLAINTEXT_BYTES);
  const tag = sealed.subarray(NONCE_BYTES + PLAINTEXT_BYTES);
  let plaintext: Buffer;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
    decipher.setAAD(additional);
    decipher.setAuthTag(tag);
    plaintext = Buffer.concat([decipher.update(body), decipher.final()]);
  } catch (cause) {
    throw new SecaggError('FEDVAL_ERR_SECAGG_SEALED_SHARES_INVALID', 'authentication failed', { cause });
  }
  if (plaintext[0] !== FORMAT_VERSION) throw new SecaggError('FEDVAL_ERR_SECAGG_SEALED_SHARES_INVALID', 'unknown format version');
  const x = plaintext.readUInt16BE(1);
  if (x < 1) throw new SecaggError('FEDVAL_ERR_SECAGG_INVALID_SHARE', 'x must be an integer in [1, 65535]');
  return {
    x,
    selfMaskSeed: decodeShareY(plaintext.subarray(3, 3 + SHARE_Y_BYTES)),
    agreementKey: decodeShareY(plaintext.subarray(3 + SHARE_Y_BYTES)),
  };
}

// keys.ts — key generation and checked loading of serialized SEAL keys.
import type { HeContext } from './context.ts';
import { HeError } from './errors.ts';
import { DEFAULT_HE_LIMITS } from './limits.ts';
import type { Seal } from './seal-runtime.ts';
import { checkSealHeader } from './seal-serialization.ts';

type PublicKey = InstanceType<Seal['PublicKey']>;
type SecretKey = InstanceType<Seal['SecretKey']>;

/** A serialized key pair: the public key goes to the coordinator and the sites, the secret key stays with the key holder. */
export interface HeKeyPair {
  /** SEAL PublicKey, seeded and zstd-compressed. */
  publicKey: Uint8Array;
  /** SEAL SecretKey, zstd-compressed. */
  secretKey: Uint8Array;
}

/** Generates a fresh key pair with SEAL's CSPRNG. */
export function generateKeyPair(ctx: HeContext): HeKeyPair {
  const { seal, context } = ctx.seal;
  const made: { delete(): void }[] = [];
  try {
    return ctx.runtime.guard('FEDVAL_ERR_HE_SEAL_FAILURE', 'generating keys', () => {
      const generator = new seal.KeyGenerator(context);
      made.push(generator);
      const secret = generator.secretKey();
      made.push(secret);
      const seeded = generator.createPublicKeySerializable();
      made.push(seeded);
      return {
        publicKey: new Uint8Array(seeded.saveToArray(seal.ComprModeType.zstd) as Uint8Array),
        secretKey: new Uint8Array(secret.saveToArray(seal.ComprModeType.zstd) as Uint8Array),
      };
    });
  } finally {
    for (const x of made) x.delete();
  }
}

/**
 * Largest serialized key this plan can produce: two polynomials at the key level uncompressed,
 * plus headers and zstd's worst-case expansion; never above DEFAULT_HE_LIMITS.maxKeyBytes.
 */
export function keyByteLimit(ctx: HeContext): number {
  const raw = 256 + 2 * ctx.plan.coeffModulus.length * ctx.plan.polyModulusDegree * 8;
  return Math.min(DEFAULT_HE_LIMITS.maxKeyBytes, Math.ceil(raw * 1.01) + 4096);
}

/** @internal Loads a public key after checking its header; the caller deletes it. */
export function loadPublicKey(ctx: HeContext, bytes: unknown): PublicKey {
  checkSealHeader(bytes, keyByteLimit(ctx), 'public key');
  const { seal, context } = ctx.seal;
  const key = new seal.PublicKey();
  try {
    ctx.runtime.guard('FEDVAL_ERR_HE_KEY_MISMATCH', 'the public key does not load under this plan', () => key.loadFromArray(context, bytes));
    return key;
  } catch (error) {
    key.delete();
    throw refineKeyError(error);
  }
}

/** @internal Loads a secret key after checking its header; the caller deletes it. */
export function loadSecretKey(ctx: HeContext, bytes: unknown): SecretKey {
  checkSealHeader(bytes, keyByteLimit(ctx), 'secret key');
  const { seal, context } = ctx.seal;
  const key = new seal.SecretKey();
  try {
    ctx.runtime.guard('FEDVAL_ERR_HE_KEY_MISMATCH', 'the secret key does not load under this plan', () => key.loadFromArray(context, bytes));
    return key;
  } catch (error) {
    key.delete();
    throw refineKeyError(error);
  }
}

// SEAL says "... data is invalid" when well-formed key data fails is_valid_for (other
// parameters); anything else (I/O, decompression) means the bytes themselves are broken.
function refineKeyError(error: unknown): unknown {
  if (error instanceof HeError && error.code === 'FEDVAL_ERR_HE_KEY_MISMATCH') {
    const reason = error.cause instanceof Error ? error.cause.message : '';
    if (!/is invalid/.test(reason)) return new HeError('FEDVAL_ERR_HE_KEY_MALFORMED', 'SEAL could not read the key', { cause: error.cause });
  }
  return error;
}

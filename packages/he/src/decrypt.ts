// decrypt.ts — the key holder's side: expand the aggregate into SEAL ciphertexts, check the noise budget, decrypt, decode exact sums.
import { fromLimbs } from './bit-io.ts';
import type { HeContext } from './context.ts';
import { HeError } from './errors.ts';
import { loadSecretKey } from './keys.ts';
import { addSlotMask } from './encrypt.ts';
import { unpackSums } from './packing.ts';
import { modPow } from './primes.ts';
import { buildSealCiphertext } from './seal-serialization.ts';
import { readFields, readHeader } from './wire-format.ts';
import type { CiphertextHeader, EncryptedVector } from './wire-format.ts';

/**
 * Decrypts an aggregate made by EncryptedSum and returns the exact signed sums per entry.
 * `contributions` is the key holder's own count of what was summed; it must match the aggregate.
 * A wrong secret key or a damaged aggregate is detected (noise budget, digit ranges) and refused.
 */
export function decryptVector(ctx: HeContext, secretKey: Uint8Array, aggregate: EncryptedVector, contributions: number, options: DecryptOptions = {}): Float64Array {
  const slots = decryptAggregateSlots(ctx, secretKey, aggregate, contributions);
  if (options.slotUnmask) addSlotMask(slots, options.slotUnmask, ctx.layout.plainModulus, -1n);
  return unpackSums(ctx.layout, slots, contributions);
}

export interface DecryptOptions {
  /** Secure aggregation: the sum of the masks left in the aggregate, per slot in [0, t), subtracted mod t before unpacking. */
  slotUnmask?: BigUint64Array | undefined;
}

/**
 * The raw slot values of an aggregate, centred in (−t/2, t/2), before unpacking: what a key holder sees of a masked
 * sum. For secure aggregation's unmasking and for the tests that play a colluding key holder.
 */
export function decryptAggregateSlots(ctx: HeContext, secretKey: Uint8Array, aggregate: EncryptedVector, contributions: number): BigInt64Array {
  if (!Number.isSafeInteger(contributions) || contributions < 1 || contributions > ctx.plan.maxSites) {
    throw new HeError('FEDVAL_ERR_HE_CONTRIBUTION_COUNT', `contributions must be an integer in [1, ${ctx.plan.maxSites}]`);
  }
  const headers = checkVector(ctx, aggregate);
  for (const h of headers) {
    if (h.kind !== 'aggregate') throw new HeError('FEDVAL_ERR_HE_CIPHERTEXT_MALFORMED', 'only an aggregate made by EncryptedSum is decrypted');
    if (h.contributions !== contributions) {
      throw new HeError('FEDVAL_ERR_HE_CONTRIBUTION_COUNT', `the aggregate holds ${h.contributions} contributions, ${contributions} were expected`);
    }
  }
  const degree = ctx.plan.polyModulusDegree;
  const slots = new BigInt64Array(ctx.plan.ciphertextCount * degree);
  withDecryptor(ctx, secretKey, aggregate, (index, decrypt) => {
    slots.set(decrypt(), index * degree);
  });
  return slots;
}

/**
 * SEAL's invariant noise budget (bits) of each ciphertext of an aggregate or contribution:
 * how far the noise is from making decryption fail. Diagnostics and tests.
 */
export function measureNoiseBudget(ctx: HeContext, secretKey: Uint8Array, encrypted: EncryptedVector): number[] {
  checkVector(ctx, encrypted);
  const budgets: number[] = [];
  withDecryptor(ctx, secretKey, encrypted, (_index, _decrypt, budget) => budgets.push(budget));
  return budgets;
}

function checkVector(ctx: HeContext, vector: EncryptedVector): CiphertextHeader[] {
  void ctx.seal; // throws once the context is disposed
  const list = vector?.ciphertexts;
  if (!Array.isArray(list) || list.length !== ctx.plan.ciphertextCount) {
    throw new HeError('FEDVAL_ERR_HE_CIPHERTEXT_COUNT', `got ${Array.isArray(list) ? list.length : 'no'} ciphertexts, the plan has ${ctx.plan.ciphertextCount}`);
  }
  return list.map((bytes, i) => readHeader(bytes, ctx.geometry, ctx.fingerprintBytes, i, ctx.plan.maxSites));
}

/** Loads the key once, then for each ciphertext: expand, load into SEAL, measure the budget, hand over a decrypt function. */
function withDecryptor(
  ctx: HeContext,
  secretKey: Uint8Array,
  vector: EncryptedVector,
  visit: (index: number, decrypt: () => BigInt64Array, budget: number) => void,
): void {
  const { seal, context, encoder } = ctx.seal;
  const key = loadSecretKey(ctx, secretKey);
  let decryptor: InstanceType<typeof seal.Decryptor> | undefined;
  try {
    decryptor = ctx.runtime.guard('FEDVAL_ERR_HE_KEY_MISMATCH', 'SEAL refused the secret key', () => new seal.Decryptor(context, key));
    const sealDecryptor = decryptor;
    vector.ciphertexts.forEach((bytes, index) => {
      const sealBytes = buildSealCiphertext(ctx.shape, expandCiphertext(ctx, bytes, index));
      const cipher = new seal.Ciphertext();
      try {
        const budget = ctx.runtime.guard('FEDVAL_ERR_HE_SEAL_FAILURE', `loading ciphertext ${index}`, () => {
          cipher.loadFromArray(context, sealBytes);
          return sealDecryptor.invariantNoiseBudget(cipher);
        });
        visit(index, () => {
          if (budget < 1) throw new HeError('FEDVAL_ERR_HE_DECRYPTION_FAILED', `ciphertext ${index} has no noise budget left`);
          return ctx.runtime.guard('FEDVAL_ERR_HE_SEAL_FAILURE', `decrypting ciphertext ${index}`, () => {
            const plain = new seal.Plaintext();
            try {
              sealDecryptor.decrypt(cipher, plain);
              return BigInt64Array.from(encoder.decodeBigInt64(plain) as BigInt64Array);
            } finally {
              plain.delete();
            }
          });
        }, budget);
      } finally {
        cipher.delete();
      }
    });
  } finally {
    decryptor?.delete();
    key.delete();
  }
}

/** SEAL's residue layout [c0 per prime][c1 per prime] of one wire ciphertext, c0 = 2^d·Y mod q'. */
function expandCiphertext(ctx: HeContext, bytes: Uint8Array, index: number): BigUint64Array {
  const g = ctx.geometry;
  const n = g.degree;
  const primes = g.primes;
  const kind = bytes[5] === 1 ? 'contribution' : 'aggregate';
  const residues = new BigUint64Array(2 * primes.length * n);
  const scale = primes.map((q) => modPow(2n, BigInt(g.c0DroppedBits), q));
  readFields(bytes, g, kind, index, (group, j, limbs, count) => {
    const value = fromLimbs(limbs, 0, count);
    if (group === 0) {
      primes.forEach((q, i) => {
        residues[i * n + j] = ((value % q) * (scale[i] as bigint)) % q;
      });
    } else {
      residues[(primes.length + group - 1) * n + j] = value;
    }
  });
  return residues;
}

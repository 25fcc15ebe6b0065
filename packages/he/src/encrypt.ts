// encrypt.ts — a site's side: pack the signed vector into slots, encrypt with the public key, compress into the wire format.
import { BitWriter } from './bit-io.ts';
import type { HeContext } from './context.ts';
import { HeError } from './errors.ts';
import { loadPublicKey } from './keys.ts';
import { packVector } from './packing.ts';
import type { Seal } from './seal-runtime.ts';
import { readSealCiphertext } from './seal-serialization.ts';
import { HEADER_BYTES, writeChecksum, writeHeader } from './wire-format.ts';
import type { EncryptedVector } from './wire-format.ts';

export interface EncryptOptions {
  /**
   * Secure aggregation: a mask in [0, t) per slot (plan.ciphertextCount × polyModulusDegree of them) added to the packed
   * slot values mod t before encoding (Bonawitz et al., CCS 2017). A masked slot is uniform mod t; only the sum over
   * every masked site, unmasked mod t, reads back through the packing (see {@link addSlotMask}).
   */
  slotMask?: BigUint64Array | undefined;
}

/**
 * `slots[i] ← centred((slots[i] + sign·mask[i]) mod t)`, in place. The packing's guarantee is about the true sum of at
 * most maxSites slot values: it lies in (−t/2, t/2), so it is the centred representative of its residue mod t. Masks
 * added mod t therefore compose with the mixed-radix packing whatever it packs into a slot: once the masks are
 * subtracted mod t the residue is the true sum's, and its centred representative is the true sum itself.
 */
export function addSlotMask(slots: BigInt64Array, mask: BigUint64Array, plainModulus: bigint, sign: 1n | -1n): void {
  if (mask.length !== slots.length) throw new HeError('FEDVAL_ERR_HE_INVALID_PLAN', `the slot mask has ${mask.length} entries, the plan ${slots.length} slots`);
  const t = plainModulus;
  const half = (t - 1n) / 2n;
  for (let i = 0; i < slots.length; i++) {
    const m = mask[i] as bigint;
    if (m >= t) throw new HeError('FEDVAL_ERR_HE_VALUE_OUT_OF_RANGE', `slot mask ${i} is not below t`);
    let v = ((slots[i] as bigint) + sign * m) % t;
    if (v < 0n) v += t;
    slots[i] = v > half ? v - t : v;
  }
}

/** Encrypts vectors under one public key; reuse it for many vectors, then dispose. */
export class VectorEncryptor {
  private readonly ctx: HeContext;
  private readonly encryptor: InstanceType<Seal['Encryptor']>;
  private disposed = false;

  /** Checks and loads the public key (coded errors for bad bytes or a key of other parameters). */
  constructor(ctx: HeContext, publicKey: Uint8Array) {
    this.ctx = ctx;
    const { seal, context } = ctx.seal;
    const key = loadPublicKey(ctx, publicKey);
    try {
      this.encryptor = ctx.runtime.guard('FEDVAL_ERR_HE_KEY_MISMATCH', 'SEAL refused the public key', () => new seal.Encryptor(context, key));
    } finally {
      key.delete();
    }
  }

  /**
   * Encrypts one site's vector: signed safe integers, each within the plan's bound for its entry
   * (checked before any encryption). Returns the plan's ciphertextCount contribution ciphertexts.
   */
  encrypt(values: ArrayLike<number>, options: EncryptOptions = {}): EncryptedVector {
    if (this.disposed) throw new HeError('FEDVAL_ERR_HE_DISPOSED', 'the encryptor');
    const ctx = this.ctx;
    const { seal, encoder } = ctx.seal;
    const degree = ctx.plan.polyModulusDegree;
    const slots = packVector(ctx.layout, values, ctx.plan.ciphertextCount * degree);
    if (options.slotMask) addSlotMask(slots, options.slotMask, ctx.layout.plainModulus, 1n);
    const ciphertexts: Uint8Array[] = [];
    for (let index = 0; index < ctx.plan.ciphertextCount; index++) {
      const chunk = slots.slice(index * degree, (index + 1) * degree);
      const sealBytes = ctx.runtime.guard('FEDVAL_ERR_HE_SEAL_FAILURE', `encrypting ciphertext ${index}`, () => {
        const plain = new seal.Plaintext();
        const cipher = new seal.Ciphertext();
        try {
          encoder.encode(chunk, plain);
          this.encryptor.encrypt(plain, cipher);
          return new Uint8Array(cipher.saveToArray(seal.ComprModeType.none) as Uint8Array);
        } finally {
          plain.delete();
          cipher.delete();
        }
      });
      ciphertexts.push(compressContribution(ctx, readSealCiphertext(sealBytes, ctx.shape), index));
    }
    return { ciphertexts };
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.encryptor.delete();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** One-shot encryption: loads the public key, encrypts, frees everything. */
export function encryptVector(ctx: HeContext, publicKey: Uint8Array, values: ArrayLike<number>, options: EncryptOptions = {}): EncryptedVector {
  const encryptor = new VectorEncryptor(ctx, publicKey);
  try {
    return encryptor.encrypt(values, options);
  } finally {
    encryptor.dispose();
  }
}

/**
 * c0 is recombined from its residues (CRT) and rounded to a multiple of 2^d, sent as Y = round(c0/2^d)
 * (component-wise modulus switching, Menon & Wu, Spiral, IEEE S&P 2022, §3.3); c1 is sent as residues.
 */
function compressContribution(ctx: HeContext, residues: BigUint64Array, index: number): Uint8Array {
  const g = ctx.geometry;
  const n = g.degree;
  const primes = g.primes.length;
  const bytes = new Uint8Array(g.contributionBytes);
  writeHeader(bytes, { kind: 'contribution', index, contributions: 1 }, ctx.fingerprintBytes);
  const writer = new BitWriter(bytes, HEADER_BYTES);
  const d = BigInt(g.c0DroppedBits);
  const half = g.c0DroppedBits > 0 ? 1n << (d - 1n) : 0n;
  const weights = ctx.crtWeights;
  for (let j = 0; j < n; j++) {
    let x = 0n;
    for (let i = 0; i < primes; i++) x += (residues[i * n + j] as bigint) * (weights[i] as bigint);
    writer.writeBig(((x % g.modulus) + half) >> d, g.c0BitsContribution);
  }
  for (let i = 0; i < primes; i++) {
    const bits = g.primeBits[i] as number;
    for (let j = 0, at = (primes + i) * n; j < n; j++) writer.writeBig(residues[at + j] as bigint, bits);
  }
  writeChecksum(bytes);
  return bytes;
}

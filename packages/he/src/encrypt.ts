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
  encrypt(values: ArrayLike<number>): EncryptedVector {
    if (this.disposed) throw new HeError('FEDVAL_ERR_HE_DISPOSED', 'the encryptor');
    const ctx = this.ctx;
    const { seal, encoder } = ctx.seal;
    const degree = ctx.plan.polyModulusDegree;
    const slots = packVector(ctx.layout, values, ctx.plan.ciphertextCount * degree);
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
export function encryptVector(ctx: HeContext, publicKey: Uint8Array, values: ArrayLike<number>): EncryptedVector {
  const encryptor = new VectorEncryptor(ctx, publicKey);
  try {
    return encryptor.encrypt(values);
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

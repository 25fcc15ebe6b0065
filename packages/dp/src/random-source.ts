// random-source.ts — where noise randomness comes from, and exact uniform and Bernoulli draws on top of it.
import { createCipheriv, createHash, randomFillSync } from 'node:crypto';
import { DpError } from './errors.ts';

/**
 * A source of independent, uniformly random 32-bit words. Production code uses
 * {@link cryptoRandomSource}; tests use {@link seededRandomSource}.
 */
export interface RandomSource {
  /** Returns 32 fresh uniformly random bits as an integer in [0, 2^32). */
  nextUint32(): number;
}

/** Options of the buffered random sources. */
export interface RandomSourceOptions {
  /** Bytes generated per refill. Default 64 KiB; larger buffers amortise the crypto call. */
  bufferBytes: number;
}

export const DEFAULT_RANDOM_SOURCE_OPTIONS: Readonly<RandomSourceOptions> = Object.freeze({
  bufferBytes: 64 * 1024, // 64 KiB
});

function resolveBufferBytes(options: Partial<RandomSourceOptions> | undefined): number {
  const bytes = options?.bufferBytes ?? DEFAULT_RANDOM_SOURCE_OPTIONS.bufferBytes;
  if (!Number.isSafeInteger(bytes) || bytes < 4 || bytes % 4 !== 0 || bytes > 64 * 1024 * 1024) {
    throw new DpError('FEDVAL_ERR_DP_INVALID_ARGUMENT', 'bufferBytes must be a multiple of 4 between 4 and 64 MiB');
  }
  return bytes;
}

/** A word reader over a byte buffer that `refill` overwrites whenever it runs dry. */
class BufferedWords implements RandomSource {
  readonly #bytes: Uint8Array;
  readonly #refill: (target: Uint8Array) => void;
  #position: number;

  constructor(bufferBytes: number, refill: (target: Uint8Array) => void) {
    this.#bytes = new Uint8Array(bufferBytes);
    this.#refill = refill;
    this.#position = bufferBytes;
  }

  nextUint32(): number {
    if (this.#position === this.#bytes.length) {
      this.#refill(this.#bytes);
      this.#position = 0;
    }
    const b = this.#bytes;
    const p = this.#position;
    this.#position = p + 4;
    // Little-endian on every platform, so a seeded stream is the same everywhere.
    return (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)) >>> 0;
  }
}

/** The operating system CSPRNG (node:crypto `randomFillSync`), buffered. */
export function cryptoRandomSource(options?: Partial<RandomSourceOptions>): RandomSource {
  return new BufferedWords(resolveBufferBytes(options), (target) => {
    randomFillSync(target);
  });
}

/**
 * A deterministic generator for tests and reproducible simulations: the ChaCha20 keystream
 * (RFC 8439) under the key SHA-256(seed), nonce and counter zero. Never use it for real releases.
 */
export function seededRandomSource(seed: string | Uint8Array, options?: Partial<RandomSourceOptions>): RandomSource {
  const seedBytes = typeof seed === 'string' ? new TextEncoder().encode(seed) : seed;
  if (seedBytes.length === 0) throw new DpError('FEDVAL_ERR_DP_INVALID_SEED');
  const key = createHash('sha256').update(seedBytes).digest();
  const cipher = createCipheriv('chacha20', key, Buffer.alloc(16));
  const bufferBytes = resolveBufferBytes(options);
  const zeros = new Uint8Array(bufferBytes);
  return new BufferedWords(bufferBytes, (target) => {
    const keystream = cipher.update(zeros);
    target.set(keystream);
  });
}

const TWO_POW_32 = 0x1_0000_0000;

/**
 * Uniform integer in [0, n) for 1 ≤ n ≤ 2^32, by rejection on the top bits of one word at a time:
 * exact, no modulo bias, fewer than two words on average.
 */
export function uniformBelowSmall(rng: RandomSource, n: number): number {
  if (n === 1) return 0;
  const shift = Math.clz32(n - 1); // keep 32 - shift bits, enough to write n - 1
  for (;;) {
    const x = rng.nextUint32() >>> shift;
    if (x < n) return x;
  }
}

/** Uniform integer in [0, n) for any bigint n ≥ 1, by exact rejection sampling over whole 32-bit words. */
export function uniformBelow(rng: RandomSource, n: bigint): bigint {
  if (n <= 0n) throw new DpError('FEDVAL_ERR_DP_INVALID_ARGUMENT', 'uniform range must be at least 1');
  if (n <= BigInt(TWO_POW_32)) return BigInt(uniformBelowSmall(rng, Number(n)));
  const bits = (n - 1n).toString(2).length;
  const words = Math.ceil(bits / 32);
  const topShift = words * 32 - bits;
  for (;;) {
    let x = BigInt(rng.nextUint32() >>> topShift);
    for (let i = 1; i < words; i += 1) x = (x << 32n) | BigInt(rng.nextUint32());
    if (x < n) return x;
  }
}

/** Bernoulli(numerator / denominator) for 0 ≤ numerator ≤ denominator: exact comparison of a uniform draw. */
export function bernoulliRational(rng: RandomSource, numerator: bigint, denominator: bigint): boolean {
  if (denominator <= BigInt(TWO_POW_32)) {
    return uniformBelowSmall(rng, Number(denominator)) < Number(numerator);
  }
  return uniformBelow(rng, denominator) < numerator;
}

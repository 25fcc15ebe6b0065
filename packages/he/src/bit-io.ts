// bit-io.ts — fixed-width little-endian bit fields over a byte array, in 24-bit limbs.

/** Limb width: sums of up to 2^29 limbs stay exact in float64. */
export const LIMB_BITS = 24;
const LIMB_MASK = (1 << LIMB_BITS) - 1;

export function limbCount(bits: number): number {
  return Math.ceil(bits / LIMB_BITS);
}

export class BitWriter {
  readonly bytes: Uint8Array;
  private bit: number;

  constructor(bytes: Uint8Array, startByte: number) {
    this.bytes = bytes;
    this.bit = startByte * 8;
  }

  /** Writes the low `bits` (≤ 24) bits of a non-negative integer. */
  write(value: number, bits: number): void {
    let byte = this.bit >>> 3;
    let v = value * 2 ** (this.bit & 7); // < 2^31, exact
    let left = bits + (this.bit & 7);
    while (left > 0) {
      this.bytes[byte] = (this.bytes[byte] as number) | (v & 0xff);
      v = Math.floor(v / 256);
      byte += 1;
      left -= 8;
    }
    this.bit += bits;
  }

  /** Writes a non-negative bigint of at most `bits` bits. */
  writeBig(value: bigint, bits: number): void {
    let rest = value;
    for (let left = bits; left > 0; left -= LIMB_BITS) {
      this.write(Number(rest & 0xffffffn), Math.min(LIMB_BITS, left));
      rest >>= 24n;
    }
  }
}

export class BitReader {
  private readonly bytes: Uint8Array;
  private bit: number;

  constructor(bytes: Uint8Array, startByte: number) {
    this.bytes = bytes;
    this.bit = startByte * 8;
  }

  /** Reads `bits` (≤ 24) bits as a non-negative integer. */
  read(bits: number): number {
    const byte = this.bit >>> 3;
    const shift = this.bit & 7;
    const b = this.bytes;
    const word = ((b[byte] ?? 0) | ((b[byte + 1] ?? 0) << 8) | ((b[byte + 2] ?? 0) << 16) | ((b[byte + 3] ?? 0) << 24)) >>> 0;
    this.bit += bits;
    return (word >>> shift) & (bits === LIMB_BITS ? LIMB_MASK : (1 << bits) - 1);
  }

  /** Reads a field of `bits` bits into `limbs` (low limb first); returns the number of limbs. */
  readLimbs(bits: number, limbs: Float64Array): number {
    let i = 0;
    for (let left = bits; left > 0; left -= LIMB_BITS) limbs[i++] = this.read(Math.min(LIMB_BITS, left));
    return i;
  }
}

/** The 24-bit limbs of a non-negative bigint, low first, padded to `count`. */
export function toLimbs(value: bigint, count: number): Float64Array {
  const limbs = new Float64Array(count);
  let rest = value;
  for (let i = 0; i < count; i++, rest >>= 24n) limbs[i] = Number(rest & 0xffffffn);
  return limbs;
}

/** Σ limbs[i]·2^(24i) for limbs that may exceed 24 bits (running sums). */
export function fromLimbs(limbs: Float64Array, start: number, count: number): bigint {
  let value = 0n;
  for (let i = count - 1; i >= 0; i--) value = (value << 24n) + BigInt(limbs[start + i] as number);
  return value;
}

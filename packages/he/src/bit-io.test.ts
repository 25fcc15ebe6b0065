// Reference: the same fields written as one BigInt bit string (LSB first) and read back with BigInt shifts.
import { describe, expect, it } from 'vitest';
import { BitReader, BitWriter, fromLimbs, limbCount, toLimbs } from './bit-io.ts';

describe('bit-io', () => {
  it('round-trips fields of 1 to 130 bits at any alignment, LSB first', () => {
    let seed = 12345n;
    const next = (bits: number): bigint => {
      let v = 0n;
      for (let i = 0; i < bits; i += 31) {
        seed = (seed * 6364136223846793005n + 1442695040888963407n) & ((1n << 64n) - 1n);
        v = (v << 31n) | (seed >> 33n);
      }
      return v & ((1n << BigInt(bits)) - 1n);
    };
    const widths = Array.from({ length: 400 }, (_, i) => 1 + ((i * 37) % 130));
    const values = widths.map(next);
    const totalBits = widths.reduce((a, b) => a + b, 0);
    const bytes = new Uint8Array(3 + Math.ceil(totalBits / 8));
    const writer = new BitWriter(bytes, 3);
    widths.forEach((w, i) => writer.writeBig(values[i] as bigint, w));
    // Independent reading of the same bytes: one little-endian integer, fields from the low end.
    let all = 0n;
    for (let i = bytes.length - 1; i >= 3; i--) all = (all << 8n) | BigInt(bytes[i] as number);
    let offset = 0n;
    widths.forEach((w, i) => {
      expect((all >> offset) & ((1n << BigInt(w)) - 1n)).toBe(values[i]);
      offset += BigInt(w);
    });
    const reader = new BitReader(bytes, 3);
    const limbs = new Float64Array(8);
    widths.forEach((w, i) => {
      const n = reader.readLimbs(w, limbs);
      expect(n).toBe(limbCount(w));
      expect(fromLimbs(limbs, 0, n)).toBe(values[i]);
    });
  });

  it('sums limbs beyond 24 bits exactly', () => {
    const a = (1n << 70n) - 12345n;
    const limbs = toLimbs(a, 3);
    expect(fromLimbs(limbs, 0, 3)).toBe(a);
    for (let i = 0; i < 3; i++) limbs[i] = (limbs[i] as number) * 1000;
    expect(fromLimbs(limbs, 0, 3)).toBe(a * 1000n);
  });
});

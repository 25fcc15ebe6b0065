import { describe, expect, it } from 'vitest';
import { chiSquareUniform } from '../test-support/chi-square.ts';
import { streamBytes } from '../test-support/deterministic-random.ts';
import { hex, references } from '../test-support/references.ts';
import { agreeSecret, agreementPublicKey } from './key-agreement.ts';
import { maskCorrection, maskVector, SELF_MASK_INFO, unmaskSum } from './masking.ts';
import { expandMask } from './prg.ts';
import type { DroppedPairMask, MaskSeeds } from './masking.ts';
import { pairwiseSign } from './site-order.ts';

const examples = [['the BigInt path (t > 2^52)', references.masking], ['the float64 path (t ≤ 2^52)', references.maskingFloat]] as const;

describe.each(examples)('maskVector and unmaskSum on %s (Bonawitz et al. 2017 double masking)', (_, ref) => {
  const t = BigInt(ref.t);
  const names = Object.keys(ref.inputs).sort();
  const publicKeys = Object.fromEntries(names.map((s) => [s, agreementPublicKey(hex(ref.privateKeys[s] as string))]));
  const context = (a: string, b: string) => ({ purpose: 'pairwise-mask' as const, studyId: ref.studyId, roundId: ref.roundId, siteA: a, siteB: b });
  const seedsOf = (u: string, peers: readonly string[]): MaskSeeds => ({
    selfSeed: hex(ref.selfSeeds[u] as string),
    pairwise: peers.filter((v) => v !== u).map((v) => ({
      peerId: v,
      sign: pairwiseSign(u, v),
      secret: agreeSecret(hex(ref.privateKeys[u] as string), publicKeys[v] as Uint8Array, context(u, v)),
    })),
  });

  it('masks every site exactly as the independent Python implementation does', () => {
    for (const u of names) {
      expect([...maskVector(ref.inputs[u] as number[], seedsOf(u, names), t)].map(String)).toEqual(ref.masked[u]);
    }
  });

  it('removes the survivors\' masks after a dropout: the correction and the unmasked sum match Python and equal the survivors\' plain sum', () => {
    const sum = ref.survivors.map((u) => maskVector(ref.inputs[u] as number[], seedsOf(u, names), t))
      .reduce((acc, y) => acc.map((a, i) => a + (y[i] as bigint)), new Array<bigint>(16).fill(0n));
    // The dropped site's agreement key, reconstructed from shares, recomputes each survivor's pair secret with it.
    const droppedPairs: DroppedPairMask[] = ref.survivors.flatMap((u) => ref.dropped.map((v) => ({
      secret: agreeSecret(hex(ref.privateKeys[v] as string), publicKeys[u] as Uint8Array, context(v, u)),
      sign: pairwiseSign(u, v),
    })));
    const seeds = { selfSeeds: ref.survivors.map((u) => hex(ref.selfSeeds[u] as string)), droppedPairs };
    expect([...maskCorrection(16, seeds, t)].map(String)).toEqual(ref.correction);
    const unmasked = unmaskSum(sum, seeds, t);
    expect([...unmasked].map(String)).toEqual(ref.unmaskedSum);
    const plain = Array.from({ length: 16 }, (_, j) => ref.survivors.reduce((s, u) => s + BigInt((ref.inputs[u] as number[])[j] as number), 0n));
    expect([...unmasked]).toEqual(plain);
  });

  it('cancels every pairwise mask in the sum of all sites: sum of masked vectors − self masks ≡ sum of inputs (mod t)', () => {
    const masked = names.map((u) => maskVector(ref.inputs[u] as number[], seedsOf(u, names), t));
    const sum = masked.reduce((acc, y) => acc.map((a, i) => a + (y[i] as bigint)), new Array<bigint>(16).fill(0n));
    const unmasked = unmaskSum(sum, { selfSeeds: names.map((u) => hex(ref.selfSeeds[u] as string)), droppedPairs: [] }, t);
    const plain = Array.from({ length: 16 }, (_, j) => names.reduce((s, u) => s + BigInt((ref.inputs[u] as number[])[j] as number), 0n));
    expect([...unmasked]).toEqual(plain);
  });
});

describe('masking, statistically and on bad input', () => {
  const t = BigInt(references.masking.t);

  it('makes one site\'s masked vector, and any partial sum, look uniform mod t (chi-square, 64 bins, false-alarm rate 1e-6, fixed seed)', () => {
    const { bins, critical } = references.uniformity;
    const length = 64 * 300;
    const sites = ['h1', 'h2', 'h3'];
    // A highly structured vector: small counts, mostly zeros, as a statistics vector is.
    const inputs = Object.fromEntries(sites.map((s, k) => [s, Array.from({ length }, (_, i) => (i % 50 === 0 ? 40 + k : i % 7 === 0 ? 1 : 0))]));
    const secret = (a: string, b: string) => streamBytes(`pair ${[a, b].sort().join(' ')}`, 32);
    const seeds = (u: string): MaskSeeds => ({
      selfSeed: streamBytes(`self ${u}`, 32),
      pairwise: sites.filter((v) => v !== u).map((v) => ({ peerId: v, secret: secret(u, v), sign: pairwiseSign(u, v) })),
    });
    const masked = sites.map((u) => maskVector(inputs[u] as number[], seeds(u), t));
    // The test has power: the plain vector is far from uniform.
    expect(chiSquareUniform((inputs.h1 as number[]).map(BigInt), t, bins)).toBeGreaterThan(100 * critical);
    expect(chiSquareUniform(masked[0] as BigInt64Array, t, bins)).toBeLessThan(critical);
    const partial = (masked[0] as BigInt64Array).map((v, i) => v + ((masked[1] as BigInt64Array)[i] as bigint));
    expect(chiSquareUniform(partial, t, bins)).toBeLessThan(critical);
    // The sum of all sites still carries every self mask: uniform until the survivors' shares remove them.
    const full = partial.map((v, i) => v + ((masked[2] as BigInt64Array)[i] as bigint));
    expect(chiSquareUniform(full, t, bins)).toBeLessThan(critical);
    // Every pairwise mask cancels: Σ y_u − Σ PRG(b_u) ≡ Σ x_u (mod t), with the self masks expanded directly.
    const selfMasks = sites.map((u) => expandMask(streamBytes(`self ${u}`, 32), SELF_MASK_INFO, length, t));
    for (let i = 0; i < length; i++) {
      const residual = (full[i] as bigint) - selfMasks.reduce((s, m) => s + (m[i] as bigint), 0n) - sites.reduce((s, u) => s + BigInt((inputs[u] as number[])[i] as number), 0n);
      expect(residual % t).toBe(0n);
    }
    const unmasked = unmaskSum(full, { selfSeeds: sites.map((u) => streamBytes(`self ${u}`, 32)), droppedPairs: [] }, t);
    expect([...unmasked]).toEqual(Array.from({ length }, (_, i) => sites.reduce((s, u) => s + BigInt((inputs[u] as number[])[i] as number), 0n)));
  });

  it('refuses a bad sign, a repeated peer and a bad modulus with coded errors', () => {
    const selfSeed = new Uint8Array(32);
    const secret = new Uint8Array(32).fill(1);
    expect(() => maskVector([1], { selfSeed, pairwise: [{ peerId: 'b', secret, sign: 0 as 1 }] }, t)).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_SECAGG_INVALID_ARGUMENT' }));
    expect(() => maskVector([1], { selfSeed, pairwise: [{ peerId: 'b', secret, sign: 1 }, { peerId: 'b', secret, sign: 1 }] }, t))
      .toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_SECAGG_INVALID_ARGUMENT' }));
    expect(() => maskVector([1], { selfSeed: new Uint8Array(16), pairwise: [] }, t)).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_SECAGG_INVALID_ARGUMENT' }));
    expect(() => maskVector([1], { selfSeed, pairwise: [] }, 1n)).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_SECAGG_INVALID_MODULUS' }));
    expect(() => unmaskSum([1n], { selfSeeds: [], droppedPairs: [{ secret, sign: 2 as 1 }] }, t)).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_SECAGG_INVALID_ARGUMENT' }));
    expect(() => maskVector(null as unknown as number[], { selfSeed, pairwise: [] }, t)).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_SECAGG_INVALID_ARGUMENT' }));
    expect(() => unmaskSum(5 as unknown as bigint[], { selfSeeds: [], droppedPairs: [] }, t)).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_SECAGG_INVALID_ARGUMENT' }));
    expect(() => maskVector([0.5], { selfSeed, pairwise: [] }, t)).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_SECAGG_INVALID_ARGUMENT' }));
    expect(() => maskCorrection(-1, { selfSeeds: [], droppedPairs: [] }, t)).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_SECAGG_INVALID_ARGUMENT' }));
  });
});

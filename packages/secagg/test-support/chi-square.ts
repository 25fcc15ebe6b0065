// chi-square.ts — Pearson's chi-square statistic of residues mod t against the uniform distribution on [0, t), in
// `bins` bins by ⌊r·bins/t⌋, with each bin's exact probability (its count of integers divided by t).
export function chiSquareUniform(residues: ArrayLike<bigint>, t: bigint, bins: number): number {
  const counts = new Float64Array(bins);
  const b = BigInt(bins);
  for (let i = 0; i < residues.length; i++) {
    let r = (residues[i] as bigint) % t;
    if (r < 0n) r += t;
    counts[Number((r * b) / t)]! += 1;
  }
  // Integers r with ⌊r·bins/t⌋ = k are those in [⌈k·t/bins⌉, ⌈(k+1)·t/bins⌉).
  const ceilDiv = (a: bigint, d: bigint): bigint => (a + d - 1n) / d;
  let statistic = 0;
  for (let k = 0; k < bins; k++) {
    const size = ceilDiv(BigInt(k + 1) * t, b) - ceilDiv(BigInt(k) * t, b);
    const expected = (residues.length * Number(size)) / Number(t);
    statistic += ((counts[k] as number) - expected) ** 2 / expected;
  }
  return statistic;
}

// dp-sampler.ts — draws per second of the exact samplers and the time to noise a realistic statistics vector (prints JSON).
// Run: node tests/bench/dp-sampler.ts
import { addNoise, cryptoRandomSource, discreteGaussianSampler, planRelease, rational, samplePoisson, seededRandomSource } from '@fedval/dp';
import type { RandomSource } from '@fedval/dp';

function drawsPerSecond(draw: () => unknown, count: number): number {
  for (let i = 0; i < 1000; i += 1) draw();
  const start = performance.now();
  for (let i = 0; i < count; i += 1) draw();
  return Math.round(count / ((performance.now() - start) / 1000));
}

const sources: [string, RandomSource][] = [
  ['seeded ChaCha20', seededRandomSource('dp-sampler bench')],
  ['node:crypto', cryptoRandomSource()],
];
const samplers = [];
for (const [sourceName, rng] of sources) {
  for (const sigma2 of [rational(1n, 4n), rational(9n), rational(22_500n), rational(1_000_000n)]) {
    const sampler = discreteGaussianSampler(sigma2);
    samplers.push({ sampler: 'discrete gaussian', source: sourceName, sigma2: `${sigma2.numerator}/${sigma2.denominator}`, drawsPerSecond: drawsPerSecond(() => sampler.sample(rng), 200_000) });
  }
  for (const lambda of [rational(1n), rational(50n), rational(500n, 3n)]) {
    samplers.push({ sampler: 'poisson', source: sourceName, lambda: `${lambda.numerator}/${lambda.denominator}`, drawsPerSecond: drawsPerSecond(() => samplePoisson(rng, lambda), 20_000) });
  }
}

// A full site vector: class trees over all 1 000 fine bins (branching 4), overall and one 2-level subgroup.
const vectors = [];
for (const mechanism of ['skellam', 'discrete-gaussian'] as const) {
  const plan = planRelease({ patients: 20000, prevalence: 0.3, sites: 3, epsilon: 1, delta: 1e-6, subgroupLevels: [2], mechanism, layout: { kind: 'tree', bins: 1000, branching: 4 } });
  const length = plan.noise.blocks.reduce((n, b) => n + b.length, 0);
  const vector = new Float64Array(length);
  const start = performance.now();
  addNoise(vector, plan.noise, cryptoRandomSource());
  vectors.push({ mechanism, coordinates: length, siteVariance: plan.noise.blocks.map((b) => b.siteVariance), ms: Math.round(performance.now() - start) });
}
console.log(JSON.stringify({ bench: 'dp-sampler', samplers, vectors }, null, 2));

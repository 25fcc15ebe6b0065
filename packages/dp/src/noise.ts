// noise.ts — adding a site's integer noise to its statistics vector, in place.
import type { NoisePlan } from './allocation.ts';
import { checkNoiseBlocks } from './allocation.ts';
import { discreteGaussianSampler } from './discrete-gaussian.ts';
import { DpError } from './errors.ts';
import { samplePoisson } from './poisson.ts';
import type { Rational } from './rational.ts';
import type { RandomSource } from './random-source.ts';

function checkSlice(values: Float64Array, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > values.length) {
    throw new DpError('FEDVAL_ERR_DP_BLOCK_OUT_OF_RANGE', `[${offset}, ${offset + length}) of ${values.length}`);
  }
  for (let i = offset; i < offset + length; i += 1) {
    if (!Number.isSafeInteger(values[i])) throw new DpError('FEDVAL_ERR_DP_NOT_SAFE_INTEGER', `coordinate ${i}`);
  }
}

function store(values: Float64Array, index: number, noisy: number): void {
  if (!Number.isSafeInteger(noisy)) throw new DpError('FEDVAL_ERR_DP_NOISE_OVERFLOW', `coordinate ${index}`);
  values[index] = noisy;
}

/** Adds independent N_ℤ(0, σ²) draws to values[offset, offset + length); every value must be a safe integer. */
export function addDiscreteGaussianNoise(values: Float64Array, offset: number, length: number, sigma2: Rational, rng: RandomSource): void {
  checkSlice(values, offset, length);
  const sampler = discreteGaussianSampler(sigma2);
  for (let i = offset; i < offset + length; i += 1) {
    const noise = sampler.sample(rng);
    if (noise > BigInt(Number.MAX_SAFE_INTEGER) || noise < -BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new DpError('FEDVAL_ERR_DP_NOISE_OVERFLOW', `coordinate ${i}`);
    }
    store(values, i, values[i]! + Number(noise));
  }
}

/** Adds independent Skellam shares Poisson(λ) − Poisson(λ) to values[offset, offset + length). */
export function addSkellamNoise(values: Float64Array, offset: number, length: number, lambda: Rational, rng: RandomSource): void {
  checkSlice(values, offset, length);
  if (lambda.numerator <= 0n) throw new DpError('FEDVAL_ERR_DP_INVALID_ARGUMENT', 'λ must be positive');
  for (let i = offset; i < offset + length; i += 1) {
    store(values, i, values[i]! + samplePoisson(rng, lambda) - samplePoisson(rng, lambda));
  }
}

/** Options of {@link addNoise}. */
export interface AddNoiseOptions {
  /**
   * Refuse a plan whose blocks do not cover every coordinate of the vector (a coordinate without a
   * block would leave the site without noise). Default true.
   */
  requireFullCoverage: boolean;
}

export const DEFAULT_ADD_NOISE_OPTIONS: Readonly<AddNoiseOptions> = Object.freeze({ requireFullCoverage: true });

/** Adds this site's noise for every block of the plan to its statistics vector, in place. */
export function addNoise(values: Float64Array, plan: NoisePlan, rng: RandomSource, options?: Partial<AddNoiseOptions>): void {
  const { requireFullCoverage } = { ...DEFAULT_ADD_NOISE_OPTIONS, ...options };
  checkNoiseBlocks(plan.blocks);
  let covered = 0;
  for (const block of plan.blocks) {
    if (block.offset + block.length > values.length) {
      throw new DpError('FEDVAL_ERR_DP_BLOCK_OUT_OF_RANGE', `${block.name}: [${block.offset}, ${block.offset + block.length}) of ${values.length}`);
    }
    covered += block.length;
  }
  if (requireFullCoverage && covered !== values.length) {
    throw new DpError('FEDVAL_ERR_DP_INCOMPLETE_COVERAGE', `${values.length - covered} of ${values.length} coordinates`);
  }
  for (let i = 0; i < values.length; i += 1) {
    if (!Number.isSafeInteger(values[i])) throw new DpError('FEDVAL_ERR_DP_NOT_SAFE_INTEGER', `coordinate ${i}`);
  }
  for (const block of plan.blocks) {
    const noise = block.siteNoise;
    if (noise.kind === 'discrete-gaussian') addDiscreteGaussianNoise(values, block.offset, block.length, noise.sigma2, rng);
    else addSkellamNoise(values, block.offset, block.length, noise.lambda, rng);
  }
}

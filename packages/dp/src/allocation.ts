// allocation.ts — splitting a round's ρ across the blocks of a statistics vector and calibrating each block's noise.
import { composeRho, distributedDiscreteGaussianRho, skellamRho } from './accountant.ts';
import { DpError } from './errors.ts';
import type { Rational } from './rational.ts';
import { rational, rationalFromNumber, rationalToNumber } from './rational.ts';

/**
 * Noise mechanisms:
 * - 'discrete-gaussian': every site adds the full N_ℤ(0, σ²) itself — protected even if all other
 *   parties collude; the aggregate of k sites carries k times the needed variance.
 * - 'skellam': every site adds a Skellam share; any minSites shares sum to exactly the needed
 *   Skellam noise (Agarwal et al. 2021). Cost grows with the share's variance.
 * - 'distributed-discrete-gaussian': every site adds N_ℤ(0, σ²/minSites); the sum is within τ of
 *   N_ℤ(0, σ²) (Kairouz et al. 2021). Constant cost; the choice for large-sensitivity fixed-point sums.
 */
export type NoiseMechanism = 'discrete-gaussian' | 'skellam' | 'distributed-discrete-gaussian';

const MECHANISMS: readonly NoiseMechanism[] = ['discrete-gaussian', 'skellam', 'distributed-discrete-gaussian'];

/**
 * A contiguous range of the integer statistics vector, with what one patient can change in it
 * (neighbouring datasets differ by adding or removing one patient). For plain counters both
 * sensitivities equal the number of counters one patient increments in the block.
 */
export interface NoiseBlock {
  readonly name: string;
  /** First coordinate of the block in the statistics vector. */
  readonly offset: number;
  /** Number of coordinates. */
  readonly length: number;
  /** Largest Σ|change| one patient causes in the block (integer). */
  readonly l1Sensitivity: number;
  /** Largest Σ change² one patient causes in the block (integer). */
  readonly l2SensitivitySquared: number;
}

/** Sensitivities of a block of counters in which one patient increments at most `counters` of them, each by 1. */
export function counterSensitivity(counters: number): Pick<NoiseBlock, 'l1Sensitivity' | 'l2SensitivitySquared'> {
  if (!Number.isSafeInteger(counters) || counters < 1) throw new DpError('FEDVAL_ERR_DP_INVALID_ARGUMENT', 'counters must be a positive integer');
  return { l1Sensitivity: counters, l2SensitivitySquared: counters };
}

/**
 * Sensitivities of a block of fixed-point sums in which one patient adds at most `maxUnits` (an
 * integer number of fixed-point units, in absolute value) to each of at most `sums` sums.
 */
export function boundedSumSensitivity(sums: number, maxUnits: number): Pick<NoiseBlock, 'l1Sensitivity' | 'l2SensitivitySquared'> {
  if (!Number.isSafeInteger(sums) || sums < 1 || !Number.isSafeInteger(maxUnits) || maxUnits < 1 || !Number.isSafeInteger(sums * maxUnits * maxUnits)) {
    throw new DpError('FEDVAL_ERR_DP_INVALID_ARGUMENT', 'sums and maxUnits must be positive integers with sums·maxUnits² a safe integer');
  }
  return { l1Sensitivity: sums * maxUnits, l2SensitivitySquared: sums * maxUnits * maxUnits };
}

/** A block and its share of the round's ρ; shares are normalised, so only their ratios matter. */
export interface BudgetShare {
  readonly block: NoiseBlock;
  readonly weight: number;
  /** Overrides the plan's mechanism for this block. */
  readonly mechanism?: NoiseMechanism;
}

/** What one site adds to each coordinate of a block. */
export type SiteNoise =
  | { readonly kind: 'discrete-gaussian'; readonly sigma2: Rational }
  /** Poisson(λ) − Poisson(λ): a Skellam share of variance 2λ. */
  | { readonly kind: 'skellam'; readonly lambda: Rational };

/** A block with its allocated privacy cost and calibrated noise. */
export interface PlannedBlock extends NoiseBlock {
  readonly mechanism: NoiseMechanism;
  /** ρ allocated to this block; the calibrated noise costs at most this. */
  readonly rho: number;
  readonly siteNoise: SiteNoise;
  /** Variance one site adds per coordinate (σ² for the discrete Gaussian, an upper bound; 2λ for Skellam). */
  readonly siteVariance: number;
}

/** How much noise every site adds to each block, and what the round costs. */
export interface NoisePlan {
  /**
   * Share mechanisms: the number of shares whose sum carries the full noise; a release with fewer
   * contributing sites must be refused ({@link assertNoiseQuorum}). Blocks using 'discrete-gaussian'
   * do not depend on it.
   */
  readonly minSites: number;
  /** Total ρ of the round: the composition of the block costs. This is what the ledger charges. */
  readonly rho: number;
  readonly blocks: readonly PlannedBlock[];
}

/** Options of {@link planNoise}. */
export interface NoisePlanOptions {
  /** ρ of the whole round (per site), > 0. */
  rho: number;
  /** Mechanism of every block without its own. */
  mechanism: NoiseMechanism;
  /** Share mechanisms: shares are sized so that any minSites of them carry the full noise. Default 1. */
  minSites?: number;
  shares: readonly BudgetShare[];
  /** Denominator of the rational noise parameters: their rounding step is 1/denominator. Default 2^20. */
  parameterDenominator?: bigint;
  /**
   * Largest Skellam share λ accepted: exact Poisson sampling costs about 50 ns per unit of λ per
   * coordinate. Default 10,000.
   */
  maxSkellamLambda?: number;
}

export const DEFAULT_PARAMETER_DENOMINATOR = 1n << 20n;
export const DEFAULT_MAX_SKELLAM_LAMBDA = 10_000; // per share and coordinate: ≈ 1 ms for its two Poisson draws

function checkBlock(block: NoiseBlock): void {
  const { name, offset, length, l1Sensitivity, l2SensitivitySquared } = block;
  if (typeof name !== 'string' || name.length === 0) {
    throw new DpError('FEDVAL_ERR_DP_INVALID_ARGUMENT', 'every noise block needs a name');
  }
  if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 1) {
    throw new DpError('FEDVAL_ERR_DP_INVALID_ARGUMENT', `block ${name}: offset must be ≥ 0 and length ≥ 1`);
  }
  if (!Number.isSafeInteger(l1Sensitivity) || l1Sensitivity < 1 || !Number.isSafeInteger(l2SensitivitySquared) || l2SensitivitySquared < 1) {
    throw new DpError('FEDVAL_ERR_DP_INVALID_ARGUMENT', `block ${name}: sensitivities must be positive integers`);
  }
}

/** Throws unless blocks have unique names and do not overlap. */
export function checkNoiseBlocks(blocks: readonly NoiseBlock[]): void {
  const names = new Set<string>();
  for (const block of blocks) {
    checkBlock(block);
    if (names.has(block.name)) throw new DpError('FEDVAL_ERR_DP_INVALID_ARGUMENT', `duplicate block name ${block.name}`);
    names.add(block.name);
  }
  const sorted = [...blocks].sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < sorted.length; i += 1) {
    const previous = sorted[i - 1]!;
    const current = sorted[i]!;
    if (previous.offset + previous.length > current.offset) {
      throw new DpError('FEDVAL_ERR_DP_OVERLAPPING_BLOCKS', `${previous.name} and ${current.name}`);
    }
  }
}

/** Smallest σ² = k/denominator with Δ₂²/(2σ²) ≤ ρ, exactly (ρ read as the exact value of its double). */
function calibrateDiscreteGaussian(l2SensitivitySquared: number, rho: number, denominator: bigint): Rational {
  const r = rationalFromNumber(rho);
  // Δ²/(2k/D) ≤ p/q  ⇔  Δ²·D·q ≤ 2k·p  ⇔  k ≥ Δ²·D·q / (2p).
  const needed = BigInt(l2SensitivitySquared) * denominator * r.denominator;
  const twoP = 2n * r.numerator;
  return rational((needed + twoP - 1n) / twoP, denominator);
}

/**
 * True when the Skellam noise of variance μ = M/D satisfies skellamRho(Δ₁, Δ₂², μ) ≤ ρ, in exact
 * integer arithmetic. Over the common denominator 8M² the three terms of skellamRho are
 * 4Δ₂²DM, (4Δ₂² + max(6Δ₁ − Δ₂², 0))·D² and 6Δ₁DM.
 */
function skellamWithinRho(l1: bigint, l2Squared: bigint, m: bigint, d: bigint, rho: Rational): boolean {
  const excess = 6n * l1 - l2Squared > 0n ? 6n * l1 - l2Squared : 0n;
  const growing = (4n * l2Squared + excess) * d * d;
  const capped = 6n * l1 * d * m;
  const total = 4n * l2Squared * d * m + (growing < capped ? growing : capped);
  return total * rho.denominator <= rho.numerator * 8n * m * m;
}

/** Smallest λ = k/denominator such that minSites Skellam shares Poisson(λ) − Poisson(λ) cost at most ρ. */
function calibrateSkellam(l1Sensitivity: number, l2SensitivitySquared: number, rho: number, minSites: number, denominator: bigint): Rational {
  // Float search for the aggregate variance μ, then an exact check on the rounded share.
  let lo = l2SensitivitySquared / (2 * rho); // the Gaussian variance, always a lower bound
  let hi = 2 * lo + 16;
  while (skellamRho(l1Sensitivity, l2SensitivitySquared, hi) > rho) hi *= 2;
  for (let i = 0; i < 200; i += 1) {
    const mid = (lo + hi) / 2;
    if (skellamRho(l1Sensitivity, l2SensitivitySquared, mid) > rho) lo = mid;
    else hi = mid;
  }
  const shares = BigInt(2 * minSites);
  let k = BigInt(Math.ceil((hi / (2 * minSites)) * Number(denominator)));
  const exactRho = rationalFromNumber(rho);
  const l1 = BigInt(l1Sensitivity);
  const l2 = BigInt(l2SensitivitySquared);
  let step = 1n;
  while (!skellamWithinRho(l1, l2, shares * k, denominator, exactRho)) {
    k += step;
    step *= 2n;
  }
  return rational(k, denominator);
}

/**
 * Smallest local σ² = k/denominator such that `shares` distributed discrete Gaussian shares over a
 * block of `dimension` coordinates cost at most ρ. τ involves exp(), so the check is in floating
 * point, against ρ·(1 − 10⁻⁹) to absorb its rounding.
 */
function calibrateDistributedDiscreteGaussian(block: NoiseBlock, rho: number, shares: number, denominator: bigint): Rational {
  const cost = (sigma2: number): number => distributedDiscreteGaussianRho(block.l2SensitivitySquared, sigma2, shares, block.length);
  const limit = rho * (1 - 1e-9);
  let lo = block.l2SensitivitySquared / (2 * rho * shares) / 2;
  let hi = 2 * lo + 1;
  while (cost(hi) > limit) hi *= 2;
  for (let i = 0; i < 200; i += 1) {
    const mid = (lo + hi) / 2;
    if (cost(mid) > limit) lo = mid;
    else hi = mid;
  }
  let k = BigInt(Math.ceil(hi * Number(denominator)));
  while (cost(Number(k) / Number(denominator)) > limit) k += 1n;
  return rational(k, denominator);
}

/**
 * Splits ρ across blocks in proportion to their weights and calibrates each block's noise so that its
 * cost does not exceed its share: σ² = Δ₂²/(2ρ_block) for the discrete Gaussian; for Skellam the
 * smallest share whose minSites-fold sum fits ρ_block by {@link skellamRho}; for the distributed
 * discrete Gaussian the smallest local σ² that fits by {@link distributedDiscreteGaussianRho}.
 * Parameters are rationals rounded UP to the parameter grid, so the real cost is never above the
 * claimed one. The block costs add up to at most the requested ρ (each share is scaled by 1 − 10⁻¹²
 * against float rounding).
 */
export function planNoise(options: NoisePlanOptions): NoisePlan {
  const { rho, mechanism, shares } = options;
  const minSites = options.minSites ?? 1;
  const denominator = options.parameterDenominator ?? DEFAULT_PARAMETER_DENOMINATOR;
  const maxSkellamLambda = options.maxSkellamLambda ?? DEFAULT_MAX_SKELLAM_LAMBDA;
  if (!Number.isFinite(rho) || rho <= 0) throw new DpError('FEDVAL_ERR_DP_INVALID_ARGUMENT', 'ρ must be a finite number > 0');
  for (const m of [mechanism, ...shares.map((s) => s.mechanism ?? mechanism)]) {
    if (!MECHANISMS.includes(m)) throw new DpError('FEDVAL_ERR_DP_INVALID_ARGUMENT', `mechanism must be one of ${MECHANISMS.join(', ')}`);
  }
  if (!Number.isSafeInteger(minSites) || minSites < 1) {
    throw new DpError('FEDVAL_ERR_DP_INVALID_ARGUMENT', 'minSites must be a positive integer');
  }
  if (denominator < 1n) throw new DpError('FEDVAL_ERR_DP_INVALID_ARGUMENT', 'parameterDenominator must be ≥ 1');
  if (!(maxSkellamLambda > 0)) throw new DpError('FEDVAL_ERR_DP_INVALID_ARGUMENT', 'maxSkellamLambda must be > 0');
  if (shares.length === 0) throw new DpError('FEDVAL_ERR_DP_INVALID_ARGUMENT', 'a noise plan needs at least one block');
  checkNoiseBlocks(shares.map((s) => s.block));
  let totalWeight = 0;
  for (const share of shares) {
    if (!Number.isFinite(share.weight) || share.weight <= 0) {
      throw new DpError('FEDVAL_ERR_DP_INVALID_ARGUMENT', `block ${share.block.name}: weight must be a finite number > 0`);
    }
    totalWeight += share.weight;
  }
  const blocks = shares.map((share): PlannedBlock => {
    const { block, weight } = share;
    const blockMechanism = share.mechanism ?? mechanism;
    const blockRho = rho * (weight / totalWeight) * (1 - 1e-12);
    const planned = { ...block, mechanism: blockMechanism, rho: blockRho };
    if (blockMechanism === 'skellam') {
      const lambda = calibrateSkellam(block.l1Sensitivity, block.l2SensitivitySquared, blockRho, minSites, denominator);
      if (rationalToNumber(lambda) > maxSkellamLambda) {
        throw new DpError('FEDVAL_ERR_DP_SKELLAM_SHARE_TOO_LARGE', `block ${block.name}: λ ≈ ${Math.ceil(rationalToNumber(lambda))} > ${maxSkellamLambda}`);
      }
      return Object.freeze({ ...planned, siteNoise: Object.freeze({ kind: 'skellam', lambda }), siteVariance: 2 * rationalToNumber(lambda) });
    }
    const sigma2 =
      blockMechanism === 'discrete-gaussian'
        ? calibrateDiscreteGaussian(block.l2SensitivitySquared, blockRho, denominator)
        : calibrateDistributedDiscreteGaussian(block, blockRho, minSites, denominator);
    return Object.freeze({ ...planned, siteNoise: Object.freeze({ kind: 'discrete-gaussian', sigma2 }), siteVariance: rationalToNumber(sigma2) });
  });
  return Object.freeze({
    minSites,
    rho: composeRho(blocks.map((block) => block.rho)),
    blocks: Object.freeze(blocks),
  });
}

/**
 * Noise variance per coordinate of a block in the aggregate of `contributingSites` sites (an upper
 * bound for the discrete Gaussian, whose variance is slightly below σ²). For share mechanisms,
 * privacy holds once contributingSites ≥ plan.minSites: more shares only add noise.
 */
export function aggregateNoiseVariance(block: PlannedBlock, contributingSites: number): number {
  if (!Number.isSafeInteger(contributingSites) || contributingSites < 1) {
    throw new DpError('FEDVAL_ERR_DP_INVALID_ARGUMENT', 'contributingSites must be a positive integer');
  }
  return block.siteVariance * contributingSites;
}

/** Throws FEDVAL_ERR_DP_QUORUM_BELOW_MINIMUM when an aggregate would carry less noise than planned. */
export function assertNoiseQuorum(plan: NoisePlan, contributingSites: number): void {
  if (!Number.isSafeInteger(contributingSites) || contributingSites < plan.minSites) {
    throw new DpError('FEDVAL_ERR_DP_QUORUM_BELOW_MINIMUM', `${contributingSites} of at least ${plan.minSites}`);
  }
}

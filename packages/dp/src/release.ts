// release.ts — the private release of a metrics statistics vector: encode and noise at a site, decode at the key holder.
//
// The release vector is a linear, integer-to-integer transform of the @fedval/metrics vector. Per
// population (everyone, then each subgroup column, in the metrics layout's order) it holds three noise
// blocks:
//   <population>.counts      every level's score histograms, coarsened to the release edges (and
//                            tree-encoded for a tree layout), then its other counters (multiclass
//                            confusion cells; regression count and clamped);
//   <population>.positives   binary tasks whose spec has a positiveLayout (issue 18, per-class layouts) only: every
//                            level's positive histogram on the positives' coarser layout (the counts block then holds
//                            the negatives'); a patient moves the counts or the positives blocks, never both;
//   <population>.exclusions  every level's exclusion counters;
//   <population>.sums        the metrics fixed-point sums block, unchanged;
//   <population>.totals      subgroup columns of a binary task only (weight `totals`): the negatives and positives of
//                            every level, one counter per labelled patient — the counts the suppression rule reads.
// Neighbouring datasets differ by one patient at one site. Each block's sensitivity is the most one
// patient can move it after encoding (see countsSensitivity); the round's ρ is the sum of the block
// costs (Bun & Steinke 2016, Lemma 2.3), the two classes' blocks counted as alternatives (releaseRho). Decoding reconciles the histograms of the overall population and of every
// group column by least squares (hierarchy.ts), takes each tree's consistent estimate (tree.ts), then updates each level's
// class histogram with its released class total (the sequential least-squares update with one more independent
// observation of a linear function, Rao 1973 §4a.9; the Kalman update): post-processing.
import { aucGradients, scoreGridOf } from '@fedval/metrics';
import { z } from 'zod';
import type { SectionFieldName, StatisticsLayout } from '@fedval/metrics';
import { discreteGaussianRho, distributedDiscreteGaussianRho, composeRho, epsilonFromRho, rhoFromEpsilon, skellamRho } from './accountant.ts';
import type { BudgetShare, NoiseBlock, NoiseMechanism, NoisePlan, PlannedBlock } from './allocation.ts';
import { aggregateNoiseVariance, planNoise } from './allocation.ts';
import { entryBoundsPerSite, maxEntryBound } from './entry-bounds.ts';
import { reconcileHierarchy } from './hierarchy.ts';
import { DpError } from './errors.ts';
import { addNoise } from './noise.ts';
import type { RandomSource } from './random-source.ts';
import { rationalToNumber } from './rational.ts';
import { resolvePrivacySpec } from './release-spec.ts';
import type { ResolvedPrivacySpec, ResolvedReleaseLayout } from './release-spec.ts';
import { noiseTailBound } from './tail-bounds.ts';
import type { StatisticsRelease } from './statistics-release.ts';
import type { TreeShape } from './tree.ts';
import { encodeTree, estimateTreeHistogram, treePrefixVariances, treeQueryVariance, treeShape } from './tree.ts';

/** Options of {@link createPrivateRelease}. */
export interface PrivateReleaseOptions {
  /**
   * Probability that any entry of one site's protected vector exceeds its bound in
   * `entryMaxAbsPerSite` (split evenly over the entries, union bound). Default 2^-64.
   */
  tailProbability: number;
}

export const DEFAULT_PRIVATE_RELEASE_OPTIONS: Readonly<PrivateReleaseOptions> = Object.freeze({
  tailProbability: 2 ** -64, // per site and round, over the whole vector
});

/** What the key holder gets back from an aggregate. */
export interface DecodedRelease {
  /** In the original metrics layout, ready for finalizeMetrics. Histogram entries may be fractional (tree estimates). */
  readonly vector: Float64Array;
  /** Per metrics block name: the per-entry noise variance for finalizeMetrics' `noise.blockVariances`. */
  readonly blockVariances: Record<string, number>;
  /**
   * Per metrics counts block name: the exact noise variance of one class total (all of one class histogram of one level,
   * after reconciliation and the tree's estimate), for finalizeMetrics' `noise.classTotalVariances` (suppression margins).
   * Empty for layouts without histograms.
   */
  readonly classTotalVariances: Record<string, number>;
  /**
   * With per-class layouts, per counts block name: the exact noise variance of one level's positives total
   * (`classTotalVariances` is then the negatives'), for finalizeMetrics' `noise.positiveTotalVariances`. Absent otherwise.
   */
  readonly positiveTotalVariances?: Record<string, number>;
}

/** One noise block in {@link ReleaseSummary}. */
export interface ReleaseBlockSummary {
  readonly name: string;
  readonly mechanism: NoiseMechanism;
  readonly entries: number;
  readonly l1Sensitivity: number;
  readonly l2SensitivitySquared: number;
  /** zCDP cost of the block. */
  readonly rho: number;
  /** Std of the noise protecting each entry: minSites shares, or one site's noise for 'discrete-gaussian'. */
  readonly sigma: number;
  /** Std of the noise one site adds to each entry. */
  readonly siteSigma: number;
}

/** The JSON `privacy.dp` block of a report. */
export interface ReleaseSummary {
  readonly mechanism: NoiseMechanism;
  readonly epsilon: number;
  readonly delta: number;
  readonly rho: number;
  /** ε of one site's own noise share alone (see PrivateRelease.ownShareEpsilon); absent in results released before it was reported. */
  readonly ownShareEpsilon?: number;
  readonly minSites: number;
  readonly layout: ResolvedReleaseLayout & { readonly bins: number };
  /** The positives' layout when the release has per-class layouts (binary tasks); absent otherwise. */
  readonly positiveLayout?: ResolvedReleaseLayout & { readonly bins: number };
  readonly blocks: readonly ReleaseBlockSummary[];
}

const summaryNumber = z.number();
const layoutSummarySchema = z.strictObject({
  kind: z.enum(['flat', 'tree']),
  placement: z.enum(['equal-width', 'equal-mass', 'explicit']),
  fineBins: z.int().positive(),
  edges: z.array(z.int()).readonly(),
  branching: z.int().min(2).optional(),
  bins: z.int().positive(),
});
/** {@link ReleaseSummary} as a schema: the `privacy.dp` block of a released result as it crosses the REST API. */
export const releaseSummarySchema = z.strictObject({
  mechanism: z.enum(['skellam', 'distributed-discrete-gaussian', 'discrete-gaussian']),
  epsilon: summaryNumber,
  delta: summaryNumber,
  rho: summaryNumber,
  /** Optional for results released before it was reported. */
  ownShareEpsilon: summaryNumber.optional(),
  minSites: z.int().positive(),
  layout: layoutSummarySchema,
  /** The positives' layout of a release with per-class layouts; absent otherwise (and in results released before them). */
  positiveLayout: layoutSummarySchema.optional(),
  blocks: z
    .array(
      z.strictObject({
        name: z.string(),
        mechanism: z.enum(['skellam', 'distributed-discrete-gaussian', 'discrete-gaussian']),
        entries: z.int().nonnegative(),
        l1Sensitivity: summaryNumber,
        l2SensitivitySquared: summaryNumber,
        rho: summaryNumber,
        sigma: summaryNumber,
        siteSigma: summaryNumber,
      }),
    )
    .readonly(),
});

/** Compile-time proof that the schema and {@link ReleaseSummary} describe the same documents. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const summarySchemaMatches: Same<Readonly<z.output<typeof releaseSummarySchema>>, ReleaseSummary> = true;
void summarySchemaMatches;

/** A release under differential privacy: coarsened or tree-encoded histograms, every block noised (see the header). */
export interface PrivateRelease extends StatisticsRelease {
  readonly kind: 'private';
  readonly privacy: ResolvedPrivacySpec;
  /** zCDP cost of one site's contribution to one round: the sum of the block costs. What its ledger is charged. */
  readonly rho: number;
  /** ε of `rho` at `delta` (never above the spec's ε). */
  readonly epsilon: number;
  readonly delta: number;
  /**
   * zCDP cost of one site's contribution protected by its own noise share alone: every block's cost with one share
   * instead of minSites (what the site's release is worth if every other party colludes and removes its shares).
   * Equal to `rho` for the central 'discrete-gaussian' mechanism, where each site adds the full noise.
   */
  readonly ownShareRho: number;
  /** ε of `ownShareRho` at `delta`: the guarantee the site's own noise gives it whatever the others do. */
  readonly ownShareEpsilon: number;
  /** Blocks over the release vector with each site's noise parameters. */
  readonly noisePlan: NoisePlan;
  summary(): ReleaseSummary;
}

/**
 * One class's release layout (every histogram's, or with per-class layouts the negatives' or the positives'): its coarse
 * edges and tree, and what the decoder needs of them.
 */
interface ClassShape {
  readonly edges: Int32Array;
  readonly coarseBins: number;
  readonly tree: TreeShape | null;
  /** Release coordinates of one histogram: coarse bins (flat) or tree nodes. */
  readonly perHistogram: number;
  /** Counters one patient increments in one histogram: 1 flat, the tree's levels. */
  readonly levels: number;
  /** The fine bin each coarse bin's mass goes to when decoding: its middle fine bin (see README). */
  readonly placement: Int32Array;
  /** Variance of a class total (the sum of a histogram's coarse estimates) per unit node variance: the tree's root query, or k flat bins. */
  readonly totalVarianceFactor: number;
  /** Per coarse bin, its share of a class total's correction (classTotalGains). */
  readonly totalGains: Float64Array;
  /** finalizeMetrics' per-fine-bin variance, per unit node variance, that covers the threshold counts (thresholdBinVarianceFactor). */
  readonly thresholdFactor: number;
}

function classShape(layout: StatisticsLayout, release: ResolvedReleaseLayout): ClassShape {
  const edges = Int32Array.from(release.edges);
  const coarseBins = edges.length - 1;
  const tree = release.kind === 'tree' ? treeShape(coarseBins, release.branching as number) : null;
  const totalVarianceFactor = tree ? treeQueryVariance(tree, new Float64Array(coarseBins).fill(1), 1) : coarseBins;
  return Object.freeze({
    edges,
    coarseBins,
    tree,
    perHistogram: tree ? tree.nodeCount : coarseBins,
    levels: tree ? tree.levels : 1,
    placement: Int32Array.from({ length: coarseBins }, (_, i) => edges[i]! + Math.floor((edges[i + 1]! - edges[i]! - 1) / 2)),
    totalVarianceFactor,
    totalGains: classTotalGains(tree, coarseBins, totalVarianceFactor),
    thresholdFactor: thresholdBinVarianceFactor(layout, edges, tree),
  });
}

/**
 * The round's ρ from its calibrated blocks (composition, Bun & Steinke 2016, Lemma 2.3). Without per-class layouts the
 * sum of every block's cost. With them, one patient is either negative — it moves the counts blocks (the negatives'
 * histograms of every population) — or positive — the positives blocks — never both, so those two groups cost the
 * larger of their sums, and every other block adds its cost (the exclusions conservatively, as before).
 */
function releaseRho(blocks: readonly PlannedBlock[], perClass: boolean, costOf: (block: PlannedBlock) => number): number {
  if (!perClass) return composeRho(blocks.map(costOf));
  let negatives = 0;
  let positives = 0;
  const others: number[] = [];
  for (const block of blocks) {
    const cost = costOf(block);
    if (block.name.endsWith('.counts')) negatives += cost;
    else if (block.name.endsWith('.positives')) positives += cost;
    else others.push(cost);
  }
  return composeRho([...others, Math.max(negatives, positives)]);
}

/** A run of the metrics vector and where it goes in the release vector. */
interface Segment {
  /** A histogram's class layout (its fine bins are coarsened to it), or null for entries copied as they are. */
  readonly shape: ClassShape | null;
  /** Offset in the metrics vector. */
  readonly source: number;
  /** Offset in the release vector. */
  readonly target: number;
  /** Entries in the metrics vector (fine bins for a histogram). */
  readonly length: number;
}

/** A subgroup column's class-totals block: per level (section), the segments of its negative and positive histograms. */
interface TotalsBlock {
  /** Offset of the block in the release vector: level i's negatives at target + 2i, its positives at target + 2i + 1. */
  readonly target: number;
  readonly levels: readonly (readonly [number, number])[];
}

interface PopulationBlocks {
  readonly prefix: string;
  /** The class totals of a subgroup column of a binary task (spec weight `totals`), else null. */
  readonly totals: TotalsBlock | null;
  readonly blocks: { readonly block: NoiseBlock; readonly share: Omit<BudgetShare, 'block'> }[];
  /** Indices into the segments of each (negative, positive) histogram pair: one per binary section, K per multiclass one. */
  readonly pairs: (readonly [number, number])[];
  /** Per section (level) of the population, in the layout's order: the indices of its histogram segments, in order. */
  readonly histograms: (readonly number[])[];
}

const HISTOGRAM_FIELDS: ReadonlySet<SectionFieldName> = new Set(['negative_histogram', 'positive_histogram', 'class_histograms']);


/**
 * Most counters one patient increments in a population's counts block of the release, with c the
 * counters per histogram (1 flat, the tree's levels): binary, one histogram → c; multiclass, one
 * confusion cell and one of the two histograms of each of K classes → 1 + K·c; regression, the
 * count and the clamped counter → 2; survival, one (time bin, score bin, status) counter → 1 (its counts are not
 * histograms: carried flat, never coarsened). Every change is +1, so L1 = squared L2.
 */
function countsSensitivity(layout: StatisticsLayout, countersPerHistogram: number): number {
  const task = layout.spec.task;
  if (task === 'binary') return countersPerHistogram;
  if (task === 'multiclass') return 1 + (layout.spec.classes?.length ?? 0) * countersPerHistogram;
  if (task === 'survival') return 1;
  return 2;
}

/** Sums mechanism: the exact shares of Skellam cost time linear in λ, far too slow at a fixed-point sensitivity. */
function sumsMechanism(mechanism: NoiseMechanism): NoiseMechanism {
  return mechanism === 'discrete-gaussian' ? 'discrete-gaussian' : 'distributed-discrete-gaussian';
}

/** ρ of a calibrated block (what the accountant charges for its parameters and sensitivities). */
function blockCost(block: PlannedBlock, minSites: number): number {
  const noise = block.siteNoise;
  if (noise.kind === 'skellam') return skellamRho(block.l1Sensitivity, block.l2SensitivitySquared, minSites * block.siteVariance);
  const sigma2 = rationalToNumber(noise.sigma2);
  if (block.mechanism === 'distributed-discrete-gaussian') return distributedDiscreteGaussianRho(block.l2SensitivitySquared, sigma2, minSites, block.length);
  return discreteGaussianRho(block.l2SensitivitySquared, sigma2);
}

/**
 * Builds the release of a statistics layout under a resolved privacy spec (checked again here, so a
 * spec received over the wire is safe to use): the segments mapping metrics entries to release
 * entries, the noise plan (ρ split by the weights, each block calibrated by {@link planNoise}), and
 * the exact cost.
 */
export function createPrivateRelease(layout: StatisticsLayout, privacy: ResolvedPrivacySpec, options?: Partial<PrivateReleaseOptions>): PrivateRelease {
  const { tailProbability } = { ...DEFAULT_PRIVATE_RELEASE_OPTIONS, ...options };
  if (!(tailProbability > 0 && tailProbability < 1)) throw new DpError('FEDVAL_ERR_DP_INVALID_ARGUMENT', 'tailProbability must lie strictly between 0 and 1');
  const spec = resolvePrivacySpec(privacy, { layout });
  const B = layout.spec.bins;
  // Index 0: the layout of every histogram, or of the negatives' when the positives have their own (index 1; binary tasks).
  const shapes = [classShape(layout, spec.layout), ...(spec.positiveLayout ? [classShape(layout, spec.positiveLayout)] : [])];
  const perClass = shapes.length === 2;
  const { segments, populations, length } = mapRelease(layout, spec, shapes);

  // Per-class layouts: each population's positives block gets the ρ share its counts block (the negatives) gets, as if
  // the two were one block: ρ is scaled so that every other block's share stays as the weights give it.
  const shares = populations.flatMap((population) => population.blocks.map(({ block, share }) => ({ block, ...share })));
  const weightOf = (positives: boolean): number => shares.filter((s) => s.block.name.endsWith('.positives') === positives).reduce((a, s) => a + s.weight, 0);
  const planned = planNoise({
    rho: rhoFromEpsilon(spec.epsilon, spec.delta) * (perClass ? (weightOf(false) + weightOf(true)) / weightOf(false) : 1),
    mechanism: spec.mechanism,
    minSites: spec.mechanism === 'discrete-gaussian' ? 1 : spec.minSites,
    shares,
  });
  // The plan's ρ composes its blocks' planned ρ as the round's ρ composes their costs (releaseRho): the spec's ρ.
  const noisePlan: NoisePlan = perClass ? Object.freeze({ ...planned, rho: releaseRho(planned.blocks, true, (block) => block.rho) }) : planned;
  const plannedBlocks = new Map(noisePlan.blocks.map((block) => [block.name, block]));
  // A count entry (bin, tree node, counter) counts patients; a sum entry moves by at most the metrics block's perPatientMaxAbs per patient.
  const perPatientMaxAbs = new Map(populations.flatMap(({ prefix }) => [
    [`${prefix}.counts`, 1],
    [`${prefix}.positives`, 1],
    [`${prefix}.exclusions`, 1],
    [`${prefix}.sums`, layout.blocks.find((b) => b.name === `${prefix}.sums`)!.perPatientMaxAbs],
    [`${prefix}.totals`, 1],
  ]));
  const rho = releaseRho(noisePlan.blocks, perClass, (block) => blockCost(block, noisePlan.minSites));
  const ownShareRho = releaseRho(noisePlan.blocks, perClass, (block) => blockCost(block, 1));
  // The variance of a population's histogram noise, per class index (one entry without per-class layouts).
  const classBlockVariances = (prefix: string, contributions: number): number[] =>
    [`${prefix}.counts`, ...(perClass ? [`${prefix}.positives`] : [])].map((name) => aggregateNoiseVariance(plannedBlocks.get(name)!, contributions));
  // Class index of the h-th histogram of a section: binary per-class, 0 negatives and 1 positives; else 0.
  const classOf = (h: number): number => (perClass ? h : 0);

  const encode = (statistics: Float64Array): Float64Array => {
    if (!(statistics instanceof Float64Array) || statistics.length !== layout.length) {
      throw new DpError('FEDVAL_ERR_DP_INVALID_ARGUMENT', `the statistics vector must be a Float64Array of ${layout.length} entries`);
    }
    for (let i = 0; i < statistics.length; i += 1) {
      if (!Number.isSafeInteger(statistics[i])) throw new DpError('FEDVAL_ERR_DP_NOT_SAFE_INTEGER', `statistics entry ${i}`);
    }
    const out = new Float64Array(length);
    for (const segment of segments) {
      if (!segment.shape) {
        out.set(statistics.subarray(segment.source, segment.source + segment.length), segment.target);
        continue;
      }
      const { edges, coarseBins, tree } = segment.shape;
      const coarse = new Float64Array(coarseBins);
      for (let i = 0; i < coarseBins; i += 1) {
        let sum = 0;
        for (let j = edges[i]!; j < edges[i + 1]!; j += 1) sum += statistics[segment.source + j]!;
        coarse[i] = sum;
      }
      out.set(tree ? encodeTree(coarse, tree) : coarse, segment.target);
    }
    for (const { totals } of populations) {
      if (!totals) continue;
      totals.levels.forEach((pair, i) => {
        pair.forEach((index, c) => {
          const segment = segments[index]!;
          let total = 0;
          for (let j = 0; j < segment.length; j += 1) total += statistics[segment.source + j]!;
          out[totals.target + 2 * i + c] = total;
        });
      });
    }
    for (let i = 0; i < length; i += 1) {
      if (!Number.isSafeInteger(out[i])) throw new DpError('FEDVAL_ERR_DP_NOT_SAFE_INTEGER', `release entry ${i} (a sum of statistics entries)`);
    }
    return out;
  };

  const decode = (aggregate: Float64Array, contributions: number): DecodedRelease => {
    if (!Number.isSafeInteger(contributions) || contributions < spec.minSites) {
      throw new DpError('FEDVAL_ERR_DP_QUORUM_BELOW_MINIMUM', `${contributions} of at least ${spec.minSites}`);
    }
    if (!(aggregate instanceof Float64Array) || aggregate.length !== length) {
      throw new DpError('FEDVAL_ERR_DP_INVALID_ARGUMENT', `the aggregate must be a Float64Array of ${length} entries`);
    }
    for (let i = 0; i < length; i += 1) {
      if (!Number.isSafeInteger(aggregate[i])) throw new DpError('FEDVAL_ERR_DP_NOT_SAFE_INTEGER', `aggregate entry ${i}`);
    }
    const vector = new Float64Array(layout.length);
    const nodes = new Map<number, Float64Array>();
    segments.forEach((segment, index) => {
      if (segment.shape) nodes.set(index, Float64Array.from(aggregate.subarray(segment.target, segment.target + segment.shape.perHistogram)));
      else vector.set(aggregate.subarray(segment.target, segment.target + segment.length), segment.source);
    });
    // Per class index, per population: the aggregate noise variance of a node of its histograms.
    const byPopulation = populations.map(({ prefix }) => classBlockVariances(prefix, contributions));
    const countsVariance = shapes.map((_, c) => byPopulation.map((v) => v[c]!));
    const classTotals =
      nodes.size > 0 && populations.some((population) => population.totals !== null)
        ? reconcileClassTotals(populations, nodes, countsVariance, classOf, aggregate, (prefix) => aggregateNoiseVariance(plannedBlocks.get(`${prefix}.totals`)!, contributions), (encoded, c) => {
            const { tree, coarseBins } = shapes[c]!;
            const coarse = tree ? estimateTreeHistogram(encoded, tree) : encoded;
            let total = 0;
            for (let j = 0; j < coarseBins; j += 1) total += coarse[j]!;
            return total;
          }, shapes.map((shape) => shape.totalVarianceFactor))
        : null;
    // Every group column partitions the same patients: reconcile each histogram's nodes across the populations (hierarchy.ts).
    const variances = nodes.size > 0 && populations.length > 1 ? reconcilePopulations(populations, nodes, countsVariance, classOf) : countsVariance;
    const estimates = new Map<number, Float64Array>();
    for (const [index, encoded] of nodes) {
      const { tree } = segments[index]!.shape!;
      estimates.set(index, tree ? estimateTreeHistogram(encoded, tree) : encoded);
    }
    // Class totals: every population's class histograms are shifted to the class totals reconciled with the released
    // ones (see reconcileClassTotals; the same shift profile everywhere keeps every column adding up to the overall).
    const totalVariances = classTotals
      ? (() => {
          for (const [index, target] of classTotals.targets) {
            const { coarseBins, totalGains } = segments[index]!.shape!;
            const coarse = estimates.get(index)!;
            let estimate = 0;
            for (let j = 0; j < coarseBins; j += 1) estimate += coarse[j]!;
            const step = target - estimate;
            if (step !== 0) for (let j = 0; j < coarseBins; j += 1) coarse[j] = coarse[j]! + totalGains[j]! * step;
          }
          return classTotals.variances;
        })()
      : variances.map((v, c) => v.map((x) => x * shapes[c]!.totalVarianceFactor));
    for (const [index, coarse] of estimates) {
      const { source, shape } = segments[index]!;
      for (let i = 0; i < shape!.coarseBins; i += 1) vector[source + shape!.placement[i]!] = coarse[i]!;
    }
    const blockVariances: Record<string, number> = {};
    const classTotalVariances: Record<string, number> = {};
    const positiveTotalVariances: Record<string, number> = {};
    populations.forEach(({ prefix, pairs }, p) => {
      if (perClass) {
        // Each class's threshold counts on its own layout, and the AUC's noise from both: the largest of the three.
        let variance = Math.max(variances[0]![p]! * shapes[0]!.thresholdFactor, variances[1]![p]! * shapes[1]!.thresholdFactor);
        for (const [negative, positive] of pairs) {
          const auc = perClassAucVariance(estimates.get(negative)!, estimates.get(positive)!, shapes[0]!, shapes[1]!, variances[0]![p]!, variances[1]![p]!, B);
          if (auc !== null) variance = Math.max(variance, auc);
        }
        blockVariances[`${prefix}.counts`] = variance;
      } else {
        const { thresholdFactor, placement, tree } = shapes[0]!;
        let factor = thresholdFactor;
        for (const [negative, positive] of pairs) {
          const auc = aucVarianceFactor(estimates.get(negative)!, estimates.get(positive)!, placement, B, tree);
          if (auc !== null) factor = Math.max(factor, auc);
        }
        blockVariances[`${prefix}.counts`] = variances[0]![p]! * factor;
      }
      blockVariances[`${prefix}.sums`] = aggregateNoiseVariance(plannedBlocks.get(`${prefix}.sums`)!, contributions);
      // With per-class layouts the negatives' class total, and the positives' apart.
      if (nodes.size > 0) classTotalVariances[`${prefix}.counts`] = totalVariances[0]![p]!;
      if (nodes.size > 0 && perClass) positiveTotalVariances[`${prefix}.counts`] = totalVariances[1]![p]!;
    });
    return { vector, blockVariances, classTotalVariances, ...(perClass ? { positiveTotalVariances } : {}) };
  };

  // A block's bound: its patients' most, plus the tail bound of the noise one site adds.
  const entryMaxAbsPerSite = (patientsPerSite: number): Float64Array =>
    entryBoundsPerSite(length, noisePlan.blocks, patientsPerSite, (block, patients) => patients * perPatientMaxAbs.get(block.name)! + noiseTailBound(block, 1, tailProbability / length));

  return Object.freeze({
    kind: 'private' as const,
    layout,
    privacy: spec,
    length,
    rho,
    epsilon: epsilonFromRho(rho, spec.delta),
    delta: spec.delta,
    ownShareRho,
    ownShareEpsilon: epsilonFromRho(ownShareRho, spec.delta),
    noisePlan,
    entryMaxAbsPerSite,
    maxAbsPerSite: (patientsPerSite: number): number => maxEntryBound(entryMaxAbsPerSite(patientsPerSite)),
    encode,
    protect: (statistics: Float64Array, rng: RandomSource): Float64Array => {
      const encoded = encode(statistics);
      addNoise(encoded, noisePlan, rng);
      return encoded;
    },
    decode,
    summary: (): ReleaseSummary =>
      Object.freeze({
        mechanism: spec.mechanism,
        epsilon: epsilonFromRho(rho, spec.delta),
        delta: spec.delta,
        rho,
        ownShareEpsilon: epsilonFromRho(ownShareRho, spec.delta),
        minSites: spec.minSites,
        layout: Object.freeze({ ...spec.layout, bins: shapes[0]!.coarseBins }),
        ...(spec.positiveLayout ? { positiveLayout: Object.freeze({ ...spec.positiveLayout, bins: shapes[1]!.coarseBins }) } : {}),
        blocks: Object.freeze(
          noisePlan.blocks.map((block) =>
            Object.freeze({
              name: block.name,
              mechanism: block.mechanism,
              entries: block.length,
              l1Sensitivity: block.l1Sensitivity,
              l2SensitivitySquared: block.l2SensitivitySquared,
              rho: blockCost(block, noisePlan.minSites),
              sigma: Math.sqrt(block.siteVariance * noisePlan.minSites),
              siteSigma: Math.sqrt(block.siteVariance),
            }),
          ),
        ),
      }),
  });
}

/** Where every metrics entry goes in the release vector, and the noise blocks (with ρ weights) over it. */
interface ReleaseMapping {
  readonly segments: readonly Segment[];
  readonly populations: readonly PopulationBlocks[];
  readonly length: number;
}

/**
 * Lays out the release vector: per population (overall, then each group column), its counts block
 * (each level's histograms on their class layout, then its other counters), with per-class layouts (binary tasks,
 * `shapes[1]`) a positives block (every level's positive histogram on the positives' layout, the counts block then
 * holding the negatives'), its exclusions block and its sums block (and a subgroup column's class totals).
 */
function mapRelease(layout: StatisticsLayout, spec: ResolvedPrivacySpec, shapes: readonly ClassShape[]): ReleaseMapping {
  const B = layout.spec.bins;
  const segments: Segment[] = [];
  const populations: PopulationBlocks[] = [];
  const [shared, positives] = shapes as [ClassShape, ClassShape | undefined];
  const countsDelta = countsSensitivity(layout, shared.levels);
  const sumsMech = sumsMechanism(spec.mechanism);
  let cursor = 0;
  const prefixes = ['overall', ...layout.spec.groups.map((g) => `by_group.${g.column}`)];
  prefixes.forEach((prefix, p) => {
    const sections = layout.sections.filter((s) => (p === 0 ? s.column === null : s.column === layout.spec.groups[p - 1]!.column));
    const countsStart = cursor;
    const sectionHistograms: number[][] = [];
    // The positive histograms, carried after every level's negatives when they have their own layout.
    const deferred: { section: number; source: number }[] = [];
    const metricsCounts = layout.blocks.find((b) => b.name === `${prefix}.counts`)!;
    const inCounts = (offset: number): boolean => offset >= metricsCounts.offset && offset < metricsCounts.offset + metricsCounts.length;
    sections.forEach((section, s) => {
      const firstSegment = segments.length;
      const fields = (Object.entries(section.fields) as [SectionFieldName, { offset: number; length: number }][])
        .filter(([name, slice]) => name !== 'exclusions' && inCounts(slice.offset))
        .sort((a, b) => a[1].offset - b[1].offset);
      for (const [name, slice] of fields) {
        if (positives && name === 'positive_histogram') {
          deferred.push({ section: s, source: slice.offset });
        } else if (HISTOGRAM_FIELDS.has(name)) {
          for (let h = 0; h < slice.length / B; h += 1) {
            segments.push({ shape: shared, source: slice.offset + h * B, target: cursor, length: B });
            cursor += shared.perHistogram;
          }
        } else {
          segments.push({ shape: null, source: slice.offset, target: cursor, length: slice.length });
          cursor += slice.length;
        }
      }
      sectionHistograms.push(segments.slice(firstSegment).flatMap((segment, i) => (segment.shape ? [firstSegment + i] : [])));
    });
    const countsBlock: NoiseBlock = { name: `${prefix}.counts`, offset: countsStart, length: cursor - countsStart, l1Sensitivity: countsDelta, l2SensitivitySquared: countsDelta };
    const countsWeight = p === 0 ? spec.weights.overall : spec.weights.subgroup;
    const blocks: PopulationBlocks['blocks'] = [{ block: countsBlock, share: { weight: countsWeight } }];
    if (positives) {
      // A positive patient moves one positive histogram: the positives tree's levels (flat: 1), L1 = L2².
      const start = cursor;
      for (const { section, source } of deferred) {
        sectionHistograms[section]!.push(segments.length);
        segments.push({ shape: positives, source, target: cursor, length: B });
        cursor += positives.perHistogram;
      }
      blocks.push({ block: { name: `${prefix}.positives`, offset: start, length: cursor - start, l1Sensitivity: positives.levels, l2SensitivitySquared: positives.levels }, share: { weight: countsWeight } });
    }
    // Histograms come in (negative, positive) pairs: binary negative then positive; multiclass "not c" then "is c".
    const pairs: [number, number][] = [];
    for (const histograms of sectionHistograms) for (let i = 0; i + 1 < histograms.length; i += 2) pairs.push([histograms[i]!, histograms[i + 1]!]);
    const exclusionsStart = cursor;
    for (const section of sections) {
      const slice = section.fields.exclusions!;
      segments.push({ shape: null, source: slice.offset, target: cursor, length: slice.length });
      cursor += slice.length;
    }
    // One patient is either excluded (one counter per population) or included (histograms and sums).
    const exclusionsBlock: NoiseBlock = { name: `${prefix}.exclusions`, offset: exclusionsStart, length: cursor - exclusionsStart, l1Sensitivity: 1, l2SensitivitySquared: 1 };
    const sums = layout.blocks.find((b) => b.name === `${prefix}.sums`)!;
    segments.push({ shape: null, source: sums.offset, target: cursor, length: sums.length });
    const sumsBlock: NoiseBlock = { name: `${prefix}.sums`, offset: cursor, length: sums.length, l1Sensitivity: sums.perPatientL1, l2SensitivitySquared: sums.perPatientL2Squared };
    cursor += sums.length;
    blocks.push({ block: exclusionsBlock, share: { weight: spec.weights.exclusions } }, { block: sumsBlock, share: { weight: spec.weights.sums, mechanism: sumsMech } });
    // A labelled patient of a level adds 1 to one of its level's two class totals: L1 = L2² = 1 per column.
    let totals: TotalsBlock | null = null;
    if (p > 0 && layout.spec.task === 'binary' && spec.weights.totals !== undefined) {
      totals = { target: cursor, levels: sectionHistograms.map((histograms) => [histograms[0]!, histograms[1]!] as const) };
      blocks.push({ block: { name: `${prefix}.totals`, offset: cursor, length: 2 * sections.length, l1Sensitivity: 1, l2SensitivitySquared: 1 }, share: { weight: spec.weights.totals } });
      cursor += 2 * sections.length;
    }
    populations.push({ prefix, totals, pairs, histograms: sectionHistograms, blocks });
  });
  checkCoverage(layout, segments);
  return { segments, populations, length: cursor };
}

/**
 * Reconciles, in place, every histogram's node vector across the populations (overall, then each column's levels),
 * histogram position by histogram position (binary: negative, then positive; multiclass: each class's pair), and returns
 * each population's per-node noise variance after it (hierarchy.ts), per class index (`variances[classOf(h)]` holds the
 * h-th histogram position's variances: one class index without per-class layouts).
 */
function reconcilePopulations(populations: readonly PopulationBlocks[], nodes: Map<number, Float64Array>, variances: readonly (readonly number[])[], classOf: (h: number) => number): number[][] {
  const [overall, ...columns] = populations;
  const positions = overall!.histograms[0]!.length;
  const reconciled: number[][] = variances.map((v) => [...v]);
  for (let h = 0; h < positions; h += 1) {
    const v = variances[classOf(h)]!;
    const result = reconcileHierarchy(
      nodes.get(overall!.histograms[0]![h]!)!,
      v[0]!,
      columns.map((column, c) => ({ levels: column.histograms.map((section) => nodes.get(section[h]!)!), variance: v[c + 1]! })),
    );
    reconciled[classOf(h)] = [result.overall, ...result.columns];
  }
  return reconciled;
}

/**
 * The class totals of every population, reconciled (binary tasks with class-totals blocks). Per class, each level's total
 * has two independent estimates: the sum of its own histogram's estimate (before any reconciliation; variance
 * V_h = node variance × the tree's root-query factor) and its released total (variance V_t); their precision-weighted
 * mean has variance 1/(1/V_h + 1/V_t). These level totals and the overall histogram's total are then reconciled across
 * the group hierarchy (hierarchy.ts, the star GLS), so each column's levels add up to the overall total, with the star's
 * exact variances. Returns, per histogram segment, the total its estimate is shifted to, and per class index (see
 * reconcilePopulations) and population the variance of one class total.
 */
function reconcileClassTotals(
  populations: readonly PopulationBlocks[],
  nodes: ReadonlyMap<number, Float64Array>,
  countsVariance: readonly (readonly number[])[],
  classOf: (c: number) => number,
  aggregate: Float64Array,
  totalsVariance: (prefix: string) => number,
  histogramTotal: (encoded: Float64Array, classIndex: number) => number,
  totalVarianceFactors: readonly number[],
): { targets: Map<number, number>; variances: number[][] } {
  const [overall, ...columns] = populations;
  const targets = new Map<number, number>();
  const variances: number[][] = countsVariance.map(() => []);
  for (let c = 0; c < 2; c += 1) {
    const index = classOf(c);
    const nodeVariance = countsVariance[index]!;
    const totalVarianceFactor = totalVarianceFactors[index]!;
    const overallSegment = overall!.histograms[0]![c]!;
    const overallTotal = Float64Array.of(histogramTotal(nodes.get(overallSegment)!, index));
    const columnInputs = columns.map((column, k) => {
      const own = nodeVariance[k + 1]! * totalVarianceFactor;
      const released = column.totals ? totalsVariance(column.prefix) : Number.POSITIVE_INFINITY;
      const levels = column.histograms.map((section, i) => {
        const fromHistogram = histogramTotal(nodes.get(section[c]!)!, index);
        if (!column.totals) return Float64Array.of(fromHistogram);
        const fromTotal = aggregate[column.totals.target + 2 * i + c]!;
        return Float64Array.of(fromHistogram + ((fromTotal - fromHistogram) * own) / (own + released));
      });
      return { levels, variance: 1 / (1 / own + 1 / released) };
    });
    const result = reconcileHierarchy(overallTotal, nodeVariance[0]! * totalVarianceFactor, columnInputs);
    targets.set(overallSegment, overallTotal[0]!);
    columns.forEach((column, k) => column.histograms.forEach((section, i) => targets.set(section[c]!, columnInputs[k]!.levels[i]![0]!)));
    variances[index] = [result.overall, ...result.columns];
  }
  return { targets, variances };
}

/**
 * Per coarse bin j, Cov(x̂_j, Σx̂)/Var(Σx̂) for the histogram estimate x̂ (unit node variance): the share of a class total's
 * correction each bin takes in the update with a released total (the gains sum to 1). Flat: 1/k each; tree:
 * Cov(x̂_j, Σx̂) = (q(e_j + 1) − q(e_j) − q(1))/2 with q the tree's query variance.
 */
function classTotalGains(tree: TreeShape | null, bins: number, totalVariance: number): Float64Array {
  if (!tree) return new Float64Array(bins).fill(1 / bins);
  const gains = new Float64Array(bins);
  const weights = new Float64Array(bins);
  for (let j = 0; j < bins; j += 1) {
    weights.fill(0);
    weights[j] = 1;
    const own = treeQueryVariance(tree, weights, 1);
    weights.fill(1);
    weights[j] = 2;
    gains[j] = (treeQueryVariance(tree, weights, 1) - own - totalVariance) / (2 * totalVariance);
  }
  return gains;
}

/** Every metrics entry must be carried by exactly one segment, or decode would lose or double it. */
function checkCoverage(layout: StatisticsLayout, segments: readonly Segment[]): void {
  const covered = new Uint8Array(layout.length);
  for (const segment of segments) for (let i = segment.source; i < segment.source + segment.length; i += 1) covered[i]! += 1;
  const bad = covered.findIndex((c) => c !== 1);
  if (bad >= 0) throw new DpError('FEDVAL_ERR_DP_INVALID_ARGUMENT', `the release does not carry statistics entry ${bad} exactly once`);
}

/**
 * finalizeMetrics models histogram noise as independent, with one variance v in every fine bin
 * (`noise.blockVariances`); the release's noise sits on coarse bins or tree nodes instead. The
 * per-block v handed to it is the largest of two factors (times the node variance), so neither kind
 * of interval it widens comes out narrower than the real noise makes it:
 * - threshold: the count at or above the decision threshold gets (B − t)·v and the count below t·v
 *   in finalizeMetrics; the factor is the smallest v with both at least their real variance
 *   (exact for a flat, equal-width release). Multiclass: the same at every coarse edge.
 * - AUC: the delta-method noise variance of the Mann–Whitney AUC, Σ_k g_k²·v over the fine bins
 *   in finalizeMetrics, against the real gᵀ(HᵀH)⁻¹g (tree) or Σ_i g_i² (flat) over the coarse bins,
 *   g the gradient of the AUC in the counts (DeLong placements; see aucVarianceFactor).
 * Regression and survival have no histograms (survival counts are carried flat): 1.
 */
function thresholdBinVarianceFactor(layout: StatisticsLayout, edges: Int32Array, tree: TreeShape | null): number {
  const spec = layout.spec;
  if (spec.task === 'regression' || spec.task === 'survival') return 1;
  const B = spec.bins;
  const m = edges.length - 1;
  const below = tree ? treePrefixVariances(tree, 1) : Float64Array.from({ length: m + 1 }, (_, j) => j);
  const above = new Float64Array(m + 1);
  const weights = new Float64Array(m);
  for (let j = m - 1; j >= 0; j -= 1) {
    weights[j] = 1;
    above[j] = tree ? treeQueryVariance(tree, weights, 1) : m - j;
  }
  const ratio = (j: number): number => Math.max(j > 0 ? below[j]! / edges[j]! : 0, j < m ? above[j]! / (B - edges[j]!) : 0);
  if (spec.task === 'binary') return ratio(edges.indexOf(scoreGridOf(spec).index(spec.threshold) ?? Math.round(spec.threshold * B)));
  let factor = 0;
  for (let j = 0; j <= m; j += 1) factor = Math.max(factor, ratio(j));
  return factor;
}

/**
 * Real over modelled AUC noise variance, per unit node variance, for one pair of estimated coarse
 * histograms: the AUC's gradient in a positive count at bin k is (V₁₀(k) − AUC)/n₊ and in a
 * negative count (V₀₁(k) − AUC)/n₋, with the placements V₁₀(k) = (N_{<k} + ½N_k)/n₋ and
 * V₀₁(k) = (P_{>k} + ½P_k)/n₊ (DeLong, DeLong & Clarke-Pearson 1988; the delta method; @fedval/metrics
 * aucGradients). The model
 * sums the squared gradients over all fine bins of the decoded (expanded) histograms. Null when a
 * class is empty.
 */
function aucVarianceFactor(negative: Float64Array, positive: Float64Array, placement: Int32Array, B: number, tree: TreeShape | null): number | null {
  const m = negative.length;
  const fineNegative = new Float64Array(B);
  const finePositive = new Float64Array(B);
  for (let i = 0; i < m; i += 1) {
    fineNegative[placement[i]!] = negative[i]!;
    finePositive[placement[i]!] = positive[i]!;
  }
  const fine = aucGradients({ negative: fineNegative, positive: finePositive });
  const coarse = aucGradients({ negative, positive });
  if (!fine || !coarse) return null;
  let modelled = 0;
  for (let k = 0; k < B; k += 1) modelled += fine.positive[k]! ** 2 + fine.negative[k]! ** 2;
  let real = 0;
  if (tree) real = treeQueryVariance(tree, coarse.positive, 1) + treeQueryVariance(tree, coarse.negative, 1);
  else for (let i = 0; i < m; i += 1) real += coarse.positive[i]! ** 2 + coarse.negative[i]! ** 2;
  return modelled > 0 ? real / modelled : null;
}

/**
 * Per-class layouts: the real delta-method noise variance of the Mann–Whitney AUC of one pair of estimated histograms —
 * negatives on `negatives`' coarse bins, positives on `positives`' (node variances vNeg and vPos) — over the Σ_fine g²
 * finalizeMetrics models, so the per-fine-bin variance it returns makes finalizeMetrics' AUC interval carry exactly the
 * real noise. The gradient in a coarse count is the fine gradient at the fine bin its mass is placed in (DeLong
 * placements of the decoded fine histograms, as finalizeMetrics computes the AUC; @fedval/metrics aucGradients); the
 * real variance is Σ over classes of v_c·gᵀ(HᵀH)⁻¹g (tree) or v_c·Σ g² (flat). Null when a class is empty.
 */
function perClassAucVariance(negative: Float64Array, positive: Float64Array, negatives: ClassShape, positives: ClassShape, vNeg: number, vPos: number, B: number): number | null {
  const fineNegative = new Float64Array(B);
  const finePositive = new Float64Array(B);
  negatives.placement.forEach((at, i) => (fineNegative[at] = negative[i]!));
  positives.placement.forEach((at, i) => (finePositive[at] = positive[i]!));
  const fine = aucGradients({ negative: fineNegative, positive: finePositive });
  if (!fine) return null;
  let modelled = 0;
  for (let k = 0; k < B; k += 1) modelled += fine.positive[k]! ** 2 + fine.negative[k]! ** 2;
  const real = (shape: ClassShape, fineGradient: Float64Array, v: number): number => {
    const g = Float64Array.from(shape.placement, (at) => fineGradient[at]!);
    if (shape.tree) return treeQueryVariance(shape.tree, g, v);
    let sum = 0;
    for (const x of g) sum += x * x;
    return v * sum;
  };
  return modelled > 0 ? (real(negatives, fine.negative, vNeg) + real(positives, fine.positive, vPos)) / modelled : null;
}

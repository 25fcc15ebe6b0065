// release-spec.ts — a study's privacy spec: defaults, validation, and resolving layout 'auto' once, with the planner.
//
// The spec travels in every evaluation task, so what travels is the resolved form: the release layout
// as explicit coarse bin edges on the metric spec's score grid (equal-mass edges depend on planning
// assumptions a site does not have). Resolution happens once, at the coordinator or sponsor, from
// public study parameters (expected patients, prevalence, sites), never from data.
import type { StatisticsLayout } from '@fedval/metrics';
import { epsilonFromRho, rhoFromEpsilon } from './accountant.ts';
import type { NoiseMechanism } from './allocation.ts';
import { checkEdges } from './coarsening.ts';
import { DpError } from './errors.ts';
import { planRelease, resolveLayout } from './planner.ts';
import type { EdgePlacement, ReleaseLayout, ReleaseLayoutSpec, ReleasePlan } from './planner.ts';
import { treeShape } from './tree.ts';

/**
 * Relative ρ weights of the release blocks (only ratios matter). Each population — everyone, and
 * each subgroup column — has a counts block (score histograms and other counters), an exclusions
 * block and a fixed-point sums block; each block's share of ρ is its weight over the sum of all weights.
 */
export interface ReleaseWeights {
  /** Counts block of the overall population (its score histograms). */
  overall: number;
  /** Counts block of each subgroup column (the histograms of all its levels). */
  subgroup: number;
  /** Fixed-point sums block (Brier and reliability score sums) of each population. */
  sums: number;
  /** Exclusion counters of each population. */
  exclusions: number;
}

/**
 * Default weights: overall 3 and each subgroup column 2 (the planner's ratio), the sums of each
 * population 1, its exclusion counters 0.25. With one subgroup column (total 7.5): 40 % of ρ for the
 * overall histograms, 26.7 % for the subgroup's, 26.7 % for the two sums blocks, 6.7 % for the two
 * exclusion blocks.
 */
export const DEFAULT_RELEASE_WEIGHTS: Readonly<ReleaseWeights> = Object.freeze({ overall: 3, subgroup: 2, sums: 1, exclusions: 0.25 });

/** A release layout with explicit coarse edges: what a resolved spec carries, and what a spec may give directly. */
export interface ResolvedReleaseLayout {
  readonly kind: 'flat' | 'tree';
  /** How the edges were placed (informational): by the planner's rule, or given explicitly. */
  readonly placement: EdgePlacement | 'explicit';
  /** Bins of the metric spec's score grid (`spec.bins`). */
  readonly fineBins: number;
  /** Coarse bin edges as fine-bin indices: 0 = e₀ < e₁ < … < e_k = fineBins; coarse bin i is [eᵢ, eᵢ₊₁). */
  readonly edges: readonly number[];
  /** Tree only: branching factor b ≥ 2 of the tree over the k coarse bins. */
  readonly branching?: number;
}

/** 'auto' (the planner chooses), a planner layout spec (bins and placement), or explicit edges. */
export type PrivacyLayoutSpec = 'auto' | ReleaseLayoutSpec | ResolvedReleaseLayout;

/** A study's privacy parameters. JSON-serializable: part of a study, it travels in every task. */
export interface PrivacySpec {
  /** Per-round ε (> 0) at `delta`; converted to zCDP ρ (CKS20 Corollary 13). Required. */
  epsilon: number;
  /** Per-round δ, 0 < δ < 1. Required. */
  delta: number;
  /**
   * Mechanism of the count blocks. Default 'skellam'. Fixed-point sum blocks use
   * 'distributed-discrete-gaussian' (Skellam shares are too slow at their sensitivity), or
   * 'discrete-gaussian' when this is 'discrete-gaussian' (every site adds the full noise).
   */
  mechanism: NoiseMechanism;
  /** Shares are sized so that any `minSites` contributions carry the full noise; fewer are never decoded. Required. */
  minSites: number;
  /** Release layout of the score histograms. Default 'auto'. */
  layout: PrivacyLayoutSpec;
  /** ρ weights. Default {@link DEFAULT_RELEASE_WEIGHTS}. */
  weights: Partial<ReleaseWeights>;
}

/** The resolved spec: every field present, the layout explicit, deep-frozen. Idempotent under {@link resolvePrivacySpec}. */
export interface ResolvedPrivacySpec {
  readonly epsilon: number;
  readonly delta: number;
  readonly mechanism: NoiseMechanism;
  readonly minSites: number;
  readonly layout: ResolvedReleaseLayout;
  readonly weights: Readonly<ReleaseWeights>;
}

/** Public study parameters used to resolve 'auto' and equal-mass edges; only `layout` is needed otherwise. */
export interface PrivacyContext {
  /** The study's statistics layout (from its metric spec). */
  layout: StatisticsLayout;
  /** Patients with a label expected across all sites ('auto' only). */
  expectedPatients?: number;
  /** Expected share of positives, 0 < π < 1 ('auto' and equal-mass edges). */
  expectedPrevalence?: number;
  /** Sites expected to contribute, ≥ minSites ('auto' only). */
  sites?: number;
  /** AUC assumed by the planner's binormal score model. Default 0.75. */
  assumedAuc?: number;
}

/** A resolved spec and the planner's predictions behind it (null when the planner was not involved). */
export interface PrivacySpecPlan {
  readonly privacy: ResolvedPrivacySpec;
  /**
   * The planner's plan of the histogram blocks: its ρ is their share of the round's ρ, so its
   * predicted errors are those of this release. Null for explicit edges and for non-binary tasks.
   */
  readonly plan: ReleasePlan | null;
}

export const DEFAULT_PRIVACY_SPEC: Readonly<Pick<PrivacySpec, 'mechanism' | 'layout'>> = Object.freeze({ mechanism: 'skellam', layout: 'auto' });

const MECHANISMS: readonly NoiseMechanism[] = ['skellam', 'distributed-discrete-gaussian', 'discrete-gaussian'];
const SPEC_KEYS = new Set(['epsilon', 'delta', 'mechanism', 'minSites', 'layout', 'weights']);
const WEIGHT_KEYS = new Set(Object.keys(DEFAULT_RELEASE_WEIGHTS));
const PLANNER_LAYOUT_KEYS = new Set(['kind', 'bins', 'branching', 'edges']);
const EXPLICIT_LAYOUT_KEYS = new Set(['kind', 'placement', 'fineBins', 'edges', 'branching']);
const DEFAULT_ASSUMED_AUC = 0.75;

function isPositiveInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 1;
}

function isPositiveNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0;
}

function truncate(text: string): string {
  return text.length > 64 ? `${text.slice(0, 64)}…` : text;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * Fine-grid indices that must be coarse edges so that metrics computed at them stay exact: the
 * decision threshold, the decision-curve thresholds and the reliability (calibration) bin edges of a
 * binary task. Sorted, unique, interior (0 and fineBins are edges anyway). The first entry of
 * `thresholds` is the decision threshold itself when it is interior.
 */
export function pinnedReleaseEdges(layout: StatisticsLayout): { edges: number[]; thresholds: number[] } {
  const spec = layout.spec;
  if (spec.task !== 'binary') return { edges: [], thresholds: [] };
  const B = spec.bins;
  const thresholds = [spec.threshold, ...spec.decisionThresholds];
  for (let j = 1; j < spec.calibrationBins; j += 1) thresholds.push(j / spec.calibrationBins);
  const interior = thresholds.filter((t) => Math.round(t * B) > 0 && Math.round(t * B) < B);
  const unique = [...new Set(interior.map((t) => Math.round(t * B)))];
  return { edges: unique.sort((a, b) => a - b), thresholds: [...new Set(interior)] };
}

/** Declared levels of each group column (planner subgroup sizes): levels, or cuts + 1 bands; at least 2. */
function declaredLevels(layout: StatisticsLayout): number[] {
  return layout.spec.groups.map((g) => Math.max(2, g.levels ? g.levels.length : (g.cuts?.length ?? 0) + 1));
}

function checkWeights(given: unknown, problems: string[]): ReleaseWeights {
  const weights = { ...DEFAULT_RELEASE_WEIGHTS };
  if (given === undefined) return weights;
  if (!isRecord(given)) {
    problems.push('weights must be an object');
    return weights;
  }
  for (const [key, value] of Object.entries(given)) {
    if (!WEIGHT_KEYS.has(key)) problems.push(`unknown property "weights.${truncate(key)}"`);
    else if (value === undefined) continue;
    else if (!isPositiveNumber(value)) problems.push(`weights.${key} must be a finite number > 0`);
    else weights[key as keyof ReleaseWeights] = value;
  }
  return weights;
}

/** Checks an explicit layout against the statistics layout; returns it normalised or null (problems listed). */
function checkExplicitLayout(given: Record<string, unknown>, layout: StatisticsLayout, problems: string[]): ResolvedReleaseLayout | null {
  const start = problems.length;
  const B = layout.spec.bins;
  for (const key of Object.keys(given)) if (!EXPLICIT_LAYOUT_KEYS.has(key)) problems.push(`unknown property "layout.${truncate(key)}"`);
  const { kind, placement, fineBins, edges, branching } = given;
  if (kind !== 'flat' && kind !== 'tree') problems.push("layout.kind must be 'flat' or 'tree'");
  const validPlacement = placement === undefined || placement === 'equal-width' || placement === 'equal-mass' || placement === 'explicit';
  if (!validPlacement) problems.push("layout.placement must be 'equal-width', 'equal-mass' or 'explicit'");
  if (fineBins !== B) problems.push(`layout.fineBins must equal the metric spec's bins (${B})`);
  if (kind === 'tree' && !(isPositiveInteger(branching) && branching >= 2)) problems.push('layout.branching must be an integer ≥ 2 for a tree');
  if (kind === 'flat' && branching !== undefined) problems.push('layout.branching applies to trees only');
  const list = Array.isArray(edges) ? (edges as unknown[]) : null;
  if (list === null || list.length < 2 || !list.every((e) => typeof e === 'number' && Number.isSafeInteger(e))) {
    problems.push(`layout.edges must be an array of at least 2 integers`);
  } else {
    try {
      checkEdges(Int32Array.from(list as number[]), B);
    } catch {
      problems.push(`layout.edges must run from 0 to ${B} and strictly increase`);
    }
    const present = new Set(list as number[]);
    const missing = pinnedReleaseEdges(layout).edges.filter((e) => !present.has(e));
    if (missing.length > 0) {
      problems.push(`layout.edges must include the threshold, decision-curve and calibration edges (missing ${missing.slice(0, 20).join(', ')}${missing.length > 20 ? ', …' : ''})`);
    }
    if (kind === 'tree' && isPositiveInteger(branching) && branching >= 2) {
      try {
        treeShape(list.length - 1, branching);
      } catch (cause) {
        problems.push(`layout: ${(cause as Error).message}`);
      }
    }
  }
  if (problems.length > start) return null;
  const resolved: ResolvedReleaseLayout = {
    kind: kind as 'flat' | 'tree',
    placement: (placement ?? 'explicit') as ResolvedReleaseLayout['placement'],
    fineBins: B,
    edges: Object.freeze([...(list as number[])]),
    ...(kind === 'tree' ? { branching: branching as number } : {}),
  };
  return Object.freeze(resolved);
}

function fromPlannerLayout(layout: ReleaseLayout): ResolvedReleaseLayout {
  return Object.freeze({
    kind: layout.kind,
    placement: layout.placement,
    fineBins: layout.fineBins,
    edges: Object.freeze(Array.from(layout.edges)),
    ...(layout.tree ? { branching: layout.tree.branching } : {}),
  });
}

/** Share of ρ the histogram (counts) blocks receive under the weights. */
export function histogramRhoShare(weights: Readonly<ReleaseWeights>, groupColumns: number): number {
  const histograms = weights.overall + groupColumns * weights.subgroup;
  return histograms / (histograms + (1 + groupColumns) * (weights.sums + weights.exclusions));
}

interface Checked {
  epsilon: number;
  delta: number;
  mechanism: NoiseMechanism;
  minSites: number;
  weights: ReleaseWeights;
}

/**
 * Resolves a privacy spec against a study's statistics layout and returns the planner's plan with
 * it. Fills defaults, checks every field (one FEDVAL_ERR_DP_INVALID_ARGUMENT listing every problem;
 * unknown properties are problems), and turns the layout into explicit edges: 'auto' with
 * {@link planRelease} on the context's public parameters, a planner layout spec with the planner's
 * edge rule, explicit edges after checking them. The decision threshold, decision-curve thresholds
 * and calibration bin edges are always coarse edges.
 */
export function planPrivacySpec(partial: Partial<PrivacySpec>, context: PrivacyContext): PrivacySpecPlan {
  if (!isRecord(partial)) throw new DpError('FEDVAL_ERR_DP_INVALID_ARGUMENT', 'privacy spec: the spec must be an object');
  const problems: string[] = [];
  for (const key of Object.keys(partial)) if (!SPEC_KEYS.has(key)) problems.push(`unknown property "${truncate(key)}"`);
  const given = partial as Record<string, unknown>;
  const { epsilon, delta, minSites } = given;
  if (!isPositiveNumber(epsilon)) problems.push('epsilon must be a finite number > 0');
  if (typeof delta !== 'number' || !(delta > 0 && delta < 1)) problems.push('delta must be a number with 0 < delta < 1');
  if (!isPositiveInteger(minSites)) problems.push('minSites must be a positive integer');
  const mechanism = given['mechanism'] ?? DEFAULT_PRIVACY_SPEC.mechanism;
  if (!MECHANISMS.includes(mechanism as NoiseMechanism)) problems.push(`mechanism must be one of ${MECHANISMS.join(', ')}`);
  const weights = checkWeights(given['weights'], problems);

  const { layout } = context;
  const { expectedPatients, expectedPrevalence, sites } = context;
  const assumedAuc = context.assumedAuc ?? DEFAULT_ASSUMED_AUC;
  const needsPlanner = (what: string, needs: { patients?: boolean; prevalence?: boolean; sites?: boolean }): void => {
    if (needs.patients && !(typeof expectedPatients === 'number' && Number.isFinite(expectedPatients) && expectedPatients >= 2)) {
      problems.push(`${what} needs context.expectedPatients ≥ 2`);
    }
    if (needs.prevalence && !(typeof expectedPrevalence === 'number' && expectedPrevalence > 0 && expectedPrevalence < 1)) {
      problems.push(`${what} needs context.expectedPrevalence with 0 < π < 1`);
    }
    if (needs.sites && !isPositiveInteger(sites)) problems.push(`${what} needs context.sites, a positive integer`);
    if (!(assumedAuc > 0.5 && assumedAuc < 1)) problems.push('context.assumedAuc must lie strictly between 0.5 and 1');
  };
  if (sites !== undefined && isPositiveInteger(sites) && isPositiveInteger(minSites) && minSites > sites) {
    problems.push(`minSites (${minSites}) must not exceed context.sites (${sites})`);
  }

  const requested = given['layout'] ?? DEFAULT_PRIVACY_SPEC.layout;
  const task = layout.spec.task;
  let explicit: ResolvedReleaseLayout | null = null;
  let plannerSpec: ReleaseLayoutSpec | 'auto' | null = null;
  if (requested === 'auto') {
    if (task === 'regression') explicit = Object.freeze({ kind: 'flat', placement: 'equal-width', fineBins: layout.spec.bins, edges: Object.freeze([0, layout.spec.bins]) });
    else {
      needsPlanner("layout 'auto'", { patients: true, prevalence: task === 'binary', sites: true });
      plannerSpec = 'auto';
    }
  } else if (isRecord(requested) && Array.isArray(requested['edges'])) {
    explicit = checkExplicitLayout(requested, layout, problems);
  } else if (isRecord(requested)) {
    for (const key of Object.keys(requested)) if (!PLANNER_LAYOUT_KEYS.has(key)) problems.push(`unknown property "layout.${truncate(key)}"`);
    const { kind, bins, branching } = requested;
    if (kind !== 'flat' && kind !== 'tree') problems.push("layout.kind must be 'flat' or 'tree'");
    const pinnedCount = pinnedReleaseEdges(layout).edges.length;
    if (!isPositiveInteger(bins) || bins > layout.spec.bins) problems.push(`layout.bins must be an integer from 1 to ${layout.spec.bins}`);
    else if (bins <= pinnedCount) problems.push(`layout.bins must exceed ${pinnedCount}, the threshold, decision-curve and calibration edges it keeps`);
    if (kind === 'tree' && !(isPositiveInteger(branching) && branching >= 2)) problems.push('layout.branching must be an integer ≥ 2 for a tree');
    if (kind === 'flat' && branching !== undefined) problems.push('layout.branching applies to trees only');
    const placement = requested['edges'] ?? 'equal-width';
    if (placement !== 'equal-width' && placement !== 'equal-mass') problems.push("layout.edges must be 'equal-width', 'equal-mass' or an array of edges");
    if (placement === 'equal-mass') needsPlanner('equal-mass edges', { prevalence: true });
    plannerSpec = requested as unknown as ReleaseLayoutSpec;
  } else {
    problems.push("layout must be 'auto', a layout spec { kind, bins, branching?, edges? } or explicit edges { kind, fineBins, edges, branching? }");
  }
  if (problems.length > 0) throw new DpError('FEDVAL_ERR_DP_INVALID_ARGUMENT', `privacy spec: ${problems.join('; ')}`);
  const checked: Checked = { epsilon: epsilon as number, delta: delta as number, mechanism: mechanism as NoiseMechanism, minSites: minSites as number, weights };

  let plan: ReleasePlan | null = null;
  if (explicit === null && plannerSpec !== null) {
    const resolved = resolvePlannerLayout(plannerSpec, checked, context, assumedAuc, problems);
    if (resolved === null) throw new DpError('FEDVAL_ERR_DP_INVALID_ARGUMENT', `privacy spec: ${problems.join('; ')}`);
    explicit = resolved.layout;
    plan = resolved.plan;
  }
  const privacy: ResolvedPrivacySpec = Object.freeze({
    epsilon: checked.epsilon,
    delta: checked.delta,
    mechanism: checked.mechanism,
    minSites: checked.minSites,
    layout: explicit as ResolvedReleaseLayout,
    weights: Object.freeze(weights),
  });
  return Object.freeze({ privacy, plan });
}

/**
 * A planner layout ('auto' or a layout spec) as explicit edges, with the planner's plan when the
 * task is binary and the context has the public parameters. The planner sees only the histogram
 * blocks, so it is given their share of ρ (as its ε at the same δ) and the overall/subgroup weights.
 */
function resolvePlannerLayout(
  spec: ReleaseLayoutSpec | 'auto',
  privacy: Checked,
  context: PrivacyContext,
  assumedAuc: number,
  problems: string[],
): { layout: ResolvedReleaseLayout; plan: ReleasePlan | null } | null {
  const { layout } = context;
  const B = layout.spec.bins;
  const pinned = pinnedReleaseEdges(layout);
  const binary = layout.spec.task === 'binary';
  const canPlan = context.expectedPatients !== undefined && context.sites !== undefined && (!binary || context.expectedPrevalence !== undefined);
  const K = layout.spec.classes?.length ?? 2;
  // Multiclass 'auto': each class's pair of histograms is planned as a binary problem of prevalence 1/K (a heuristic).
  const prevalence = binary ? (context.expectedPrevalence ?? 0.5) : 1 / K;
  try {
    if (spec === 'auto' || canPlan) {
      const rho = rhoFromEpsilon(privacy.epsilon, privacy.delta) * histogramRhoShare(privacy.weights, layout.spec.groups.length);
      const plan = planRelease({
        patients: context.expectedPatients as number,
        prevalence,
        sites: context.sites as number,
        minSites: privacy.minSites,
        epsilon: epsilonFromRho(rho, privacy.delta),
        delta: privacy.delta,
        mechanism: privacy.mechanism,
        fineBins: B,
        layout: spec,
        subgroupLevels: declaredLevels(layout),
        thresholds: pinned.thresholds,
        assumedAuc,
        weights: { overall: privacy.weights.overall, subgroup: privacy.weights.subgroup },
      });
      return { layout: fromPlannerLayout(plan.layout), plan: binary ? plan : null };
    }
    const model = { prevalence, auc: assumedAuc };
    return { layout: fromPlannerLayout(resolveLayout(spec, B, pinned.thresholds, model)), plan: null };
  } catch (cause) {
    if (!(cause instanceof DpError) || cause.code !== 'FEDVAL_ERR_DP_INVALID_ARGUMENT') throw cause;
    const hint = cause.message.includes('too many threshold edges') ? ' (edges are pinned by moving existing ones: use more bins or explicit edges)' : '';
    problems.push(`layout: ${cause.message}${hint}`);
    return null;
  }
}

/** {@link planPrivacySpec} without the plan: the resolved, frozen spec that travels in every task. */
export function resolvePrivacySpec(partial: Partial<PrivacySpec>, context: PrivacyContext): ResolvedPrivacySpec {
  return planPrivacySpec(partial, context).privacy;
}

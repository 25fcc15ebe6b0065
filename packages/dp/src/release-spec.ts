// release-spec.ts — a study's privacy spec: defaults, validation, and resolving layout 'auto' once, with the planner.
//
// The spec travels in every evaluation task, so what travels is the resolved form: the release layout
// as explicit coarse bin edges on the metric spec's score grid (equal-mass edges depend on planning
// assumptions a site does not have). Resolution happens once, at the coordinator or sponsor, from
// public study parameters (expected patients, prevalence, sites), never from data.
import { scoreGridOf } from '@fedval/metrics';
import type { StatisticsLayout } from '@fedval/metrics';
import { listProblems } from '@fedval/schema';
import { z } from 'zod';
import { epsilonFromRho, rhoFromEpsilon } from './accountant.ts';
import type { NoiseMechanism } from './allocation.ts';
import { checkEdges } from './coarsening.ts';
import { DpError } from './errors.ts';
import { choosePositiveLayout, planRelease, resolveLayout } from './planner.ts';
import { planReleaseWeights, predictSplit } from './priorities.ts';
import type { ReleaseSplit } from './priorities.ts';
import type { EdgePlacement, PositiveLayoutChoice, ReleaseLayout, ReleaseLayoutSpec, ReleasePlan } from './planner.ts';
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
  /**
   * Class totals of each subgroup column of a binary task (the negatives and positives of every level: one counter per
   * patient and column), which the suppression rule reads. Optional in a spec: resolving a new spec fills the default; a
   * spec already resolved without it (before this block existed) keeps its weights when resolved again, and a release
   * built from weights without it has none.
   */
  totals?: number;
}

/**
 * Default weights: overall 3 and each subgroup column 2 (the planner's ratio), the sums of each
 * population 1, its exclusion counters 0.25, each subgroup column's class totals 1 (binary tasks with subgroups only).
 * With one subgroup column of a binary task (total 8.5): 35.3 % of ρ for the overall histograms, 23.5 % for the
 * subgroup's, 23.5 % for the two sums blocks, 5.9 % for the two exclusion blocks, 11.8 % for the class totals.
 */
export const DEFAULT_RELEASE_WEIGHTS: Readonly<ReleaseWeights> = Object.freeze({ overall: 3, subgroup: 2, sums: 1, exclusions: 0.25, totals: 1 });

/** Subgroup columns that carry a class-totals block: every column of a binary task, none otherwise. */
export function totalsColumns(layout: StatisticsLayout): number {
  return layout.spec.task === 'binary' ? layout.spec.groups.length : 0;
}

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

/**
 * What the study is for, as relative importances (only ratios matter): the planner splits ρ across the release blocks
 * to minimise Σ priority × predicted error SD of each metric (see {@link planReleaseWeights}) instead of using fixed
 * weights. Each metric's error is averaged over its populations.
 */
export interface ReleasePriorities {
  /** The overall ROC AUC (and with it the overall histograms: ROC curve, threshold metrics). */
  overallAuc: number;
  /** The AUC of a subgroup level, averaged over the group columns (their histograms). */
  subgroupAuc: number;
  /** Calibration: calibration in the large (observed/expected events) of each population, from the fixed-point sums. */
  calibration: number;
  /** The share of patients excluded for each reason, per population (the exclusion counters). */
  exclusions: number;
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
  /** ρ weights. Default {@link DEFAULT_RELEASE_WEIGHTS}. Not together with `priorities`. */
  weights: Partial<ReleaseWeights>;
  /**
   * Priorities from which the planner derives the weights (needs the planning parameters of layout 'auto'). Optional;
   * absent: `weights` (or their defaults) as given. A metric left out has priority 0 (its blocks then get the smallest
   * share the rule allows, see {@link MIN_PRIORITY_SHARE}).
   */
  priorities: Partial<ReleasePriorities>;
  /**
   * Binary tasks: the positives' histograms on their own, coarser layout (issue 18, per-class layouts), explicit edges
   * only, a subset of `layout`'s explicit edges that keeps every pinned edge. Optional: layout 'auto' chooses one where
   * the planner predicts a gain ({@link choosePositiveLayout}); absent: `layout` for both classes.
   */
  positiveLayout: ResolvedReleaseLayout;
}

/** The resolved spec: every field present, the layout explicit, deep-frozen. Idempotent under {@link resolvePrivacySpec}. */
export interface ResolvedPrivacySpec {
  readonly epsilon: number;
  readonly delta: number;
  readonly mechanism: NoiseMechanism;
  readonly minSites: number;
  readonly layout: ResolvedReleaseLayout;
  /** The positives' layout when it differs from `layout` (binary tasks; see {@link PrivacySpec.positiveLayout}); absent: `layout` for both classes. */
  readonly positiveLayout?: ResolvedReleaseLayout;
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
  /** With `priorities`: the split the planner chose and the predicted error SD of every metric under it; else null. */
  readonly split: ReleaseSplit | null;
  /** The per-class layout 'auto' chose and its predicted AUC errors against the shared layout's; null when none was chosen. */
  readonly perClass: PositiveLayoutChoice | null;
}

export const DEFAULT_PRIVACY_SPEC: Readonly<Pick<PrivacySpec, 'mechanism' | 'layout'>> = Object.freeze({ mechanism: 'skellam', layout: 'auto' });

/** Priorities a spec leaves out are 0. */
const NO_PRIORITIES: Readonly<ReleasePriorities> = Object.freeze({ overallAuc: 0, subgroupAuc: 0, calibration: 0, exclusions: 0 });

const MECHANISMS = ['skellam', 'distributed-discrete-gaussian', 'discrete-gaussian'] as const satisfies readonly NoiseMechanism[];
const DEFAULT_ASSUMED_AUC = 0.75;

function isPositiveInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 1;
}

function isRecord(value: unknown): value is { readonly [key: string]: unknown } {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

const must = (what: string) => ({ error: `must be ${what}` });
const positiveNumber = z.number(must('a finite number > 0')).positive(must('a finite number > 0')).refine(Number.isFinite, must('a finite number > 0'));
const positiveInteger = z.int(must('a positive integer')).min(1, must('a positive integer'));
const epsilonField = positiveNumber;
const deltaField = z.number(must('a number with 0 < delta < 1')).gt(0, must('a number with 0 < delta < 1')).lt(1, must('a number with 0 < delta < 1'));
const mechanismField = z.enum(MECHANISMS, must(`one of ${MECHANISMS.join(', ')}`));
const layoutKind = z.enum(['flat', 'tree'], must("'flat' or 'tree'"));
const branchingField = z.int(must('an integer ≥ 2 for a tree')).min(2, must('an integer ≥ 2 for a tree'));

const nonNegativeNumber = z.number(must('a finite number ≥ 0')).min(0, must('a finite number ≥ 0')).refine(Number.isFinite, must('a finite number ≥ 0'));
const prioritiesMessage = must('an object with a priority > 0');
const somePriority = (value: Readonly<Record<string, number | undefined>>) => Object.values(value).some((v) => v !== undefined && v > 0);
/** Priorities as given (camelCase): any subset of {@link ReleasePriorities}, each ≥ 0, at least one > 0. */
export const releasePrioritiesSchema = z
  .strictObject({ overallAuc: nonNegativeNumber.optional(), subgroupAuc: nonNegativeNumber.optional(), calibration: nonNegativeNumber.optional(), exclusions: nonNegativeNumber.optional() }, must('an object'))
  .refine(somePriority, prioritiesMessage);
/** Priorities as a person writes them (REST/YAML, snake_case). */
export const releasePrioritiesInputSchema = z
  .strictObject({ overall_auc: nonNegativeNumber.optional(), subgroup_auc: nonNegativeNumber.optional(), calibration: nonNegativeNumber.optional(), exclusions: nonNegativeNumber.optional() }, must('an object'))
  .refine(somePriority, prioritiesMessage);

/** ρ weights as given: any subset of {@link ReleaseWeights}, each a finite number > 0. */
export const releaseWeightsSchema = z.strictObject(
  { overall: positiveNumber.optional(), subgroup: positiveNumber.optional(), sums: positiveNumber.optional(), exclusions: positiveNumber.optional(), totals: positiveNumber.optional() },
  must('an object'),
);

/** Run the rules between fields even when a field failed (every problem listed at once), but only on an object. */
const always = { when: (payload: { value: unknown }) => isRecord(payload.value) };
const branchingRule = (layout: { readonly [key: string]: unknown }, ctx: z.RefinementCtx) => {
  if (layout['kind'] === 'flat' && layout['branching'] !== undefined) ctx.addIssue({ code: 'custom', path: ['branching'], message: 'applies to trees only' });
  if (layout['kind'] === 'tree' && layout['branching'] === undefined) ctx.addIssue({ code: 'custom', path: ['branching'], message: 'must be an integer ≥ 2 for a tree' });
};
const edgesText = 'an array of at least 2 integers';
const explicitEdges = z.array(z.int(must(edgesText)), must(edgesText)).min(2, must(edgesText)).readonly();
const edgeRunRule = (fineBins: string) => (layout: { readonly [key: string]: unknown }, ctx: z.RefinementCtx) => {
  const edges = layout['edges'];
  const B = layout[fineBins];
  if (!Array.isArray(edges) || !isPositiveInteger(B) || !edges.every((e) => Number.isSafeInteger(e))) return;
  try {
    checkEdges(Int32Array.from(edges), B);
  } catch {
    ctx.addIssue({ code: 'custom', path: ['edges'], message: `must run from 0 to ${B} and strictly increase` });
  }
};

/** A release layout with explicit edges as it travels in a task (camelCase). */
export const resolvedReleaseLayoutSchema = z
  .strictObject(
    {
      kind: layoutKind,
      placement: z.enum(['equal-width', 'equal-mass', 'explicit'], must("'equal-width', 'equal-mass' or 'explicit'")).default('explicit'),
      fineBins: positiveInteger,
      edges: explicitEdges,
      branching: branchingField.optional(),
    },
    must('an object'),
  )
  .superRefine(branchingRule, always)
  .superRefine(edgeRunRule('fineBins'), always);

/** A planner layout spec: the planner places `bins` coarse bins by its edge rule. */
export const releaseLayoutSpecSchema = z
  .strictObject(
    {
      kind: layoutKind,
      bins: positiveInteger,
      branching: branchingField.optional(),
      edges: z.enum(['equal-width', 'equal-mass'], must("'equal-width', 'equal-mass' or an array of edges")).optional(),
    },
    must('an object'),
  )
  .superRefine(branchingRule, always);

const LAYOUT_FORMS = "must be 'auto', a layout spec { kind, bins, branching?, edges? } or explicit edges { kind, fineBins, edges, branching? }";

/**
 * One of the three layout forms. A refused layout's problems are those of the form the sender was
 * evidently writing (@fedval/schema listProblems), or the list of forms.
 */
function layoutSchema<E extends z.ZodType, P extends z.ZodType>(explicit: E, planner: P, forms: string) {
  return z.union([z.literal('auto'), explicit, planner], { error: forms });
}

/**
 * A study's privacy spec as it crosses the wire and the packages (camelCase). Structure only: the
 * rules against the study's statistics layout (edges on its grid, pinned edges, planner inputs) are
 * checked by {@link planPrivacySpec}, which needs the layout.
 */
export const privacySpecSchema = z.strictObject(
  {
    epsilon: epsilonField,
    delta: deltaField,
    mechanism: mechanismField.optional(),
    minSites: positiveInteger,
    layout: layoutSchema(resolvedReleaseLayoutSchema, releaseLayoutSpecSchema, LAYOUT_FORMS).optional(),
    weights: releaseWeightsSchema.optional(),
    priorities: releasePrioritiesSchema.optional(),
    positiveLayout: resolvedReleaseLayoutSchema.optional(),
  },
  must('an object'),
);

/**
 * The resolved spec as it travels in every evaluation task: every field present, the layout explicit.
 * {@link resolvePrivacySpec} still checks it against the study's statistics layout.
 */
export const resolvedPrivacySpecSchema = z.strictObject(
  {
    epsilon: epsilonField,
    delta: deltaField,
    mechanism: mechanismField,
    minSites: positiveInteger,
    layout: resolvedReleaseLayoutSchema,
    positiveLayout: resolvedReleaseLayoutSchema.optional(),
    weights: z.strictObject({ overall: positiveNumber, subgroup: positiveNumber, sums: positiveNumber, exclusions: positiveNumber, totals: positiveNumber.optional() }, must('an object')),
  },
  must('an object'),
);

/** Compile-time proof that the wire schema and {@link ResolvedPrivacySpec} describe the same documents. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const resolvedSchemaMatches: Same<z.output<typeof resolvedPrivacySpecSchema>, ResolvedPrivacySpec> = true;
void resolvedSchemaMatches;

const explicitLayoutInputSchema = z
  .strictObject(
    {
      kind: layoutKind,
      placement: z.enum(['equal-width', 'equal-mass', 'explicit'], must("'equal-width', 'equal-mass' or 'explicit'")).default('explicit'),
      fine_bins: positiveInteger,
      edges: explicitEdges,
      branching: branchingField.optional(),
    },
    must('an object'),
  )
  .superRefine(branchingRule, always)
  .superRefine(edgeRunRule('fine_bins'), always);

/**
 * A study's privacy as a person writes it: the REST API's `privacy` and YAML (snake_case). `min_sites`
 * is not here: it is the study's release policy. `expected_patients` and `expected_prevalence` are the
 * public planning assumptions of layout 'auto' (required there: `expected_patients` for binary and
 * multiclass tasks, `expected_prevalence` for binary tasks and for equal-mass edges), checked against
 * the metric spec by {@link planPrivacySpecInput}.
 */
export const privacySpecInputSchema = z
  .strictObject(
    {
      epsilon: epsilonField,
      delta: deltaField,
      mechanism: mechanismField.optional(),
      layout: layoutSchema(explicitLayoutInputSchema, releaseLayoutSpecSchema, LAYOUT_FORMS.replace('fineBins', 'fine_bins')).optional(),
      weights: releaseWeightsSchema.optional(),
      priorities: releasePrioritiesInputSchema.optional(),
      expected_patients: z.number(must('a number ≥ 2')).min(2, must('a number ≥ 2')).refine(Number.isFinite, must('a number ≥ 2')).optional(),
      expected_prevalence: z.number(must('a number with 0 < π < 1')).gt(0, must('a number with 0 < π < 1')).lt(1, must('a number with 0 < π < 1')).optional(),
    },
    must('an object'),
  );

/** What {@link privacySpecInputSchema} accepts; parsing gives it back in the same spelling, so it may be parsed again. */
export type PrivacySpecInput = z.input<typeof privacySpecInputSchema>;

/** How problems name the planning parameters: as the API caller wrote them (`context.…`) or as the REST/YAML user did. */
interface ContextSpelling {
  expectedPatients: string;
  expectedPrevalence: string;
  sites: string;
  minSites: string;
  assumedAuc: string;
  fineBins: string;
}
const CONTEXT_SPELLING: ContextSpelling = {
  expectedPatients: 'context.expectedPatients',
  expectedPrevalence: 'context.expectedPrevalence',
  sites: 'context.sites',
  minSites: 'minSites',
  assumedAuc: 'context.assumedAuc',
  fineBins: 'layout.fineBins',
};
const INPUT_SPELLING: ContextSpelling = {
  expectedPatients: 'expected_patients',
  expectedPrevalence: 'expected_prevalence',
  sites: 'sites',
  minSites: 'min_sites',
  assumedAuc: 'assumed_auc',
  fineBins: 'layout.fine_bins',
};

/**
 * Fine-grid indices that must be coarse edges so that metrics computed at them stay exact: the
 * decision threshold, the decision-curve thresholds and the reliability (calibration) bin edges of a
 * binary task. Sorted, unique, interior (0 and fineBins are edges anyway). `thresholds` are the same
 * points as k/B, the fine grid's index coordinate the planner works in (the threshold itself on an
 * equal-width grid; on a fitted grid the planner's score model treats the fine bins as equal-width); the
 * first entry is the decision threshold itself when it is interior.
 */
export function pinnedReleaseEdges(layout: StatisticsLayout): { edges: number[]; thresholds: number[] } {
  const spec = layout.spec;
  if (spec.task !== 'binary') return { edges: [], thresholds: [] };
  const B = spec.bins;
  const grid = scoreGridOf(spec);
  const values = [spec.threshold, ...spec.decisionThresholds];
  for (let j = 1; j < spec.calibrationBins; j += 1) values.push(j / spec.calibrationBins);
  const indices = values.map((t) => grid.index(t) ?? Math.round(t * B)).filter((k) => k > 0 && k < B);
  const unique = [...new Set(indices)];
  return { edges: [...unique].sort((a, b) => a - b), thresholds: unique.map((k) => k / B) };
}

/** Declared levels of each group column (planner subgroup sizes): levels, or cuts + 1 bands; at least 2. */
function declaredLevels(layout: StatisticsLayout): number[] {
  return layout.spec.groups.map((g) => Math.max(2, g.levels ? g.levels.length : (g.cuts?.length ?? 0) + 1));
}

/**
 * Rules of a layout against the study's statistics layout, looked at on the layout as given (so they
 * are listed with the schema's problems): explicit edges on the metric spec's grid, keeping the pinned
 * edges, forming a tree of the branching; planner bins within the grid and above the pinned edges.
 */
function layoutProblems(given: unknown, layout: StatisticsLayout, spelling: ContextSpelling, problems: string[]): void {
  if (!isRecord(given)) return;
  const B = layout.spec.bins;
  const pinned = pinnedReleaseEdges(layout).edges;
  const edges = given['edges'];
  if (Array.isArray(edges)) {
    const fineBins = given[spelling.fineBins.slice('layout.'.length)];
    if (fineBins !== B) problems.push(`${spelling.fineBins} must equal the metric spec's bins (${B})`);
    if (!edges.every((e) => Number.isSafeInteger(e))) return;
    const present = new Set(edges);
    const missing = pinned.filter((e) => !present.has(e));
    if (missing.length > 0) {
      problems.push(`layout.edges must include the threshold, decision-curve and calibration edges (missing ${missing.slice(0, 20).join(', ')}${missing.length > 20 ? ', …' : ''})`);
    }
    const branching = given['branching'];
    if (given['kind'] === 'tree' && isPositiveInteger(branching) && branching >= 2 && edges.length >= 2) {
      try {
        treeShape(edges.length - 1, branching);
      } catch (cause) {
        if (!(cause instanceof DpError)) throw cause;
        problems.push(`layout: ${cause.message}`);
      }
    }
    return;
  }
  const bins = given['bins'];
  if (isPositiveInteger(bins) && bins > B) problems.push(`layout.bins must be an integer from 1 to ${B}`);
  else if (isPositiveInteger(bins) && bins <= pinned.length) problems.push(`layout.bins must exceed ${pinned.length}, the threshold, decision-curve and calibration edges it keeps`);
}

/**
 * Rules of a positives' layout (binary tasks only, with explicit `layout` edges): on the metric spec's grid, its edges
 * among `layout`'s (each positive bin a union of the negatives' bins, so the two compare bin by bin) and keeping the
 * pinned edges, a tree of its branching.
 */
function positiveLayoutProblems(positive: ResolvedReleaseLayout | null, givenLayout: unknown, layout: StatisticsLayout, problems: string[]): void {
  if (positive === null) return;
  if (layout.spec.task !== 'binary') {
    problems.push('positiveLayout applies to binary tasks only');
    return;
  }
  if (!isRecord(givenLayout) || !Array.isArray(givenLayout['edges'])) {
    problems.push("positiveLayout needs layout as explicit edges (layout 'auto' chooses its own)");
    return;
  }
  const B = layout.spec.bins;
  if (positive.fineBins !== B) problems.push(`positiveLayout.fineBins must equal the metric spec's bins (${B})`);
  const shared = new Set<unknown>(givenLayout['edges']);
  const outside = positive.edges.filter((edge) => !shared.has(edge));
  if (outside.length > 0) problems.push(`positiveLayout.edges must be among layout.edges (not there: ${outside.slice(0, 20).join(', ')}${outside.length > 20 ? ', …' : ''})`);
  const present = new Set(positive.edges);
  const missing = pinnedReleaseEdges(layout).edges.filter((edge) => !present.has(edge));
  if (missing.length > 0) {
    problems.push(`positiveLayout.edges must include the threshold, decision-curve and calibration edges (missing ${missing.slice(0, 20).join(', ')}${missing.length > 20 ? ', …' : ''})`);
  }
  if (positive.kind === 'tree' && positive.branching !== undefined) {
    try {
      treeShape(positive.edges.length - 1, positive.branching);
    } catch (cause) {
      if (!(cause instanceof DpError)) throw cause;
      problems.push(`positiveLayout: ${cause.message}`);
    }
  }
}

/** The privacy spec after its schema, with the planning parameters, before the layout is resolved. */
interface Checked {
  epsilon: number;
  delta: number;
  mechanism: NoiseMechanism;
  minSites: number;
  layout: PrivacyLayoutSpec;
  weights: ReleaseWeights;
  priorities: ReleasePriorities | null;
  positiveLayout: ResolvedReleaseLayout | null;
}

function refuse(problems: string[]): DpError {
  return new DpError('FEDVAL_ERR_DP_INVALID_ARGUMENT', `privacy spec: ${problems.join('; ')}`);
}

/**
 * The planning parameters' rules ('auto' and equal-mass edges need public study parameters; minSites
 * within the sites), then the layout resolved into explicit edges.
 */
function resolveChecked(checked: Checked | null, givenLayout: unknown, context: PrivacyContext, spelling: ContextSpelling, problems: string[]): PrivacySpecPlan {
  const { layout, expectedPatients, expectedPrevalence, sites } = context;
  layoutProblems(givenLayout, layout, spelling, problems);
  positiveLayoutProblems(checked?.positiveLayout ?? null, givenLayout, layout, problems);
  const assumedAuc = context.assumedAuc ?? DEFAULT_ASSUMED_AUC;
  const needsPlanner = (what: string, needs: { patients?: boolean; prevalence?: boolean; sites?: boolean }): void => {
    if (needs.patients && !(typeof expectedPatients === 'number' && Number.isFinite(expectedPatients) && expectedPatients >= 2)) {
      problems.push(`${what} needs ${spelling.expectedPatients} ≥ 2`);
    }
    if (needs.prevalence && !(typeof expectedPrevalence === 'number' && expectedPrevalence > 0 && expectedPrevalence < 1)) {
      problems.push(`${what} needs ${spelling.expectedPrevalence} with 0 < π < 1`);
    }
    if (needs.sites && !isPositiveInteger(sites)) problems.push(`${what} needs ${spelling.sites}, a positive integer`);
    if (!(assumedAuc > 0.5 && assumedAuc < 1)) problems.push(`${spelling.assumedAuc} must lie strictly between 0.5 and 1`);
  };
  if (checked?.priorities) needsPlanner('priorities', { patients: true, prevalence: layout.spec.task === 'binary', sites: true });
  if (checked && sites !== undefined && isPositiveInteger(sites) && checked.minSites > sites) {
    problems.push(`${spelling.minSites} (${checked.minSites}) must not exceed ${spelling.sites} (${sites})`);
  }
  const requested = checked?.layout;
  const task = layout.spec.task;
  let explicit: ResolvedReleaseLayout | null = null;
  let plannerSpec: ReleaseLayoutSpec | 'auto' | null = null;
  if (requested === 'auto') {
    if (task === 'regression' || task === 'survival') explicit = Object.freeze({ kind: 'flat', placement: 'equal-width', fineBins: layout.spec.bins, edges: Object.freeze([0, layout.spec.bins]) });
    else {
      needsPlanner("layout 'auto'", { patients: true, prevalence: task === 'binary', sites: true });
      plannerSpec = 'auto';
    }
  } else if (requested !== undefined && 'fineBins' in requested) {
    explicit = Object.freeze({ ...requested, edges: Object.freeze([...requested.edges]) });
  } else if (requested !== undefined) {
    if (requested.edges === 'equal-mass') needsPlanner('equal-mass edges', { prevalence: true });
    plannerSpec = requested;
  }
  if (problems.length > 0 || checked === null) throw refuse(problems);

  let plan: ReleasePlan | null = null;
  let split: ReleaseSplit | null = null;
  const rho = rhoFromEpsilon(checked.epsilon, checked.delta);
  if (checked.priorities) {
    if (plannerSpec === null || task !== 'binary') throw refuse(["priorities need a binary task and layout 'auto' or a layout spec (the planner predicts for them)"]);
    // The split depends on the layout and the layout on the split: two rounds from the default weights settle it.
    for (let round = 0; round < 2; round += 1) {
      const resolved = resolvePlannerLayout(plannerSpec, checked, context, assumedAuc, problems);
      if (resolved === null || resolved.plan === null) throw refuse(problems);
      split = planReleaseWeights(checked.priorities, resolved.plan, checked.weights, layout, rho);
      checked.weights = { ...split.weights };
      if (checked.weights.totals === undefined) delete checked.weights.totals;
    }
  }
  if (explicit === null && plannerSpec !== null) {
    const resolved = resolvePlannerLayout(plannerSpec, checked, context, assumedAuc, problems);
    if (resolved === null) throw refuse(problems);
    explicit = resolved.layout;
    plan = resolved.plan;
  }
  if (explicit === null) throw refuse(['layout is missing']);
  // Per-class layouts: carried when given with explicit edges (checked above), chosen by the planner for 'auto'.
  let positive = checked.positiveLayout ? Object.freeze({ ...checked.positiveLayout, edges: Object.freeze([...checked.positiveLayout.edges]) }) : null;
  const perClass = requested === 'auto' && plan !== null && task === 'binary' ? choosePositiveLayout(plan) : null;
  if (perClass) positive = fromPlannerLayout(perClass.layout);
  const privacy: ResolvedPrivacySpec = Object.freeze({
    epsilon: checked.epsilon,
    delta: checked.delta,
    mechanism: checked.mechanism,
    minSites: checked.minSites,
    layout: explicit,
    ...(positive ? { positiveLayout: positive } : {}),
    weights: Object.freeze(checked.weights),
  });
  return Object.freeze({ privacy, plan, split: split && plan ? Object.freeze({ ...split, predicted: predictSplit(split, plan, layout, rho) }) : null, perClass });
}

/** A parsed layout in either spelling as the layout the resolution works with. */
function layoutOf(
  layout: z.output<typeof resolvedReleaseLayoutSchema> | z.output<typeof explicitLayoutInputSchema> | z.output<typeof releaseLayoutSpecSchema> | 'auto' | undefined,
): PrivacyLayoutSpec {
  if (layout === undefined || layout === 'auto') return 'auto';
  const branching = layout.kind === 'tree' ? { branching: layout.branching } : {};
  if ('fineBins' in layout) return { kind: layout.kind, placement: layout.placement, fineBins: layout.fineBins, edges: layout.edges, ...branching };
  if ('fine_bins' in layout) return { kind: layout.kind, placement: layout.placement, fineBins: layout.fine_bins, edges: layout.edges, ...branching };
  const edges = layout.edges !== undefined ? { edges: layout.edges } : {};
  return layout.kind === 'tree' ? { kind: 'tree', bins: layout.bins, branching: layout.branching ?? 2, ...edges } : { kind: 'flat', bins: layout.bins, ...edges };
}

/**
 * The weights of `partial` when it is a spec already resolved (every field, explicit layout,
 * {@link resolvedPrivacySpecSchema}) whose weights have no `totals` (one resolved before the class-totals block existed),
 * else null. Re-resolving it (createPrivateRelease does, on every round) must not add the block: the release vector
 * would grow, the study's BFV plan and keys would no longer fit it and the ρ split would change under a spec the study
 * already signed.
 */
function weightsResolvedWithoutTotals(partial: unknown): ReleaseWeights | null {
  const resolved = resolvedPrivacySpecSchema.safeParse(partial);
  return resolved.success && resolved.data.weights.totals === undefined ? resolved.data.weights : null;
}

/**
 * Resolves a privacy spec against a study's statistics layout and returns the planner's plan with
 * it. Parses it with {@link privacySpecSchema}, checks it against the layout and the context (one
 * FEDVAL_ERR_DP_INVALID_ARGUMENT listing every problem; unknown properties are problems), and turns
 * the layout into explicit edges: 'auto' with {@link planRelease} on the context's public parameters,
 * a planner layout spec with the planner's edge rule, explicit edges after checking them. The
 * decision threshold, decision-curve thresholds and calibration bin edges are always coarse edges.
 */
export function planPrivacySpec(partial: unknown, context: PrivacyContext): PrivacySpecPlan {
  const parsed = privacySpecSchema.safeParse(partial);
  const problems = parsed.success ? [] : listProblems(parsed.error);
  const checked: Checked | null = parsed.success
    ? {
        epsilon: parsed.data.epsilon,
        delta: parsed.data.delta,
        mechanism: parsed.data.mechanism ?? DEFAULT_PRIVACY_SPEC.mechanism,
        minSites: parsed.data.minSites,
        layout: layoutOf(parsed.data.layout),
        weights: { ...(weightsResolvedWithoutTotals(partial) ?? { ...DEFAULT_RELEASE_WEIGHTS, ...parsed.data.weights }) },
        priorities: parsed.data.priorities ? { ...NO_PRIORITIES, ...parsed.data.priorities } : null,
        positiveLayout: parsed.data.positiveLayout ?? null,
      }
    : null;
  if (parsed.success && parsed.data.priorities && parsed.data.weights) problems.push('give weights or priorities, not both');
  return resolveChecked(checked, isRecord(partial) ? partial['layout'] : undefined, context, CONTEXT_SPELLING, problems);
}

/** The study parameters a REST/YAML privacy spec is resolved with. */
export interface PrivacyInputContext {
  /** The study's statistics layout (from its metric spec). */
  layout: StatisticsLayout;
  /** The study's release policy: fewest contributions a release may hold (REST `release.min_sites`). */
  minSites: number;
  /** Sites of the study. */
  sites: number;
}

/**
 * {@link planPrivacySpec} for a privacy spec as a person writes it ({@link privacySpecInputSchema},
 * snake_case): every problem names the field as written (`expected_patients`, `layout.fine_bins`).
 */
export function planPrivacySpecInput(input: unknown, context: PrivacyInputContext): PrivacySpecPlan {
  const parsed = privacySpecInputSchema.safeParse(input);
  const problems = parsed.success ? [] : listProblems(parsed.error);
  const data = parsed.success ? parsed.data : null;
  const checked: Checked | null = data
    ? {
        epsilon: data.epsilon,
        delta: data.delta,
        mechanism: data.mechanism ?? DEFAULT_PRIVACY_SPEC.mechanism,
        minSites: context.minSites,
        layout: layoutOf(data.layout),
        weights: { ...DEFAULT_RELEASE_WEIGHTS, ...data.weights },
        priorities: data.priorities
          ? {
              overallAuc: data.priorities.overall_auc ?? 0,
              subgroupAuc: data.priorities.subgroup_auc ?? 0,
              calibration: data.priorities.calibration ?? 0,
              exclusions: data.priorities.exclusions ?? 0,
            }
          : null,
        positiveLayout: null,
      }
    : null;
  if (data?.priorities && data.weights) problems.push('give weights or priorities, not both');
  const planning = {
    layout: context.layout,
    sites: context.sites,
    ...(data?.expected_patients !== undefined ? { expectedPatients: data.expected_patients } : {}),
    ...(data?.expected_prevalence !== undefined ? { expectedPrevalence: data.expected_prevalence } : {}),
  };
  return resolveChecked(checked, isRecord(input) ? input['layout'] : undefined, planning, INPUT_SPELLING, problems);
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

/**
 * Share of ρ the histogram (counts) blocks receive under the weights, with `groupColumns` subgroup columns of which
 * `totalsBlocks` carry a class-totals block ({@link totalsColumns}).
 */
export function histogramRhoShare(weights: Readonly<ReleaseWeights>, groupColumns: number, totalsBlocks: number): number {
  const histograms = weights.overall + groupColumns * weights.subgroup;
  return histograms / (histograms + (1 + groupColumns) * (weights.sums + weights.exclusions) + totalsBlocks * (weights.totals ?? 0));
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
  // A fitted grid's thresholds above the development scores crowd into its top fine bins.
  const fitted = layout.spec.scoreGrid !== undefined;
  // The planner's expected histograms put the model's mass between the fitted grid's own score edges.
  const fineEdges = fitted ? Array.from({ length: B + 1 }, (_, k) => scoreGridOf(layout.spec).edge(k)) : null;
  // A quantile grid holds (about) equal shares of the development scores per fine bin, whatever their scale: equal-mass
  // edges follow those shares rather than the calibrated model, which a marker scaled to [0, 1] does not follow.
  const fineShares = layout.spec.scoreGrid?.method === 'quantile' ? new Array<number>(B).fill(1) : null;
  const binary = layout.spec.task === 'binary';
  const canPlan = context.expectedPatients !== undefined && context.sites !== undefined && (!binary || context.expectedPrevalence !== undefined);
  const K = layout.spec.classes?.length ?? 2;
  // Multiclass 'auto': each class's pair of histograms is planned as a binary problem of prevalence 1/K (a heuristic).
  const prevalence = binary ? (context.expectedPrevalence ?? 0.5) : 1 / K;
  try {
    if (spec === 'auto' || canPlan) {
      const rho = rhoFromEpsilon(privacy.epsilon, privacy.delta) * histogramRhoShare(privacy.weights, layout.spec.groups.length, totalsColumns(layout));
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
        crowdedThresholds: fitted,
        fineEdges,
        fineShares,
        assumedAuc,
        weights: { overall: privacy.weights.overall, subgroup: privacy.weights.subgroup },
        hierarchy: true,
      });
      return { layout: fromPlannerLayout(plan.layout), plan: binary ? plan : null };
    }
    const model = { prevalence, auc: assumedAuc };
    return { layout: fromPlannerLayout(resolveLayout(spec, B, pinned.thresholds, model, fitted, fineEdges, fineShares)), plan: null };
  } catch (cause) {
    if (!(cause instanceof DpError) || cause.code !== 'FEDVAL_ERR_DP_INVALID_ARGUMENT') throw cause;
    const hint = cause.message.includes('too many threshold edges') ? ' (edges are pinned by moving existing ones: use more bins or explicit edges)' : '';
    problems.push(`layout: ${cause.message}${hint}`);
    return null;
  }
}

/** {@link planPrivacySpec} without the plan: the resolved, frozen spec that travels in every task. */
export function resolvePrivacySpec(partial: unknown, context: PrivacyContext): ResolvedPrivacySpec {
  return planPrivacySpec(partial, context).privacy;
}

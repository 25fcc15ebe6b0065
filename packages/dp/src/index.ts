// @fedval/dp — differential privacy for fedval: exact integer noise, noise shares, zCDP accounting, budgets and planning.
export { cryptoRandomSource, seededRandomSource, uniformBelow, bernoulliRational, DEFAULT_RANDOM_SOURCE_OPTIONS } from './random-source.ts';
export type { RandomSource, RandomSourceOptions } from './random-source.ts';
export { rational, rationalFromNumber, rationalToNumber, ceilToDenominator, compareRational } from './rational.ts';
export type { Rational } from './rational.ts';
export { sampleBernoulliExp, sampleDiscreteLaplace, discreteGaussianSampler } from './discrete-gaussian.ts';
export type { DiscreteGaussianSampler } from './discrete-gaussian.ts';
export { samplePoisson, sampleSkellam } from './poisson.ts';
export {
  discreteGaussianRho,
  distributedDiscreteGaussianRho,
  skellamRenyiDivergence,
  skellamRho,
  composeRho,
  bunSteinkeEpsilon,
  epsilonFromRho,
  deltaFromRho,
  rhoFromEpsilon,
} from './accountant.ts';
export { planNoise, counterSensitivity, boundedSumSensitivity, aggregateNoiseVariance, assertNoiseQuorum, checkNoiseBlocks, DEFAULT_PARAMETER_DENOMINATOR, DEFAULT_MAX_SKELLAM_LAMBDA } from './allocation.ts';
export type { NoiseBlock, BudgetShare, NoiseMechanism, NoisePlan, NoisePlanOptions, PlannedBlock, SiteNoise } from './allocation.ts';
export { noiseTailBound } from './tail-bounds.ts';
export { addNoise, addDiscreteGaussianNoise, addSkellamNoise, DEFAULT_ADD_NOISE_OPTIONS } from './noise.ts';
export type { AddNoiseOptions } from './noise.ts';
export { treeShape, treeSensitivity, encodeTree, estimateTreeHistogram, treeQueryVariance, treePrefixVariances, DEFAULT_TREE_SHAPE_OPTIONS } from './tree.ts';
export type { TreeShape, TreeShapeOptions } from './tree.ts';
export { equalWidthEdges, equalMassEdges, coarsenHistogram, checkEdges, mergeEdges } from './coarsening.ts';
export { budgetFromEpsilon, budgetStatus, decideCharge, assertChargeAllowed, LEDGER_RELATIVE_TOLERANCE } from './ledger.ts';
export type { PrivacyBudget, EpsilonBudget, LedgerEntry, ChargeRequest, ChargeDecision, BudgetStatus } from './ledger.ts';
export { planRelease, simulateRelease, resolveLayout, predictPopulationError, predictPerClassAuc, choosePositiveLayout, DEFAULT_PLAN_WEIGHTS, DEFAULT_REPORTED_AUC_TRIALS, DEFAULT_SIMULATE_RELEASE_OPTIONS } from './planner.ts';
export { predictSurvivalNoise, expectedSurvivalCounts } from './survival-planner.ts';
export type { SurvivalPlanRequest, SurvivalNoisePrediction } from './survival-planner.ts';
export type {
  PlanReleaseRequest,
  ReleasePlan,
  ReleaseLayout,
  ReleaseLayoutSpec,
  EdgePlacement,
  PerClassPrediction,
  PositiveLayoutChoice,
  SmallCellRule,
  PopulationPrediction,
  PredictedError,
  SimulateReleaseOptions,
  SimulatedErrors,
} from './planner.ts';
export type { ScoreModel } from './binormal-model.ts';
export { normalQuantile } from './binormal-model.ts';
export {
  resolvePrivacySpec,
  planPrivacySpec,
  planPrivacySpecInput,
  privacySpecSchema,
  privacySpecInputSchema,
  resolvedPrivacySpecSchema,
  resolvedReleaseLayoutSchema,
  releaseLayoutSpecSchema,
  releaseWeightsSchema,
  releasePrioritiesSchema,
  releasePrioritiesInputSchema,
  DEFAULT_PRIVACY_SPEC,
  DEFAULT_RELEASE_WEIGHTS,
} from './release-spec.ts';
export type {
  PrivacySpec,
  PrivacySpecInput,
  PrivacyInputContext,
  ResolvedPrivacySpec,
  PrivacyContext,
  PrivacySpecPlan,
  PrivacyLayoutSpec,
  ReleaseWeights,
  ReleasePriorities,
  ResolvedReleaseLayout,
} from './release-spec.ts';
export { planReleaseWeights, predictSplit, MIN_PRIORITY_SHARE } from './priorities.ts';
export type { ReleaseSplit, SplitPrediction, SplitPriorities, SplitWeights } from './priorities.ts';
export { reconcileHierarchy, hierarchyVariances } from './hierarchy.ts';
export type { HierarchyColumn, HierarchyVariances } from './hierarchy.ts';
export { createPrivateRelease, releaseSummarySchema, DEFAULT_PRIVATE_RELEASE_OPTIONS } from './release.ts';
export type { PrivateRelease, PrivateReleaseOptions, DecodedRelease, ReleaseSummary, ReleaseBlockSummary } from './release.ts';
export { createExactRelease } from './exact-release.ts';
export type { ExactRelease } from './exact-release.ts';
export { createRelease, DEFAULT_SUPPRESSION_ALPHA, finalizeRelease, MAX_SUPPRESSION_ALPHA } from './statistics-release.ts';
export type { StatisticsRelease, FinalizedRelease, FinalizeReleaseOptions } from './statistics-release.ts';
export { DpError, DP_ERROR_MESSAGES } from './errors.ts';
export type { DpErrorCode } from './errors.ts';

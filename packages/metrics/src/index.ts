// @fedval/metrics — statistics layout, accumulation from predictions, finalization into clinical validation metrics.
export {
  resolveMetricSpec,
  resolveMetricSpecInput,
  metricSpecSchema,
  metricSpecInputSchema,
  metricSpecToInput,
  metricSpecViewSchema,
  scoreGridInputSchema,
  scoreGridToInput,
  resolveScoreGridInput,
  SCORE_GRID_METHODS,
  DEFAULT_METRIC_SPEC,
  METRIC_SPEC_LIMITS,
  TASK_TYPES,
  OTHER_LEVEL,
  MISSING_LEVEL,
} from './metric-spec.ts';
export { DEFAULT_SURVIVAL_SPEC } from './metric-spec.ts';
export { timeGridOf } from './time-grid.ts';
export type { TimeGrid } from './time-grid.ts';
export { survivalMetrics, survivalNoiseGradients } from './survival-metrics.ts';
export type { SurvivalMetricsBlock, SurvivalCalibrationGroup, NetBenefitPoint, SurvivalThresholdMetrics, SurvivalStatistics, SurvivalContext } from './survival-metrics.ts';
export type { SurvivalSpec, MetricSpec, MetricSpecDraft, MetricSpecInput, MetricSpecView, GroupSpec, TaskType, FittedScoreGrid, ScoreGridMethod, ScoreGridInput } from './metric-spec.ts';
export { groupLevelIndex, groupLevelNames } from './group-levels.ts';
export type { GroupValue } from './group-levels.ts';
export { EXCLUSION_REASONS } from './exclusion-reasons.ts';
export type { ExclusionReason } from './exclusion-reasons.ts';
export { scoreBin, scoreGridOf, equalWidthGrid, fittedGrid, reliabilityBinStarts } from './score-grid.ts';
export type { ScoreGrid } from './score-grid.ts';
export { fitScoreGrid, LOGIT_FIT_FLOOR } from './score-grid-fit.ts';
export type { ScoreGridFitOptions, ScoreGridFitSummary } from './score-grid-fit.ts';
export { createStatisticsLayout, FIXED_POINT_SCALE } from './statistics-layout.ts';
export type { StatisticsLayout, StatisticsBlock, StatisticsSection, FieldSlice } from './statistics-layout.ts';
export { REGRESSION_SUMS } from './section-fields.ts';
export type { SectionFieldName } from './section-fields.ts';
export { createAccumulator } from './accumulator.ts';
export type { StatisticsAccumulator, ColumnarRows, BinaryRows, BinaryCells, MulticlassRows, RegressionRows, SurvivalRows } from './accumulator.ts';
export { addStatistics, addStatisticsInPlace } from './statistics-vector.ts';
export { DEFAULT_MARGIN_SDS, finalizeMetrics, MIN_MARGIN_SDS } from './finalize.ts';
export { metricsReportSchema } from './metrics-report-schema.ts';
export type {
  FinalizeOptions,
  MetricsReport,
  BinaryMetricsReport,
  MulticlassMetricsReport,
  RegressionMetricsReport,
  SurvivalMetricsReport,
  TimeGridSummary,
  BinaryMetricsBlock,
  ThresholdMetrics,
  SuppressedBlock,
  ScoreGridSummary,
  LevelBlock,
  ExclusionCounts,
} from './finalize.ts';
export type { CalibrationMetrics, ReliabilityBin, HosmerLemeshow } from './calibration.ts';
export type { DecisionCurvePoint } from './decision-curve.ts';
export { rocCurve, DEFAULT_ROC_CURVE_POINTS } from './roc-curve.ts';
export type { RocPoint } from './roc-curve.ts';
export type { FairnessMetrics } from './fairness.ts';
export type { MulticlassMetricsBlock, ClassMetrics, AveragedMetrics } from './multiclass-metrics.ts';
export type { RegressionMetricsBlock } from './regression-metrics.ts';
export { mannWhitneyAuc, aucGradients, wilsonInterval } from './binary-metrics.ts';
export { monotoneHistogram } from './noisy-counts.ts';
export type { Interval, ClassHistograms, AucGradients } from './binary-metrics.ts';
export { logisticCalibrationStatistics, fitLogisticCalibration, LOGISTIC_CALIBRATION_STATISTICS, LOGIT_EPSILON, DEFAULT_LOGISTIC_CALIBRATION_OPTIONS } from './logistic-calibration.ts';
export type { LogisticCalibrationFit, LogisticCalibrationOptions } from './logistic-calibration.ts';
export { chiSquareCdf, chiSquareSurvival } from './special-functions.ts';
export { formatMetricsTable } from './format-table.ts';
export { MetricsError, METRICS_ERROR_MESSAGES } from './errors.ts';
export type { MetricsErrorCode } from './errors.ts';
export { EVALUATION_OPTIONS, metricSpecFromOptions, outcomeColumnsFromOptions, parseDecimal } from './command-line.ts';
export type { EvaluationCommandOptions, EvaluationOptionDeclaration, OutcomeColumns } from './command-line.ts';

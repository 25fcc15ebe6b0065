// model-card.ts — the released round as a Model Card (the Model Card Toolkit's JSON schema v0.0.2 fields that apply: model details, quantitative analysis, considerations).
import type { BinaryMetricsReport, Interval } from '@fedval/metrics';
import { z } from 'zod';
import type { ReportDocument } from './report-document.ts';

/** Model Card Toolkit schema version whose fields this export fills (Mitchell et al., FAT* 2019; github.com/tensorflow/model-card-toolkit, schema/v0.0.2). */
export const MODEL_CARD_SCHEMA_VERSION = '0.0.2';

const described = z.strictObject({ description: z.string() });
const performanceMetricSchema = z.strictObject({
  type: z.string().min(1),
  value: z.string(),
  slice: z.string().optional(),
  threshold: z.string().optional(),
  confidence_interval: z.strictObject({ lower_bound: z.string(), upper_bound: z.string() }).optional(),
});

/** The fields of the Model Card Toolkit schema v0.0.2 this export claims, with their types (values are strings there). */
export const modelCardSchema = z.strictObject({
  schema_version: z.literal(MODEL_CARD_SCHEMA_VERSION),
  model_details: z.strictObject({
    name: z.string().min(1),
    overview: z.string(),
    version: z.strictObject({ name: z.string(), date: z.string() }),
    references: z.array(z.strictObject({ reference: z.string() })),
  }),
  quantitative_analysis: z.strictObject({ performance_metrics: z.array(performanceMetricSchema) }),
  considerations: z.strictObject({
    users: z.array(described),
    use_cases: z.array(described),
    limitations: z.array(described),
    ethical_considerations: z.array(z.strictObject({ name: z.string(), mitigation_strategy: z.string() })),
  }),
});
export type ModelCard = z.output<typeof modelCardSchema>;

type PerformanceMetric = z.output<typeof performanceMetricSchema>;

/** A released number as the card writes it: the full JSON number (strings in the schema), so nothing is rounded away. */
const text = (value: number | null | undefined): string => (typeof value === 'number' && Number.isFinite(value) ? String(value) : 'null');

function metric(type: string, value: number | null, interval: Interval | null = null, slice?: string, threshold?: number): PerformanceMetric {
  return {
    type,
    value: text(value),
    ...(slice !== undefined ? { slice } : {}),
    ...(threshold !== undefined ? { threshold: String(threshold) } : {}),
    ...(interval ? { confidence_interval: { lower_bound: text(interval[0]), upper_bound: text(interval[1]) } } : {}),
  };
}

function binaryMetrics(m: BinaryMetricsReport): PerformanceMetric[] {
  const t = m.at_threshold;
  const c = m.calibration;
  const metrics: PerformanceMetric[] = [
    metric('roc_auc', m.roc_auc, m.roc_auc_ci95, 'overall'),
    metric('average_precision', m.average_precision, null, 'overall'),
    metric('brier_score', m.brier_score, null, 'overall'),
    metric('sensitivity', t.sensitivity, t.sensitivity_ci95, 'overall', t.threshold),
    metric('specificity', t.specificity, t.specificity_ci95, 'overall', t.threshold),
    metric('ppv', t.ppv, t.ppv_ci95, 'overall', t.threshold),
    metric('npv', t.npv, t.npv_ci95, 'overall', t.threshold),
    metric('calibration_slope', c.calibration_slope, null, 'overall'),
    metric('calibration_intercept', c.calibration_intercept, null, 'overall'),
    metric('observed_expected_ratio', c.observed_expected_ratio, null, 'overall'),
  ];
  for (const [column, levels] of Object.entries(m.by_group)) {
    for (const [level, block] of Object.entries(levels)) {
      if (block.suppressed) continue;
      metrics.push(metric('roc_auc', block.roc_auc, block.roc_auc_ci95, `${column}=${level}`), metric('sensitivity', block.at_threshold.sensitivity, block.at_threshold.sensitivity_ci95, `${column}=${level}`, block.at_threshold.threshold));
    }
  }
  return metrics;
}

/** The model card of a released round: the released metrics overall and per released subgroup level (suppressed levels left out). */
export function modelCard(doc: ReportDocument): ModelCard {
  const s = doc.release.statement;
  const m = doc.released.metrics;
  const dp = doc.released.privacy.dp;
  return modelCardSchema.parse({
    schema_version: MODEL_CARD_SCHEMA_VERSION,
    model_details: {
      name: doc.model?.name ?? `scores of column ${doc.study.score_column ?? ''}`,
      overview: `Federated external validation in study "${doc.study.name}", round ${doc.round.round_id}, across ${s.sites.length} sites; released by ${s.signerName} at ${s.signedAt} (${s.meaning}).`,
      version: { name: doc.model?.version ?? '', date: s.signedAt },
      references: [{ reference: `model bundle manifest SHA-256 ${s.modelId ?? 'none'}` }, { reference: `release statement signed by key ${doc.key_holder_fingerprint}` }],
    },
    quantitative_analysis: { performance_metrics: m.task === 'binary' ? binaryMetrics(m) : [] },
    considerations: {
      users: [{ description: 'Sponsors, privacy officers and auditors reviewing the external validation of this model.' }],
      use_cases: [{ description: `Evidence of performance on the ${s.sites.length} contributing sites' data (task ${m.task}).` }],
      limitations: [
        { description: `Subgroup levels with fewer than ${m.min_cell_size} patients (or of either class) are suppressed and not reported.` },
        ...(dp ? [{ description: `Every count carries differential-privacy noise (epsilon ${dp.epsilon}, delta ${dp.delta}); the intervals include it.` }] : []),
      ],
      ethical_considerations: [
        { name: 'Patient privacy', mitigation_strategy: 'No row-level value left any site: each sent only encrypted, noised sums; only their total was decrypted.' },
      ],
    },
  });
}

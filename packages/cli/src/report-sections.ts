// report-sections.ts — the validation report's content as sections of text and tables, shared by the HTML and the PDF so both show the same numbers.
import { formatMetricsTable } from '@fedval/metrics';
import type { BinaryMetricsReport, Interval, MetricsReport } from '@fedval/metrics';
import type { ReportChart } from './report-charts.ts';
import type { ReportDocument } from './report-document.ts';

/** A table: a header row and body rows of plain text cells. */
export interface ReportTable {
  caption?: string;
  header: string[];
  rows: string[][];
}

/** One block of a section: a paragraph, a table, or preformatted text. */
export type ReportBlock = { kind: 'paragraph'; text: string; emphasis?: boolean } | { kind: 'table'; table: ReportTable } | { kind: 'preformatted'; text: string };

export interface ReportSection {
  id: 'identity' | 'cohort' | 'performance' | 'privacy';
  heading: string;
  blocks: ReportBlock[];
}

export interface ReportContent {
  title: string;
  subtitle: string;
  sections: ReportSection[];
  figures: ReportChart[];
}

/**
 * How numbers are printed: released values with 3 decimals (the PDF test recovers every such number from the released
 * JSON), counts as integers; numbers the report derives itself (the plain-language reading of ε) with 2 decimals.
 */
export const fmt = (value: number | null | undefined, digits = 3): string => (typeof value === 'number' && Number.isFinite(value) ? value.toFixed(digits) : '-');
const ci = (interval: Interval | null | undefined): string => (interval ? `${fmt(interval[0])} to ${fmt(interval[1])}` : '-');
const count = (value: number | null | undefined): string => (typeof value === 'number' && Number.isFinite(value) ? String(Math.round(value)) : '-');
const paragraph = (text: string, emphasis = false): ReportBlock => ({ kind: 'paragraph', text, ...(emphasis ? { emphasis } : {}) });
const table = (header: string[], rows: string[][], caption?: string): ReportBlock => ({ kind: 'table', table: { header, rows, ...(caption ? { caption } : {}) } });
const short = (hex: string): string => `${hex.slice(0, 16)}...${hex.slice(-8)}`;

function identitySection(doc: ReportDocument): ReportSection {
  const s = doc.release.statement;
  const spec = doc.study.metric_spec as Record<string, unknown>;
  const model = doc.model;
  const rows: string[][] = [
    ['Study', `${doc.study.name} (${doc.study.study_id})`],
    ['Round', `${doc.round.round_id}, opened ${s.roundCreatedAt}, closed ${s.roundClosedAt}`],
    ['Model', model ? `${model.name} ${model.version} (${model.format}, ${model.files.length} file${model.files.length === 1 ? '' : 's'})` : `scores read from column ${doc.study.score_column ?? '-'}`],
    ['Model bundle SHA-256 (manifest)', s.modelId ?? '-'],
    ['Model signer (sponsor key SHA-256)', model ? (model.signer_fingerprint ?? 'unsigned bundle') : '-'],
    ['Task and protocol parameters', describeSpec(spec)],
    ['Metric spec SHA-256', s.metricSpecSha256],
    ['Privacy spec', doc.study.privacy ? `${String((doc.study.privacy as Record<string, unknown>).mechanism ?? '')}, epsilon ${fmt((doc.study.privacy as { epsilon?: number }).epsilon)} per round` : 'no differential privacy'],
    ['Release policy', `at least ${s.minSites} distinct rostered sites in a decrypted sum (study: ${doc.study.release.min_sites}); subgroup cells below ${count(doc.released.metrics.min_cell_size)} suppressed`],
    ['Released by', `${s.signerName}, ${s.signedAt}, signature meaning: "${s.meaning}"`],
    ['Key holder signing key (SHA-256)', `${doc.key_holder_fingerprint}${doc.key_holder_pinned ? ' (pinned by the reader)' : ' (not pinned: compare it with the key holder\'s published fingerprint)'}`],
    ['Roster SHA-256', s.rosterSha256],
    ['Audit-trail heads', `key holder seq ${s.keyHolderAuditHead.seq} ${short(s.keyHolderAuditHead.hash)}; coordinator seq ${s.coordinatorAuditHead.seq} ${short(s.coordinatorAuditHead.hash)}`],
    ['Software', `release: ${s.software}`],
  ];
  const commitments = s.datasetCommitments.map((item) => [item.siteId, item.commitment ?? 'none sent']);
  return {
    id: 'identity',
    heading: 'Identity and provenance',
    blocks: [
      ...(doc.key_holder_pinned ? [] : [paragraph(
        `NOT PINNED: the reader did not pin the key holder's signing key, so this release is checked only against the key that signed it (${doc.key_holder_fingerprint}), which anyone could have made. ` +
          "Compare it with the fingerprint the key holder published before relying on any number here.",
        true,
      )]),
      table(['item', 'value'], rows),
      table(['site', 'dataset commitment (SHA-256 of salt and fingerprint)'], commitments, 'Each counted site committed to its dataset in its signed contribution.'),
    ],
  };
}

function describeSpec(spec: Record<string, unknown>): string {
  const parts = [`task ${String(spec.task)}`];
  if (spec.threshold !== undefined) parts.push(`threshold ${String(spec.threshold)}`);
  if (spec.bins !== undefined) parts.push(`${String(spec.bins)} score bins`);
  if (spec.calibration_bins !== undefined) parts.push(`${String(spec.calibration_bins)} calibration bins`);
  if (Array.isArray(spec.groups) && spec.groups.length > 0) parts.push(`subgroups ${spec.groups.map((group) => String((group as { column?: unknown }).column)).join(', ')}`);
  return parts.join(', ');
}

function cohortSection(doc: ReportDocument): ReportSection {
  const m = doc.released.metrics;
  const noisy = doc.released.privacy.dp !== null;
  const blocks: ReportBlock[] = [];
  if (m.task === 'binary') {
    blocks.push(table(['item', 'value'], [
      ['patients (n)', count(m.n)],
      ['events (positives)', count(m.positives)],
      ['prevalence', fmt(m.prevalence)],
      ['contributing sites', count(doc.released.contributions)],
    ]));
  }
  const excluded = Object.entries((m as { excluded: Record<string, number> }).excluded);
  blocks.push(table(['exclusion reason', 'patients'], excluded.map(([reason, n]) => [reason, count(n)]), `Exclusions by reason, all sites together${noisy ? ' (noisy: differential privacy noise was added to these counts)' : ''}.`));
  blocks.push(paragraph('Per-site exclusion counts and missing values per predictor are not released: only the sum over sites leaves the key holder, so no per-site number appears in this report.'));
  const sizes: string[][] = [];
  for (const [column, levels] of Object.entries(m.by_group)) {
    for (const [level, block] of Object.entries(levels as Record<string, { suppressed: boolean; n?: number; positives?: number }>)) {
      sizes.push(block.suppressed ? [column, level, 'suppressed', ''] : [column, level, count(block.n), m.task === 'binary' ? count(block.positives) : '']);
    }
  }
  if (sizes.length > 0) blocks.push(table(['subgroup', 'level', 'patients', 'events'], sizes, `Subgroup sizes; levels under the minimum cell size (${count(m.min_cell_size)}) are suppressed.`));
  return { id: 'cohort', heading: 'Cohort', blocks };
}

function binaryPerformance(m: BinaryMetricsReport): ReportBlock[] {
  const t = m.at_threshold;
  const c = m.calibration;
  const hl = c.hosmer_lemeshow;
  const blocks: ReportBlock[] = [
    table(['metric', 'value', '95% CI'], [
      ['ROC AUC', fmt(m.roc_auc), ci(m.roc_auc_ci95)],
      ['average precision', fmt(m.average_precision), ''],
      ['Brier score', fmt(m.brier_score), ''],
      [`sensitivity at score >= ${t.threshold}`, fmt(t.sensitivity), ci(t.sensitivity_ci95)],
      ['specificity', fmt(t.specificity), ci(t.specificity_ci95)],
      ['PPV', fmt(t.ppv), ci(t.ppv_ci95)],
      ['NPV', fmt(t.npv), ci(t.npv_ci95)],
      ['accuracy', fmt(t.accuracy), ci(t.accuracy_ci95)],
      ['balanced accuracy', fmt(t.balanced_accuracy), ''],
      ['F1', fmt(t.f1), ''],
      ['MCC', fmt(t.mcc), ''],
    ], 'Discrimination and threshold metrics (intervals: DeLong for the AUC, Wilson for proportions; widened by the noise under DP).'),
    table(['TP', 'FP', 'TN', 'FN'], [[count(t.tp), count(t.fp), count(t.tn), count(t.fn)]], `Confusion counts at score >= ${t.threshold}.`),
    table(['calibration measure', 'value'], [
      ['calibration slope', fmt(c.calibration_slope)],
      ['calibration intercept', fmt(c.calibration_intercept)],
      ['calibration-in-the-large (observed - predicted)', fmt(c.calibration_in_the_large)],
      ['observed / expected (O/E)', fmt(c.observed_expected_ratio)],
      ['expected calibration error (ECE)', fmt(c.ece)],
      ['maximum calibration error (MCE)', fmt(c.mce)],
      ['Hosmer-Lemeshow statistic', hl ? fmt(hl.statistic) : '-'],
      ['Hosmer-Lemeshow df / groups', hl ? `${count(hl.df)} / ${count(hl.groups)}` : '-'],
      ['Hosmer-Lemeshow p-value', hl ? fmt(hl.p_value) : '-'],
    ], 'Calibration (slope and intercept from the logistic recalibration fit on the grid).'),
    table(['bin', 'patients', 'mean predicted', 'observed rate'], c.bins.map((b) => [`${b.lower} to ${b.upper}`, count(b.n), fmt(b.mean_predicted), fmt(b.observed_rate)]), 'Calibration bins.'),
    table(['threshold', 'model', 'treat all', 'treat none'], m.decision_curve.map((p) => [String(p.threshold), fmt(p.net_benefit), fmt(p.treat_all), fmt(p.treat_none)]), 'Decision curve: net benefit by threshold probability.'),
  ];
  const subgroups: string[][] = [];
  for (const [column, levels] of Object.entries(m.by_group)) {
    for (const [level, block] of Object.entries(levels)) {
      subgroups.push(block.suppressed
        ? [column, level, 'suppressed', '', '', '']
        : [column, level, count(block.n), `${fmt(block.roc_auc)} (${ci(block.roc_auc_ci95)})`, `${fmt(block.at_threshold.sensitivity)} (${ci(block.at_threshold.sensitivity_ci95)})`, fmt(block.at_threshold.specificity)]);
    }
  }
  if (subgroups.length > 0) blocks.push(table(['subgroup', 'level', 'n', 'ROC AUC (95% CI)', 'sensitivity (95% CI)', 'specificity'], subgroups, 'Subgroups.'));
  const fairness = Object.entries(m.fairness).map(([column, f]) => [
    column, f.levels_covered.join(', '), fmt(f.demographic_parity_difference), fmt(f.equal_opportunity_difference), fmt(f.equalized_odds_difference), fmt(f.equalized_odds_ratio),
  ]);
  if (fairness.length > 0) blocks.push(table(['subgroup', 'levels compared', 'demographic parity diff.', 'equal opportunity diff.', 'equalized odds diff.', 'equalized odds ratio'], fairness, 'Fairness gaps between released levels (Fairlearn definitions; suppressed levels left out).'));
  return blocks;
}

/**
 * The performance section for the study's task. Binary tasks get the full clinical validation layout; other tasks the
 * metrics table. A new task (time-to-event, with its survival views) adds its case here.
 */
function performanceSection(m: MetricsReport): ReportSection {
  const blocks = m.task === 'binary' ? binaryPerformance(m) : [{ kind: 'preformatted' as const, text: formatMetricsTable(m) }];
  return { id: 'performance', heading: 'Performance', blocks };
}

function privacySection(doc: ReportDocument): ReportSection {
  const { dp, encryption, aggregation } = doc.released.privacy;
  const blocks: ReportBlock[] = [];
  if (aggregation) {
    const dropped = aggregation.dropped.length === 0 ? 'no site dropped out' : `${aggregation.dropped.length} site(s) dropped out after the key exchange (${aggregation.dropped.join(', ')}); their masks were removed with the others' shares (${aggregation.recovered.length} recovered)`;
    blocks.push(paragraph(`Masking: secure aggregation (Bonawitz et al. 2017, double masking, threshold ${aggregation.threshold}). Each of the ${aggregation.sites_masked.length} sites masked its statistics so that only the sum of the contributing sites can be read, even by the coordinator and the key holder together; ${dropped}.`));
  }
  if (encryption) blocks.push(paragraph(`Encryption: each site sent only BFV ciphertexts (Microsoft SEAL, polynomial degree ${encryption.poly_modulus_degree}, ${encryption.security_bits}-bit security); the coordinator added them without being able to read them, and the key holder decrypted only a sum of verified contributions from at least ${doc.release.statement.minSites} rostered sites.`));
  else blocks.push(paragraph('Not encrypted: contributions travelled as plaintext statistics (test seam).', true));
  if (dp) {
    blocks.push(paragraph(`Noise: differentially private release, epsilon ${fmt(dp.epsilon)} and delta ${dp.delta} for this round (rho ${fmt(dp.rho, 5)}, ${dp.mechanism} noise shares sized for ${dp.minSites} sites). The confidence intervals include the noise.`));
    if (dp.ownShareEpsilon !== undefined) blocks.push(paragraph(`That epsilon holds while the other sites' noise shares are honest. If every other party colluded, each site's own noise share alone would still give it epsilon ${fmt(dp.ownShareEpsilon)} (own-share epsilon; each site refuses a study above its own cap).`));
    // Dwork & Roth 2014, The Algorithmic Foundations of Differential Privacy, Def. 2.4: P[M(D) in S] <= e^epsilon P[M(D') in S] + delta.
    const factor = Math.exp(dp.epsilon);
    blocks.push(paragraph(
      `In plain words: whether or not any single patient's data was used, the probability of any result in this report changes by at most a factor of ${factor.toFixed(2)} (e to the power epsilon), ` +
        `except with a probability of at most ${dp.delta} (delta). A smaller epsilon means stronger protection; under 1 is strong, above 5 is weak.`,
    ));
    const sites = dp.sites ?? [];
    if (sites.length > 0) {
      blocks.push(table(['site', 'epsilon this round', 'own-share epsilon this round', 'epsilon spent (total)', 'epsilon left'], sites.map((site) => [site.site_id, fmt(site.epsilon), fmt(site.own_share_epsilon), fmt(site.epsilon_spent), fmt(site.epsilon_remaining)]),
        "Each site's own signed report of its privacy budget (shown to the privacy officer and the auditor only)."));
    }
  } else blocks.push(paragraph('No differential privacy: exact release (validation only).', true));
  return { id: 'privacy', heading: 'Privacy', blocks };
}

/** The report's content: the released numbers of `doc`, as text, tables and the rendered charts. */
export function reportContent(doc: ReportDocument, figures: ReportChart[], madeAt: string, software: string): ReportContent {
  return {
    title: `Validation report: ${doc.study.name}`,
    subtitle: `Round ${doc.round.round_id}, released ${doc.release.statement.signedAt} by ${doc.release.statement.signerName}; report made ${madeAt} by ${software}. TRIPOD+AI items for external validation (Collins et al., BMJ 2024;385:e078378).`,
    sections: [identitySection(doc), cohortSection(doc), performanceSection(doc.released.metrics), privacySection(doc)],
    figures,
  };
}

// format-table.ts — renders a metrics report as plain-text tables for terminals (used by the CLIs).
import type { Interval } from './binary-metrics.ts';
import type { BinaryMetricsBlock, BinaryMetricsReport, ExclusionCounts, LevelBlock, MetricsReport, MulticlassMetricsReport, RegressionMetricsReport, ScoreGridSummary, SurvivalMetricsReport } from './finalize.ts';
import { SUPPRESSED } from './finalize.ts';

/**
 * A human-readable rendering: point values with their 95% intervals beside them, subgroup tables
 * with suppressed levels marked "suppressed" (never why: a reason can reveal a level's label), fairness gaps and the decision curve.
 */
export function formatMetricsTable(report: MetricsReport): string {
  if (report.task === 'binary') return formatBinary(report);
  if (report.task === 'multiclass') return formatMulticlass(report);
  if (report.task === 'survival') return formatSurvival(report);
  return formatRegression(report);
}

/** Which score grid the histograms were on. */
function gridLine(grid: ScoreGridSummary): string {
  return grid.kind === 'fitted' ? `score grid: ${grid.bins} bins, fitted (${grid.method})` : `score grid: ${grid.bins} equal-width bins`;
}

function formatBinary(report: BinaryMetricsReport): string {
  const t = report.at_threshold;
  const c = report.calibration;
  const hl = c.hosmer_lemeshow;
  const lines = [
    `binary task: n = ${report.n}, positives = ${report.positives}, prevalence = ${fixed(report.prevalence)}`,
    excludedLine(report.excluded),
    gridLine(report.score_grid),
    '',
    table(
      ['metric', 'value', '95% CI'],
      [
        ['ROC AUC', fixed(report.roc_auc), interval(report.roc_auc_ci95)],
        ['average precision', fixed(report.average_precision), ''],
        ['Brier score', fixed(report.brier_score, 4), ''],
        [`sensitivity (score >= ${t.threshold})`, fixed(t.sensitivity), interval(t.sensitivity_ci95)],
        ['specificity', fixed(t.specificity), interval(t.specificity_ci95)],
        ['PPV', fixed(t.ppv), interval(t.ppv_ci95)],
        ['NPV', fixed(t.npv), interval(t.npv_ci95)],
        ['accuracy', fixed(t.accuracy), interval(t.accuracy_ci95)],
        ['balanced accuracy', fixed(t.balanced_accuracy), ''],
        ['F1', fixed(t.f1), ''],
        ['MCC', fixed(t.mcc), ''],
        ['selection rate', fixed(t.selection_rate), ''],
        ['TP / FP / TN / FN', `${t.tp} / ${t.fp} / ${t.tn} / ${t.fn}`, ''],
        ['calibration-in-the-large', fixed(c.calibration_in_the_large, 4), ''],
        ['observed / expected', fixed(c.observed_expected_ratio), ''],
        ['calibration slope', fixed(c.calibration_slope), ''],
        ['calibration intercept', fixed(c.calibration_intercept), ''],
        ['ECE / MCE', `${fixed(c.ece, 4)} / ${fixed(c.mce, 4)}`, ''],
        ['Hosmer–Lemeshow', hl ? `χ² ${fixed(hl.statistic, 2)}, df ${hl.df}, p ${pValue(hl.p_value)}` : '—', ''],
      ],
    ),
  ];
  const columns = Object.entries(report.by_group);
  if (columns.length > 0) {
    const rows: string[][] = [];
    for (const [column, levels] of columns) {
      for (const [level, block] of Object.entries(levels)) rows.push([column, level, ...binaryLevelCells(block)]);
    }
    lines.push('', 'by subgroup', table(['column', 'level', 'n', 'positives', 'ROC AUC (95% CI)', 'sensitivity (95% CI)', 'specificity (95% CI)', 'PPV', 'Brier'], rows));
    const fairnessRows = Object.entries(report.fairness).map(([column, f]) => [
      column,
      f.levels_covered.join(', ') || '—',
      fixed(f.demographic_parity_difference),
      fixed(f.demographic_parity_ratio),
      fixed(f.equal_opportunity_difference),
      fixed(f.equalized_odds_difference),
      fixed(f.equalized_odds_ratio),
      f.worst_group ? `${f.worst_group.level} (${fixed(f.worst_group.balanced_accuracy)})` : '—',
      f.best_group ? `${f.best_group.level} (${fixed(f.best_group.balanced_accuracy)})` : '—',
    ]);
    lines.push('', 'fairness (between covered levels)', table(['column', 'levels covered', 'DP diff', 'DP ratio', 'EOpp diff', 'EOdds diff', 'EOdds ratio', 'worst (bal. acc.)', 'best (bal. acc.)'], fairnessRows));
  }
  if (report.decision_curve.length > 0) {
    const rows = report.decision_curve.map((p) => [String(p.threshold), fixed(p.net_benefit, 4), fixed(p.treat_all, 4), fixed(p.treat_none, 4)]);
    lines.push('', 'decision curve (net benefit)', table(['threshold', 'model', 'treat all', 'treat none'], rows));
  }
  return `${lines.join('\n')}\n`;
}

function binaryLevelCells(block: LevelBlock<BinaryMetricsBlock>): string[] {
  if (block.suppressed) return [SUPPRESSED, '', '', '', '', '', ''];
  const t = block.at_threshold;
  return [
    String(block.n),
    String(block.positives),
    withInterval(block.roc_auc, block.roc_auc_ci95),
    withInterval(t.sensitivity, t.sensitivity_ci95),
    withInterval(t.specificity, t.specificity_ci95),
    fixed(t.ppv),
    fixed(block.brier_score, 4),
  ];
}

function formatMulticlass(report: MulticlassMetricsReport): string {
  const lines = [
    `multiclass task: n = ${report.n}, classes = ${report.classes.join(', ')}`,
    excludedLine(report.excluded),
    gridLine(report.score_grid),
    '',
    table(
      ['metric', 'value', '95% CI'],
      [
        ['accuracy', fixed(report.accuracy), interval(report.accuracy_ci95)],
        ['balanced accuracy', fixed(report.balanced_accuracy), ''],
        ["Cohen's kappa", fixed(report.cohen_kappa), ''],
        ['Brier score', fixed(report.brier_score, 4), ''],
        ['macro precision / recall / F1', `${fixed(report.macro.precision)} / ${fixed(report.macro.recall)} / ${fixed(report.macro.f1)}`, ''],
        ['macro one-vs-rest ROC AUC', fixed(report.macro.roc_auc), ''],
        ['weighted precision / recall / F1', `${fixed(report.weighted.precision)} / ${fixed(report.weighted.recall)} / ${fixed(report.weighted.f1)}`, ''],
        ['weighted one-vs-rest ROC AUC', fixed(report.weighted.roc_auc), ''],
      ],
    ),
    '',
    'per class',
    table(
      ['class', 'support', 'precision', 'recall', 'F1', 'ROC AUC (vs rest)'],
      Object.entries(report.per_class).map(([name, c]) => [name, String(c.support), fixed(c.precision), fixed(c.recall), fixed(c.f1), fixed(c.roc_auc)]),
    ),
  ];
  const rows: string[][] = [];
  for (const [column, levels] of Object.entries(report.by_group)) {
    for (const [level, block] of Object.entries(levels)) {
      rows.push(block.suppressed ? [column, level, SUPPRESSED, '', '', ''] : [column, level, String(block.n), withInterval(block.accuracy, block.accuracy_ci95), fixed(block.macro.f1), fixed(block.macro.roc_auc)]);
    }
  }
  if (rows.length > 0) lines.push('', 'by subgroup', table(['column', 'level', 'n', 'accuracy (95% CI)', 'macro F1', 'macro ROC AUC'], rows));
  return `${lines.join('\n')}\n`;
}

function formatRegression(report: RegressionMetricsReport): string {
  const lines = [
    `regression task: n = ${report.n}, clamped into range = ${report.clamped}`,
    excludedLine(report.excluded),
    '',
    table(
      ['metric', 'value'],
      [
        ['MAE', fixed(report.mae, 4)],
        ['RMSE', fixed(report.rmse, 4)],
        ['R²', fixed(report.r2)],
        ['mean error (ŷ − y)', fixed(report.mean_error, 4)],
        ['calibration-in-the-large', fixed(report.calibration_in_the_large, 4)],
        ['calibration slope', fixed(report.calibration_slope)],
        ['calibration intercept', fixed(report.calibration_intercept, 4)],
        ['mean observed / predicted', `${fixed(report.mean_observed, 4)} / ${fixed(report.mean_predicted, 4)}`],
      ],
    ),
  ];
  const rows: string[][] = [];
  for (const [column, levels] of Object.entries(report.by_group)) {
    for (const [level, block] of Object.entries(levels)) {
      rows.push(block.suppressed ? [column, level, SUPPRESSED, '', '', ''] : [column, level, String(block.n), fixed(block.mae, 4), fixed(block.rmse, 4), fixed(block.r2)]);
    }
  }
  if (rows.length > 0) lines.push('', 'by subgroup', table(['column', 'level', 'n', 'MAE', 'RMSE', 'R²'], rows));
  return `${lines.join('\n')}\n`;
}

function formatSurvival(report: SurvivalMetricsReport): string {
  const g = report.time_grid;
  const t = report.at_threshold;
  const lines = [
    `survival task: n = ${report.n}, events = ${report.events}, events by the horizon (${g.horizon}) = ${report.events_by_horizon}, censored before it = ${report.censored_before_horizon}`,
    excludedLine(report.excluded),
    `${gridLine(report.score_grid)}; time grid: ${g.horizon_bins} bins of ${g.width} up to the horizon, ${g.bins} in all (max time ${g.max_time})`,
    '',
    table(
      ['metric', 'value', '95% CI'],
      [
        ["Harrell's C", fixed(report.c_index), interval(report.c_index_ci95)],
        ["Uno's C (to the horizon)", fixed(report.c_index_uno), ''],
        ['time-dependent AUC', fixed(report.td_auc), ''],
        ['Brier score (IPCW)', fixed(report.brier_at_horizon, 4), ''],
        ['observed risk (1 − KM)', fixed(report.observed_risk_at_horizon), interval(report.observed_risk_at_horizon_ci95)],
        ['expected risk (mean predicted)', fixed(report.expected_risk_at_horizon), ''],
        ['observed / expected', fixed(report.oe_ratio_at_horizon), ''],
        [`sensitivity (risk >= ${t.threshold}, IPCW)`, fixed(t.sensitivity), ''],
        ['specificity', fixed(t.specificity), ''],
        ['selection rate', fixed(t.selection_rate), ''],
      ],
    ),
    '',
    'calibration at the horizon',
    table(
      ['risk group', 'n', 'predicted', 'observed (KM)', '95% CI'],
      report.calibration_at_horizon.map((c) => [`${c.lower.toFixed(3)}–${c.upper.toFixed(3)}`, fixed(c.n, 0), fixed(c.mean_predicted_risk), fixed(c.observed_risk), interval(c.observed_risk_ci95)]),
    ),
    '',
    'net benefit at the horizon',
    table(['threshold', 'net benefit'], report.net_benefit_at_horizon.map((p) => [String(p.threshold), fixed(p.net_benefit, 4)])),
  ];
  const rows: string[][] = [];
  for (const [column, levels] of Object.entries(report.by_group)) {
    for (const [level, block] of Object.entries(levels)) {
      rows.push(block.suppressed ? [column, level, SUPPRESSED, '', '', ''] : [column, level, fixed(block.n, 0), fixed(block.c_index), fixed(block.td_auc), fixed(block.oe_ratio_at_horizon)]);
    }
  }
  if (rows.length > 0) lines.push('', 'by subgroup', table(['column', 'level', 'n', "Harrell's C", 'td AUC', 'O/E'], rows));
  return `${lines.join('\n')}\n`;
}

function excludedLine(excluded: ExclusionCounts): string {
  const parts = Object.entries(excluded).filter(([, count]) => count > 0).map(([reason, count]) => `${reason} ${count}`);
  return `excluded: ${parts.length > 0 ? parts.join(', ') : 'none'}`;
}

function fixed(value: number | null, digits = 3): string {
  return value === null ? '—' : value.toFixed(digits);
}

function pValue(value: number | null): string {
  if (value === null) return '—';
  return value < 0.001 ? '<0.001' : value.toFixed(3);
}

function interval(value: Interval | null): string {
  return value === null ? '—' : `${value[0].toFixed(3)}–${value[1].toFixed(3)}`;
}

function withInterval(value: number | null, ci: Interval | null): string {
  return value === null ? '—' : `${value.toFixed(3)} (${interval(ci)})`;
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const render = (cells: string[]): string => cells.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return [render(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(render)].join('\n');
}

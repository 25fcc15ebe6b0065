// html-report.ts — a self-contained HTML report of a released result, for sponsors and privacy officers.
// No scripts, no external resources; every value from the result is escaped.
import type { AggregationSummary } from '@fedval/protocol';
import type { ReleaseSummary } from '@fedval/dp';
import type { BfvEncryptionSummary } from '@fedval/he';
import { formatMetricsTable } from '@fedval/metrics';
import type { BinaryMetricsReport, Interval, MetricsReport } from '@fedval/metrics';

/** One contributing site's own report of its privacy budget, as the key holder releases it. */
export interface SitePrivacyReport {
  site_id: string;
  /** This round's ε if the other sites' noise shares are honest. */
  epsilon?: number | null | undefined;
  /** This round's ε of the site's own noise share alone, if every other party colludes. */
  own_share_epsilon?: number | null | undefined;
  epsilon_spent: number | null;
  epsilon_remaining: number | null;
}

/** What protected the data: the DP release summary (null for an exact release) and the BFV encryption summary (null for plaintext). */
export interface ReportPrivacy {
  dp: (Pick<ReleaseSummary, 'epsilon' | 'delta' | 'rho' | 'mechanism' | 'minSites' | 'ownShareEpsilon'> & { sites?: readonly SitePrivacyReport[] | undefined }) | null;
  encryption: Pick<BfvEncryptionSummary, 'poly_modulus_degree' | 'security_bits' | 'ciphertext_bytes_per_site'> | null;
  /** Secure aggregation of the round (@fedval/protocol aggregationSummarySchema), when it was used. */
  aggregation?: AggregationSummary | undefined;
}

export interface ReportInput {
  title: string;
  /** Free text lines shown under the title (scenario, outcome definition). */
  context: string[];
  /** The released metrics, as finalizeMetrics made them. Charts and subgroup tables are drawn for binary tasks; other tasks get the metrics table. */
  metrics: MetricsReport;
  privacy: ReportPrivacy;
  round?: { round_id?: string; contributions?: number } | undefined;
  generatedAt?: Date;
}

const escapeMap: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
function esc(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => escapeMap[c]!);
}

function num(value: number | null | undefined, digits = 3): string {
  return typeof value === 'number' && Number.isFinite(value) ? value.toFixed(digits) : '—';
}

function ci(interval: Interval | null, digits = 3): string {
  return interval ? `${num(interval[0], digits)}–${num(interval[1], digits)}` : '';
}

function row(cells: string[], header = false): string {
  const tag = header ? 'th' : 'td';
  return `<tr>${cells.map((cell) => `<${tag}>${cell}</${tag}>`).join('')}</tr>`;
}

/** A small line chart as inline SVG: points in [0,1]², an optional diagonal. */
function chart(title: string, series: { name: string; points: [number, number][]; dashed?: boolean }[], diagonal: boolean, yRange: [number, number] = [0, 1]): string {
  const size = 260;
  const pad = 30;
  const [y0, y1] = yRange;
  const x = (v: number) => pad + v * (size - 2 * pad);
  const y = (v: number) => size - pad - ((v - y0) / (y1 - y0 || 1)) * (size - 2 * pad);
  const colors = ['#1f5fa8', '#b0413e', '#5b8c3a'];
  const lines = series
    .map((s, i) => {
      const d = s.points.filter(([a, b]) => Number.isFinite(a) && Number.isFinite(b)).map(([a, b], j) => `${j ? 'L' : 'M'}${x(a).toFixed(1)},${y(b).toFixed(1)}`).join(' ');
      return `<path d="${d}" fill="none" stroke="${colors[i % colors.length]}" stroke-width="2"${s.dashed ? ' stroke-dasharray="4 3"' : ''}/>`;
    })
    .join('');
  const legend = series.map((s, i) => `<text x="${pad + 4}" y="${pad + 12 + i * 14}" font-size="11" fill="${colors[i % colors.length]}">${esc(s.name)}</text>`).join('');
  return `<figure><svg viewBox="0 0 ${size} ${size}" width="${size}" height="${size}" role="img" aria-label="${esc(title)}">
<rect x="${pad}" y="${pad}" width="${size - 2 * pad}" height="${size - 2 * pad}" fill="#fff" stroke="#999"/>
${diagonal ? `<line x1="${x(0)}" y1="${y(0)}" x2="${x(1)}" y2="${y(1)}" stroke="#bbb" stroke-dasharray="3 3"/>` : ''}
${lines}${legend}
<text x="${size / 2}" y="${size - 6}" font-size="11" text-anchor="middle">0 … 1</text></svg><figcaption>${esc(title)}</figcaption></figure>`;
}

/** The binary sections: overall table, exclusions, reliability and decision-curve charts, subgroups, fairness. */
function binarySections(m: BinaryMetricsReport): string {
  const t = m.at_threshold;
  const overall = [
    row(['metric', 'value', '95% CI'], true),
    row(['patients (n)', esc(m.n), '']),
    row(['positives / prevalence', `${esc(m.positives)} / ${num(m.prevalence)}`, '']),
    row(['ROC AUC', num(m.roc_auc), ci(m.roc_auc_ci95)]),
    row(['average precision', num(m.average_precision), '']),
    row(['Brier score', num(m.brier_score, 4), '']),
    row([`sensitivity (score ≥ ${esc(t.threshold)})`, num(t.sensitivity), ci(t.sensitivity_ci95)]),
    row(['specificity', num(t.specificity), ci(t.specificity_ci95)]),
    row(['PPV', num(t.ppv), ci(t.ppv_ci95)]),
    row(['NPV', num(t.npv), ci(t.npv_ci95)]),
    row(['accuracy', num(t.accuracy), ci(t.accuracy_ci95)]),
  ].join('');
  const excluded = Object.entries(m.excluded)
    .filter(([, count]) => count > 0)
    .map(([reason, count]) => `${esc(reason)}: ${esc(count)}`)
    .join(', ');
  const groups = Object.entries(m.by_group)
    .flatMap(([column, levels]) =>
      Object.entries(levels).map(([level, block]) =>
        block.suppressed
          ? row([esc(column), esc(level), '<em>suppressed</em>', '', '', ''])
          : row([esc(column), esc(level), esc(block.n), `${num(block.roc_auc)} <small>${ci(block.roc_auc_ci95)}</small>`, num(block.at_threshold.sensitivity), num(block.at_threshold.specificity)]),
      ),
    )
    .join('');
  const fairness = Object.entries(m.fairness)
    .map(([column, f]) =>
      row([esc(column), esc(f.levels_covered.join(', ')), num(f.demographic_parity_difference), num(f.equal_opportunity_difference), num(f.equalized_odds_difference), num(f.equalized_odds_ratio)]),
    )
    .join('');
  const reliability = m.calibration.bins.flatMap((b): [number, number][] => (b.n > 0 && b.mean_predicted !== null && b.observed_rate !== null ? [[b.mean_predicted, b.observed_rate]] : []));
  const curve = m.decision_curve;
  const maxBenefit = Math.max(0.05, ...curve.map((p) => Math.max(p.net_benefit, p.treat_all)));
  return `<h2>Overall performance</h2><table>${overall}</table>
<p>Excluded: ${excluded || 'none'}.</p>
<h2>Calibration and clinical usefulness</h2>
${chart('Reliability: observed rate against mean predicted risk', [{ name: 'model', points: reliability }], true)}
${chart(`Decision curve: net benefit (0 … ${maxBenefit.toFixed(2)}) by threshold`, [
    { name: 'model', points: curve.map((p): [number, number] => [p.threshold, p.net_benefit]) },
    { name: 'treat all', points: curve.map((p): [number, number] => [p.threshold, p.treat_all]), dashed: true },
  ], false, [0, maxBenefit])}
<p>Calibration-in-the-large ${num(m.calibration.calibration_in_the_large, 4)}, observed/expected ${num(m.calibration.observed_expected_ratio)}, ECE ${num(m.calibration.ece, 4)}.</p>
<h2>Subgroups</h2><table>${row(['column', 'level', 'n', 'ROC AUC (95% CI)', 'sensitivity', 'specificity'], true)}${groups}</table>
<h2>Fairness (Fairlearn definitions, between released levels)</h2><table>${row(['column', 'levels covered', 'demographic parity diff.', 'equal opportunity diff.', 'equalized odds diff.', 'equalized odds ratio'], true)}${fairness}</table>`;
}

export function renderHtmlReport(input: ReportInput): string {
  const m = input.metrics;
  const dp = input.privacy.dp;
  const enc = input.privacy.encryption;
  const privacyLines: string[] = [];
  const aggregation = input.privacy.aggregation;
  if (aggregation) {
    const dropped = aggregation.dropped.length === 0 ? 'no site dropped out' : `${aggregation.dropped.length} site(s) dropped out after the key exchange (${aggregation.dropped.map(esc).join(', ')}) and their masks were removed with the others' shares (${aggregation.recovered.length} recovered)`;
    privacyLines.push(`Secure aggregation (Bonawitz et al. double masking, threshold ${esc(aggregation.threshold)}): each of the ${esc(aggregation.sites_masked.length)} sites masked its statistics under the encryption so that only the sum of the contributing sites could be read, even by the coordinator and the key holder together; ${dropped}.`);
  }
  if (enc) privacyLines.push(`Each site sent only BFV ciphertexts (Microsoft SEAL, polynomial degree ${esc(enc.poly_modulus_degree)}, ${esc(enc.security_bits)}-bit security, ${esc(enc.ciphertext_bytes_per_site)} bytes per site); the coordinator added them without being able to read them; a separate key holder decrypted only the aggregate.`);
  else privacyLines.push('<strong>Not encrypted</strong>: contributions travelled as plaintext statistics (test seam).');
  if (dp) {
    privacyLines.push(`Differentially private release: ε = ${num(dp.epsilon, 3)}, δ = ${esc(dp.delta)} for this round (ρ = ${num(dp.rho, 5)}, ${esc(dp.mechanism)} noise shares sized for ${esc(dp.minSites)} sites). Confidence intervals include the noise.`);
    if (dp.ownShareEpsilon !== undefined) privacyLines.push(`That ε holds while the other sites' noise shares are honest. If every other party colluded, each site's own noise share alone would still give it ε = ${num(dp.ownShareEpsilon, 3)} (own-share ε; each site refuses a study above its own cap).`);
  } else privacyLines.push('<strong>No differential privacy</strong>: exact release (validation only).');
  const sites = (dp?.sites ?? [])
    .map((s) => row([esc(s.site_id), num(s.epsilon), num(s.own_share_epsilon), num(s.epsilon_spent), num(s.epsilon_remaining)]))
    .join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>${esc(input.title)}</title>
<style>body{font:14px/1.45 system-ui,sans-serif;max-width:980px;margin:2em auto;color:#222}table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}th{background:#f2f2f2}figure{display:inline-block;margin:0 1em 1em 0}small{color:#666}.privacy{background:#f6f9fc;border-left:4px solid #1f5fa8;padding:.5em 1em}</style>
</head><body>
<h1>${esc(input.title)}</h1>
${input.context.map((line) => `<p>${esc(line)}</p>`).join('')}
<p><small>Round ${esc(input.round?.round_id ?? '')}, ${esc(input.round?.contributions ?? '')} contributing sites; generated ${esc((input.generatedAt ?? new Date()).toISOString())}.</small></p>
<h2>What protected the data</h2><div class="privacy">${privacyLines.map((line) => `<p>${line}</p>`).join('')}
${sites ? `<table>${row(['site', 'ε this round', 'own-share ε this round', 'ε spent (total)', 'ε left'], true)}${sites}</table><p><small>ε this round holds while the other sites' noise shares are honest; own-share ε is what each site's own noise share alone gives if every other party colludes (each site caps it: policy.max_own_share_epsilon).</small></p>` : ''}</div>
${m.task === 'binary' ? binarySections(m) : `<h2>Metrics</h2><pre>${esc(formatMetricsTable(m))}</pre>`}
<p><small>${m.task === 'regression' ? '' : `Scores binned on ${m.score_grid.kind === 'fitted' ? `a fitted score grid of ${esc(m.score_grid.bins)} bins (${esc(m.score_grid.method)})` : `${esc(m.score_grid.bins)} equal-width bins`}. `}Subgroup levels with fewer than ${esc(m.min_cell_size)} patients (or of either class) are suppressed and left out of fairness gaps. Definitions and references: packages/metrics/README.md.</small></p>
</body></html>
`;
}

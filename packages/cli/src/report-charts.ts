// report-charts.ts — the report's charts as Vega-Lite specifications, compiled and rendered to SVG on the server by Vega's headless renderer.
import * as vega from 'vega';
import { compile } from 'vega-lite';
import type { TopLevelSpec } from 'vega-lite';
import type { BinaryMetricsReport, Interval } from '@fedval/metrics';
import { wilsonInterval } from '@fedval/metrics';

/** One chart: a title for the figure caption and its SVG (no script, no external reference). */
export interface ReportChart {
  id: 'roc' | 'calibration' | 'decision-curve' | 'subgroups';
  title: string;
  svg: string;
}

/** Chart size in CSS pixels (the PDF scales them to the page). */
const WIDTH = 360;
const HEIGHT = 300;
/** Helvetica: a PDF standard font, so the SVG's text renders the same in the PDF without embedding a font. */
const CONFIG = { font: 'Helvetica', axis: { labelFontSize: 11, titleFontSize: 12 }, legend: { labelFontSize: 11, titleFontSize: 11 }, title: { fontSize: 13 } };
const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';
const MODEL = '#1f5fa8';
const ROC_COLORS = { domain: ['model', '95% band', 'chance'], range: [MODEL, '#8fb3de', '#999'] };

/** Compiles a Vega-Lite spec and renders it headless to SVG (no canvas, no DOM). */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** ROC curve with its pointwise 95% band (Wilson intervals of the true positive rate at each operating point) and the chance line. */
export function rocSpec(m: BinaryMetricsReport): TopLevelSpec | null {
  const curve = m.roc_curve ?? [];
  if (curve.length === 0) return null;
  const points = curve.map((p) => ({ fpr: p.fpr, tpr: p.tpr, low: p.tpr_ci95?.[0] ?? p.tpr, high: p.tpr_ci95?.[1] ?? p.tpr, series: 'model' }));
  const x = { field: 'fpr', type: 'quantitative' as const, title: 'False positive rate (1 - specificity)', scale: { domain: [0, 1] } };
  return {
    $schema: SCHEMA,
    width: WIDTH,
    height: HEIGHT,
    config: CONFIG,
    title: 'ROC curve with pointwise 95% band',
    layer: [
      { data: { values: [{ fpr: 0, tpr: 0 }, { fpr: 1, tpr: 1 }] }, mark: { type: 'line', strokeDash: [4, 3] }, encoding: { x, y: { field: 'tpr', type: 'quantitative' }, color: { datum: 'chance', type: 'nominal' } } },
      { data: { values: points }, mark: { type: 'area', opacity: 0.25, interpolate: 'step-after' }, encoding: { x, y: { field: 'low', type: 'quantitative' }, y2: { field: 'high' }, color: { datum: '95% band', type: 'nominal', scale: ROC_COLORS, legend: { title: null } } } },
      { data: { values: points }, mark: { type: 'line', interpolate: 'linear' }, encoding: { x, y: { field: 'tpr', type: 'quantitative', title: 'True positive rate (sensitivity)', scale: { domain: [0, 1] } }, color: { datum: 'model', type: 'nominal' } } },
    ],
  } as TopLevelSpec;
}

/**
 * Reliability diagram: mean predicted risk against the observed rate per calibration bin, with 95% Wilson intervals
 * of the observed rate, the ideal diagonal, and the patients per bin in a bar chart beneath. Empty bins are left out.
 */
export function calibrationSpec(m: BinaryMetricsReport): TopLevelSpec | null {
  const bins = m.calibration.bins
    .filter((b) => b.n > 0 && b.mean_predicted !== null && b.observed_rate !== null)
    .map((b) => {
      const interval: Interval | null = wilsonInterval(Math.round((b.observed_rate as number) * b.n), b.n);
      return { predicted: b.mean_predicted, observed: b.observed_rate, low: interval?.[0] ?? b.observed_rate, high: interval?.[1] ?? b.observed_rate, n: b.n, lower: b.lower, upper: b.upper };
    });
  if (bins.length === 0) return null;
  const x = { field: 'predicted', type: 'quantitative' as const, title: 'Mean predicted risk', scale: { domain: [0, 1] } };
  return {
    $schema: SCHEMA,
    config: CONFIG,
    title: 'Calibration: observed against predicted, by bin',
    vconcat: [
      {
        width: WIDTH,
        height: HEIGHT - 60,
        layer: [
          { data: { values: [{ predicted: 0, observed: 0 }, { predicted: 1, observed: 1 }] }, mark: { type: 'line', color: '#999', strokeDash: [4, 3] }, encoding: { x, y: { field: 'observed', type: 'quantitative' } } },
          { data: { values: bins }, mark: { type: 'rule', color: MODEL }, encoding: { x, y: { field: 'low', type: 'quantitative' }, y2: { field: 'high' } } },
          { data: { values: bins }, mark: { type: 'point', filled: true, color: MODEL }, encoding: { x, y: { field: 'observed', type: 'quantitative', title: 'Observed rate (95% CI)', scale: { domain: [0, 1] } }, size: { field: 'n', type: 'quantitative', title: 'patients' } } },
        ],
      },
      {
        width: WIDTH,
        height: 60,
        data: { values: bins },
        mark: { type: 'bar', color: '#8fb3de' },
        encoding: { x: { field: 'lower', type: 'quantitative', title: 'Predicted risk bin', scale: { domain: [0, 1] } }, x2: { field: 'upper' }, y: { field: 'n', type: 'quantitative', title: 'patients' } },
      },
    ],
  } as TopLevelSpec;
}

/**
 * Decision curve (Vickers & Elkin 2006): net benefit of the model, of treating all and of treating none, by threshold
 * probability. The y axis runs from just below 0 to just above the largest benefit; marks are clipped to the frame.
 */
export function decisionCurveSpec(m: BinaryMetricsReport): TopLevelSpec | null {
  const curve = m.decision_curve;
  if (curve.length === 0) return null;
  const top = Math.max(0.05, ...curve.map((p) => Math.max(p.net_benefit, p.treat_all)));
  const values = curve.flatMap((p) => [
    { threshold: p.threshold, benefit: p.net_benefit, strategy: 'model' },
    { threshold: p.threshold, benefit: p.treat_all, strategy: 'treat all' },
    { threshold: p.threshold, benefit: p.treat_none, strategy: 'treat none' },
  ]);
  return {
    $schema: SCHEMA,
    width: WIDTH,
    height: HEIGHT,
    config: CONFIG,
    title: 'Decision curve',
    data: { values },
    mark: { type: 'line', clip: true, point: curve.length <= 30 },
    encoding: {
      x: { field: 'threshold', type: 'quantitative', title: 'Threshold probability', scale: { domain: [0, Math.max(...curve.map((p) => p.threshold))] } },
      y: { field: 'benefit', type: 'quantitative', title: 'Net benefit', scale: { domain: [-top * 0.1, top * 1.05], nice: false } },
      color: { field: 'strategy', type: 'nominal', title: null, scale: { domain: ['model', 'treat all', 'treat none'], range: [MODEL, '#b0413e', '#555'] } },
    },
  } as TopLevelSpec;
}

/** Forest plot of subgroup levels: ROC AUC and sensitivity with 95% intervals per level; suppressed levels marked. */
export function subgroupSpec(m: BinaryMetricsReport): TopLevelSpec | null {
  const rows: Record<string, unknown>[] = [];
  for (const [column, levels] of Object.entries(m.by_group)) {
    for (const [level, block] of Object.entries(levels)) {
      const label = `${column} = ${level}`;
      if (block.suppressed) {
        rows.push({ label, metric: 'ROC AUC', note: 'suppressed' }, { label, metric: 'sensitivity', note: 'suppressed' });
        continue;
      }
      rows.push({ label, metric: 'ROC AUC', value: block.roc_auc, low: block.roc_auc_ci95?.[0], high: block.roc_auc_ci95?.[1] });
      rows.push({ label, metric: 'sensitivity', value: block.at_threshold.sensitivity, low: block.at_threshold.sensitivity_ci95?.[0], high: block.at_threshold.sensitivity_ci95?.[1] });
    }
  }
  if (rows.length === 0) return null;
  const y = { field: 'label', type: 'nominal' as const, title: null, sort: null };
  const x = { field: 'value', type: 'quantitative' as const, title: 'estimate (95% CI)', scale: { domain: [0, 1] } };
  return {
    $schema: SCHEMA,
    config: CONFIG,
    title: 'Subgroups: ROC AUC and sensitivity',
    data: { values: rows },
    facet: { column: { field: 'metric', type: 'nominal', title: null, sort: ['ROC AUC', 'sensitivity'] } },
    spec: {
      width: 200,
      height: { step: 22 },
      layer: [
        { transform: [{ filter: 'datum.value != null' }], mark: { type: 'rule', color: MODEL }, encoding: { y, x: { field: 'low', type: 'quantitative', scale: { domain: [0, 1] } }, x2: { field: 'high' } } },
        { transform: [{ filter: 'datum.value != null' }], mark: { type: 'point', filled: true, color: MODEL, shape: 'square' }, encoding: { y, x } },
        { transform: [{ filter: 'datum.note != null' }], mark: { type: 'text', color: '#b0413e', align: 'left', dx: 4 }, encoding: { y, x: { datum: 0, type: 'quantitative' }, text: { field: 'note' } } },
      ],
    },
  } as TopLevelSpec;
}

/** Every chart a binary report has, rendered. */
export async function binaryCharts(m: BinaryMetricsReport): Promise<ReportChart[]> {
  const made: ReportChart[] = [];
  const specs: [ReportChart['id'], string, TopLevelSpec | null][] = [
    ['roc', 'ROC curve with pointwise 95% confidence band (Wilson intervals of sensitivity at each threshold); dashed: chance.', rocSpec(m)],
    ['calibration', 'Calibration: observed rate against mean predicted risk per bin, 95% Wilson intervals; dashed: ideal; bars: patients per bin.', calibrationSpec(m)],
    ['decision-curve', 'Decision curve: net benefit of the model, of treating all and of treating none.', decisionCurveSpec(m)],
    ['subgroups', 'Subgroup forest plot: ROC AUC and sensitivity with 95% intervals per level; suppressed levels are marked.', subgroupSpec(m)],
  ];
  for (const [id, title, spec] of specs) if (spec) made.push({ id, title, svg: await renderSvg(spec) });
  return made;
}

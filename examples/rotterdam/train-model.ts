// train-model.ts — fits the scenario's logistic-regression model on the Rotterdam development cohort and writes its bundle.
// Run: node examples/rotterdam/train-model.ts (rewrites examples/rotterdam/model/).
import * as tf from '@tensorflow/tfjs';
import { buildFeatureMatrix, featureWidth, saveModelBundle, selectModelBackend } from '@fedval/models';
import type { FeatureSpec, RawRow } from '@fedval/models';
import { parse } from 'csv-parse/sync';
import { readFileSync } from 'node:fs';
import path from 'node:path';

const here = import.meta.dirname;
const LABEL = 'event5y';
const EPOCHS = 400;
const LEARNING_RATE = 0.05;

/** Numeric predictors: which get log1p (skewed counts and receptor levels, as in Royston & Altman 2013). */
const NUMERIC: readonly { column: string; transform?: 'log1p' }[] = [
  { column: 'age' },
  { column: 'meno' },
  { column: 'grade' },
  { column: 'nodes', transform: 'log1p' },
  { column: 'pgr', transform: 'log1p' },
  { column: 'er', transform: 'log1p' },
  { column: 'hormon' },
];
const SIZE_CLASSES = ['<=20', '20-50', '>50'];

/** Mean and population standard deviation of `values`. */
function meanSd(values: readonly number[]): { mean: number; sd: number } {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const variance = values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length;
  return { mean, sd: Math.sqrt(variance) };
}

/** ROC AUC as the Mann–Whitney U statistic with mid-ranks for ties (Hanley & McNeil, Radiology 1982;143:29–36). */
export function rocAuc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const order = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => (scores[a] as number) - (scores[b] as number));
  let positives = 0;
  let rankSum = 0;
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && scores[order[j + 1]!] === scores[order[i]!]) j++;
    const midRank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) {
      if (labels[order[k]!] === 1) {
        positives++;
        rankSum += midRank;
      }
    }
    i = j + 1;
  }
  const negatives = order.length - positives;
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

export function modelInputs(rows: readonly RawRow[]): FeatureSpec[] {
  const numeric: FeatureSpec[] = NUMERIC.map(({ column, transform }) => {
    const raw = rows.map((r) => Number(r[column]));
    const standardize = meanSd(transform === 'log1p' ? raw.map(Math.log1p) : raw);
    return { kind: 'numeric', column, ...(transform ? { transform } : {}), standardize, missing: 'exclude' };
  });
  const size: FeatureSpec = { kind: 'one_hot', column: 'size', categories: SIZE_CLASSES, missing: 'exclude', unknown: 'exclude' };
  return [...numeric.slice(0, 2), size, ...numeric.slice(2)];
}

if (import.meta.main) {
  const all = parse(readFileSync(path.join(here, 'data', 'development.csv')), { columns: true, skip_empty_lines: true }) as RawRow[];
  const rows = all.filter((r) => r[LABEL] === '0' || r[LABEL] === '1');
  const selection = await selectModelBackend('cpu');
  const inputs = modelInputs(rows);
  const width = featureWidth(inputs);
  const matrix = buildFeatureMatrix(inputs, rows);
  if (matrix.rowIndex.length !== rows.length) throw new Error('development rows were excluded by the feature rules');
  const labels = Float32Array.from(rows, (r) => Number(r[LABEL]));

  const model = tf.sequential({ name: 'rotterdam_rfs5y' });
  model.add(tf.layers.dense({ name: 'logistic', units: 1, inputShape: [width], activation: 'sigmoid', kernelInitializer: 'zeros', biasInitializer: 'zeros' }));
  model.compile({ optimizer: tf.train.adam(LEARNING_RATE), loss: 'binaryCrossentropy' });
  const x = tf.tensor2d(matrix.values, [rows.length, width]);
  const y = tf.tensor2d(labels, [rows.length, 1]);
  const history = await model.fit(x, y, { epochs: EPOCHS, batchSize: rows.length, shuffle: false, verbose: 0 });
  const scores = (model.predict(x) as tf.Tensor).dataSync();
  x.dispose();
  y.dispose();

  const manifest = await saveModelBundle(path.join(here, 'model'), model, {
    name: 'rotterdam-rfs5y-logistic',
    version: '1.0.0',
    description:
      'Logistic regression for recurrence or death within 5 years after primary breast cancer surgery, ' +
      `fitted on ${rows.length} Rotterdam tumour bank patients diagnosed 1978–1987 (fedval example; not for clinical use).`,
    inputs,
    output: { kind: 'probability', positive: 'recurrence or death within 5 years (1826 days) of primary surgery' },
  });
  const loss = history.history.loss?.at(-1);
  process.stderr.write(
    `backend ${selection.backend}; ${rows.length} development rows (${all.length - rows.length} with unknown outcome left out); ` +
      `final training loss ${Number(loss).toFixed(5)}; development AUC ${rocAuc(scores, labels).toFixed(4)}\n` +
      `wrote ${manifest.files.map((f) => f.path).join(', ')} and manifest.json to examples/rotterdam/model/\n`,
  );
}

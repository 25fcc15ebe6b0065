// build-survival-model.ts — writes the survival view's TF.js bundle: the Cox model of fit-survival-model.R as a network
// whose output is the 5-year risk of recurrence or death, 1 − exp(−H₀(1826)·e^lp).
// Run: Rscript examples/rotterdam/fit-survival-model.R && node examples/rotterdam/build-survival-model.ts
//      && node examples/rotterdam/sign-model.ts survival-model
//
// TF.js layers have no exponential activation, so e^x comes from ELU, which is e^x − 1 for x <= 0 (Clevert et al.,
// ICLR 2016): with the linear predictor η = lp + log H₀, H = e^η = (e · e^(η/16 − 1))^16 — one ELU (+1) on η/16 − 1 <= 0
// (H up to e^16; beyond, the risk is 1 to float precision and the network stays monotone), then four squarings
// (Multiply layers); the risk is 1 − e^(−H) = −ELU(−H). Float32 throughout: the risks agree with R to about 1e-6.
import * as tf from '@tensorflow/tfjs';
import { saveModelBundle, selectModelBackend } from '@fedval/models';
import type { FeatureSpec, RawRow } from '@fedval/models';
import { parse } from 'csv-parse/sync';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { modelInputs } from './train-model.ts';

const here = import.meta.dirname;

interface CoxFit {
  horizon_days: number;
  n: number;
  events: number;
  coefficients: Record<string, number>;
  baseline_cumulative_hazard_at_horizon: number;
}

/** The Cox linear predictor on the bundle's standardized inputs: one weight per input column, and the intercept. */
export function coxWeights(inputs: readonly FeatureSpec[], cox: CoxFit): { weights: number[]; intercept: number } {
  const weights: number[] = [];
  let intercept = Math.log(cox.baseline_cumulative_hazard_at_horizon);
  for (const input of inputs) {
    if (input.kind === 'one_hot') {
      for (const category of input.categories) weights.push(cox.coefficients[`${input.column}=${category}`] as number);
      continue;
    }
    const beta = cox.coefficients[input.column];
    if (beta === undefined || input.kind !== 'numeric' || !input.standardize) throw new Error(`no coefficient for ${input.column}`);
    // The bundle feeds z = (x − mean)/sd: β·x = β·sd·z + β·mean.
    weights.push(beta * input.standardize.sd);
    intercept += beta * input.standardize.mean;
  }
  return { weights, intercept };
}

const SQUARINGS = 4;
const SCALE = 2 ** SQUARINGS;

function dense(name: string, kernel: number[][], bias: number[], activation: 'linear' | 'elu'): tf.layers.Layer {
  return tf.layers.dense({ name, units: bias.length, activation, weights: [tf.tensor2d(kernel), tf.tensor1d(bias)] });
}

export function coxRiskModel(width: number, weights: readonly number[], intercept: number): tf.LayersModel {
  const input = tf.input({ shape: [width], name: 'features' });
  // ELU(η/16 − 1), then e·(ELU + 1) = e^(η/16).
  let x = dense('log_hazard_over_16', weights.map((w) => [w / SCALE]), [intercept / SCALE - 1], 'elu').apply(input) as tf.SymbolicTensor;
  x = dense('hazard_root', [[Math.E]], [Math.E], 'linear').apply(x) as tf.SymbolicTensor;
  for (let i = 0; i < SQUARINGS; i += 1) x = tf.layers.multiply({ name: `square_${i + 1}` }).apply([x, x]) as tf.SymbolicTensor;
  // ELU(−H) = e^(−H) − 1, then its negative: the risk 1 − e^(−H).
  x = dense('survival_minus_one', [[-1]], [0], 'elu').apply(x) as tf.SymbolicTensor;
  const risk = dense('risk', [[-1]], [0], 'linear').apply(x) as tf.SymbolicTensor;
  return tf.model({ name: 'rotterdam_rfs5y_cox', inputs: input, outputs: risk });
}

if (import.meta.main) {
  await selectModelBackend('cpu');
  const rows = parse(readFileSync(path.join(here, 'data', 'development-rfs.csv')), { columns: true, skip_empty_lines: true }) as RawRow[];
  const cox = JSON.parse(readFileSync(path.join(here, 'survival-model-cox.json'), 'utf8')) as CoxFit;
  const inputs = modelInputs(rows);
  const { weights, intercept } = coxWeights(inputs, cox);
  const model = coxRiskModel(weights.length, weights, intercept);
  const manifest = await saveModelBundle(path.join(here, 'survival-model'), model, {
    name: 'rotterdam-rfs5y-cox',
    version: '1.0.0',
    description:
      `Cox model for recurrence-free survival after primary breast cancer surgery, fitted on ${cox.n} Rotterdam tumour bank ` +
      `patients diagnosed 1978–1987 (${cox.events} events); output: the risk of recurrence or death within ${cox.horizon_days} days ` +
      '(fedval example; not for clinical use).',
    inputs,
    output: { kind: 'probability', positive: `recurrence or death within ${cox.horizon_days} days (5 years) of primary surgery` },
  });
  process.stderr.write(`wrote ${manifest.files.map((f) => f.path).join(', ')} and manifest.json to examples/rotterdam/survival-model/\n`);
}

// regression-metrics.ts — error, fit and calibration of a continuous prediction from fixed-point sums.
import { FIXED_POINT_SCALE } from './statistics-layout.ts';

/**
 * A normalized variance at or below this is indistinguishable from 0: Σu²/n − ū² carries up to
 * ½ unit of rounding from u² and 2ū·½ unit from ū, so about 1.5/S; 4/S leaves a margin.
 */
const VARIANCE_RESOLUTION = 4 / FIXED_POINT_SCALE;

export interface RegressionMetricsBlock {
  n: number;
  /** Patients whose y or ŷ lay outside the regression range and was clamped into it. */
  clamped: number;
  mean_observed: number | null;
  mean_predicted: number | null;
  mae: number | null;
  mse: number | null;
  rmse: number | null;
  r2: number | null;
  /** mean(ŷ − y): positive when the model over-predicts. */
  mean_error: number | null;
  /** mean(y) − mean(ŷ). */
  calibration_in_the_large: number | null;
  /** b of the least-squares line y = a + b·ŷ. */
  calibration_slope: number | null;
  /** a of that line. */
  calibration_intercept: number | null;
}

/**
 * Sums over patients of u, û, u², û², uû, |u − û|, (u − û)², where u = (y − low)/(high − low) and
 * û likewise (values clamped into [low, high]), in value units (already divided by the fixed-point scale).
 */
export interface RegressionSums {
  y: number;
  yhat: number;
  y2: number;
  yhat2: number;
  y_yhat: number;
  abs_error: number;
  squared_error: number;
}

/**
 * MAE, MSE, RMSE, R² = 1 − SSE/SST (scikit-learn's r2_score), mean error, calibration-in-the-large,
 * and the calibration line y = a + b·ŷ by least squares (Steyerberg 2019, Clinical Prediction Models,
 * ch. 15), all from sums of the normalized values rescaled by r = high − low. Noisy sums are clamped
 * to their feasible ranges (means in [0, 1], errors >= 0, R² <= 1). R² and the slope are null when
 * the variance of y (for R²) or of ŷ (for the slope) is below the fixed-point resolution.
 */
export function regressionMetrics(n: number, clamped: number, sums: RegressionSums, range: readonly [number, number]): RegressionMetricsBlock {
  const [low, high] = range;
  const r = high - low;
  if (!(n > 0)) {
    return {
      n: 0, clamped, mean_observed: null, mean_predicted: null, mae: null, mse: null, rmse: null, r2: null,
      mean_error: null, calibration_in_the_large: null, calibration_slope: null, calibration_intercept: null,
    };
  }
  const unit = (value: number): number => Math.min(1, Math.max(0, value));
  const u = unit(sums.y / n);
  const v = unit(sums.yhat / n);
  const squaredError = unit(sums.squared_error / n);
  const absError = unit(sums.abs_error / n);
  const sst = sums.y2 - n * u * u;
  const sxx = sums.yhat2 - n * v * v;
  const sxy = sums.y_yhat - n * u * v;
  const slope = sxx / n > VARIANCE_RESOLUTION ? sxy / sxx : null;
  const mse = r * r * squaredError;
  return {
    n,
    clamped,
    mean_observed: low + r * u,
    mean_predicted: low + r * v,
    mae: r * absError,
    mse,
    rmse: Math.sqrt(mse),
    r2: n >= 2 && sst / n > VARIANCE_RESOLUTION ? Math.min(1, 1 - (n * squaredError) / sst) : null,
    mean_error: r * (v - u),
    calibration_in_the_large: r * (u - v),
    calibration_slope: slope,
    calibration_intercept: slope === null ? null : low * (1 - slope) + r * (u - slope * v),
  };
}

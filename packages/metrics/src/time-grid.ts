// time-grid.ts — the public follow-up time grid of a survival task: equal-width bins with the horizon as an exact edge, and one overflow bin.

/**
 * Default density after the horizon: a quarter of the bins per unit of time. There only Harrell's C (over the whole
 * follow-up) needs the time order: coarser bins keep its grid error small (measured in the README) and the vector short.
 */
export const DEFAULT_AFTER_HORIZON_DENSITY = 1 / 4;

/** The default number of bins between the horizon and maxTime: ⌈timeBins · (maxTime − h) / h / 4⌉ (0 when maxTime = h). */
export function defaultAfterBins(horizon: number, maxTime: number, timeBins: number): number {
  return maxTime > horizon ? Math.ceil(((maxTime - horizon) * timeBins * DEFAULT_AFTER_HORIZON_DENSITY) / horizon - 1e-9) : 0;
}

/** The time grid of a survival task, derived only from public spec values. */
export interface TimeGrid {
  /** The horizon h (data's time unit); the right edge of bin `horizonBins − 1`. */
  readonly horizon: number;
  /** Bins on [0, h]: bin 0 is [0, w], bin k is (k·w, (k+1)·w] with w = h / horizonBins. */
  readonly horizonBins: number;
  /** Equal-width bins on (h, maxTime]. */
  readonly afterBins: number;
  /** All bins: horizonBins + afterBins + 1 (the last bin, the overflow, holds every time beyond maxTime). */
  readonly bins: number;
  /** The bin width w up to the horizon. */
  readonly width: number;
  /** The bin width after the horizon, (maxTime − h) / afterBins (0 without such bins). */
  readonly afterWidth: number;
  /** The bin of a follow-up time t >= 0 (the caller checks it): right-closed bins, so t = h lands in bin horizonBins − 1. */
  bin(time: number): number;
  /** Right edge of bin k (Infinity for the overflow bin). */
  upperEdge(k: number): number;
}

/**
 * Builds the grid. Bins are right-closed, (t_k, t_{k+1}], so that "event by the horizon" (T <= h) is exactly
 * "bin < horizonBins", as riskRegression::Score counts cases (T <= h) and controls (T > h). Times after the horizon are
 * binned from h itself, so the horizon (and maxTime) stay exact edges whatever the widths round to.
 */
export function timeGridOf(survival: { horizon: number; maxTime: number; timeBins: number; afterBins?: number | undefined }): TimeGrid {
  const { horizon, maxTime, timeBins } = survival;
  const afterBins = maxTime > horizon ? (survival.afterBins ?? defaultAfterBins(horizon, maxTime, timeBins)) : 0;
  const span = maxTime - horizon;
  const overflow = timeBins + afterBins;
  return Object.freeze({
    horizon,
    horizonBins: timeBins,
    afterBins,
    bins: overflow + 1,
    width: horizon / timeBins,
    afterWidth: afterBins > 0 ? span / afterBins : 0,
    bin(time: number): number {
      if (time <= horizon) return Math.max(0, Math.min(timeBins - 1, Math.ceil((time * timeBins) / horizon) - 1));
      if (time > maxTime || afterBins === 0) return overflow;
      return timeBins + Math.max(0, Math.min(afterBins - 1, Math.ceil(((time - horizon) * afterBins) / span) - 1));
    },
    upperEdge(k: number): number {
      if (k >= overflow) return Infinity;
      return k < timeBins ? ((k + 1) * horizon) / timeBins : horizon + ((k - timeBins + 1) * span) / afterBins;
    },
  });
}

// time-grid.ts — the public follow-up time grid of a survival task: equal-width bins with the horizon as an exact edge, and one overflow bin.

/** The time grid of a survival task, derived only from public spec values (horizon, maxTime, timeBins). */
export interface TimeGrid {
  /** The horizon h (data's time unit); the right edge of bin `horizonBins − 1`. */
  readonly horizon: number;
  /** Bins on [0, h]: bin 0 is [0, w], bin k is (k·w, (k+1)·w] with w = h / horizonBins. */
  readonly horizonBins: number;
  /** Bins after the horizon with the same width, up to the first edge at or beyond maxTime. */
  readonly afterBins: number;
  /** All bins: horizonBins + afterBins + 1 (the last bin, the overflow, holds every time beyond the last edge). */
  readonly bins: number;
  /** The bin width w. */
  readonly width: number;
  /** The bin of a follow-up time t >= 0 (the caller checks it): right-closed bins, so t = h lands in bin horizonBins − 1. */
  bin(time: number): number;
  /** Right edge of bin k (Infinity for the overflow bin). */
  upperEdge(k: number): number;
}

/**
 * Builds the grid. Bins are right-closed, (t_k, t_{k+1}], so that "event by the horizon" (T <= h) is
 * exactly "bin < horizonBins", as riskRegression::Score counts cases (T <= h) and controls (T > h).
 * Times after the horizon are binned from h itself, so the horizon stays an exact edge whatever w rounds to.
 */
export function timeGridOf(survival: { horizon: number; maxTime: number; timeBins: number }): TimeGrid {
  const { horizon, maxTime, timeBins } = survival;
  const width = horizon / timeBins;
  const afterBins = maxTime > horizon ? Math.ceil(((maxTime - horizon) * timeBins) / horizon - 1e-9) : 0;
  const overflow = timeBins + afterBins;
  return Object.freeze({
    horizon,
    horizonBins: timeBins,
    afterBins,
    bins: overflow + 1,
    width,
    bin(time: number): number {
      if (time <= horizon) return Math.max(0, Math.min(timeBins - 1, Math.ceil((time * timeBins) / horizon) - 1));
      const after = Math.max(0, Math.ceil(((time - horizon) * timeBins) / horizon) - 1);
      return after >= afterBins ? overflow : timeBins + after;
    },
    upperEdge(k: number): number {
      if (k >= overflow) return Infinity;
      return k < timeBins ? ((k + 1) * horizon) / timeBins : horizon + ((k - timeBins + 1) * horizon) / timeBins;
    },
  });
}

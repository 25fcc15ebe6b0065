// exact-release.ts — the exact release: the statistics vector itself, without noise (validation only). It has the
// interface of the private release (release.ts), so sites, the coordinator and the key holder never branch on DP.
import type { StatisticsLayout } from '@fedval/metrics';
import { entryBoundsPerSite, maxEntryBound } from './entry-bounds.ts';
import { DpError } from './errors.ts';
import type { DecodedRelease } from './release.ts';
import type { StatisticsRelease } from './statistics-release.ts';

/** A release without differential privacy: what a site sends is its statistics vector, entry for entry. */
export interface ExactRelease extends StatisticsRelease {
  readonly kind: 'exact';
  /** No noise, so no summary of it. */
  summary(): null;
}

/** The exact release of a statistics layout: the release vector is the statistics vector, and the aggregate is the pooled vector. */
export function createExactRelease(layout: StatisticsLayout): ExactRelease {
  const encode = (statistics: Float64Array): Float64Array => {
    if (!(statistics instanceof Float64Array) || statistics.length !== layout.length) {
      throw new DpError('FEDVAL_ERR_DP_INVALID_ARGUMENT', `the statistics vector must be a Float64Array of ${layout.length} entries`);
    }
    for (let i = 0; i < statistics.length; i += 1) {
      if (!Number.isSafeInteger(statistics[i])) throw new DpError('FEDVAL_ERR_DP_NOT_SAFE_INTEGER', `statistics entry ${i}`);
    }
    return Float64Array.from(statistics);
  };
  // Every entry counts patients (at most one per patient) or sums a bounded per-patient value: the layout's per-patient maximum.
  const entryMaxAbsPerSite = (patientsPerSite: number): Float64Array =>
    entryBoundsPerSite(layout.length, layout.blocks, patientsPerSite, (block, patients) => block.perPatientMaxAbs * patients);
  return Object.freeze({
    kind: 'exact' as const,
    layout,
    length: layout.length,
    entryMaxAbsPerSite,
    maxAbsPerSite: (patientsPerSite: number): number => maxEntryBound(entryMaxAbsPerSite(patientsPerSite)),
    encode,
    protect: (statistics: Float64Array): Float64Array => encode(statistics),
    // The pooled vector is the metrics vector; finalizeMetrics checks its length and entries. No noise: no variances.
    decode: (aggregate: Float64Array): DecodedRelease => ({ vector: aggregate, blockVariances: {}, classTotalVariances: {} }),
    summary: (): null => null,
  });
}

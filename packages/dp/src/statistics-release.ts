// statistics-release.ts — what every release of a statistics vector offers (exact or private), the one place that
// chooses between them, and the one finalization of a released aggregate into metrics.
import { DEFAULT_MARGIN_SDS, finalizeMetrics } from '@fedval/metrics';
import { normalCdf, normalQuantile } from './binormal-model.ts';
import { DpError } from './errors.ts';
import type { MetricsReport, StatisticsLayout } from '@fedval/metrics';
import { createExactRelease } from './exact-release.ts';
import type { ExactRelease } from './exact-release.ts';
import type { RandomSource } from './random-source.ts';
import { createPrivateRelease } from './release.ts';
import type { DecodedRelease, PrivateRelease, PrivateReleaseOptions, ReleaseSummary } from './release.ts';
import { resolvePrivacySpec } from './release-spec.ts';
import type { PrivacySpec } from './release-spec.ts';

/**
 * A release of a statistics vector: a site encodes (and under DP noises) its vector into what it sends; the sum of
 * `contributions` sent vectors decodes back into the metrics layout. Implemented by the exact release and the private one.
 */
export interface StatisticsRelease {
  readonly kind: 'exact' | 'private';
  /** The metrics layout the release carries. */
  readonly layout: StatisticsLayout;
  /** Entries of the release vector: what is encrypted and summed. */
  readonly length: number;
  /** Per release entry: a bound on |entry| one site with `patientsPerSite` patients sends (noise included under DP). */
  entryMaxAbsPerSite(patientsPerSite: number): Float64Array;
  /** The largest of {@link entryMaxAbsPerSite}: for the encryption planner. */
  maxAbsPerSite(patientsPerSite: number): number;
  /** At the site: the release vector of a metrics vector (integers to integers, linear). */
  encode(statistics: Float64Array): Float64Array;
  /** At the site: what it sends — {@link encode}, plus this site's noise share under DP. */
  protect(statistics: Float64Array, rng: RandomSource): Float64Array;
  /** At the key holder: the metrics vector and noise variances from the sum of `contributions` protected vectors. */
  decode(aggregate: Float64Array, contributions: number): DecodedRelease;
  /** The `privacy.dp` block of a report: what the noise spent and added; null for an exact release. */
  summary(): ReleaseSummary | null;
}

/**
 * The release a study asks for: private under a privacy spec (resolved against the layout, so a spec received over
 * the wire is checked here), exact (validation only) without one. The one place that branches on "DP or not".
 */
export function createRelease(layout: StatisticsLayout, privacy: Partial<PrivacySpec> | null | undefined, options?: Partial<PrivateReleaseOptions>): PrivateRelease | ExactRelease {
  return privacy ? createPrivateRelease(layout, resolvePrivacySpec(privacy, { layout }), options) : createExactRelease(layout);
}

/** A released aggregate finalized into metrics, with what differential privacy spent and added (null when exact). */
export interface FinalizedRelease {
  readonly metrics: MetricsReport;
  readonly dp: ReleaseSummary | null;
}

/** Options of {@link finalizeRelease}. */
export interface FinalizeReleaseOptions {
  /**
   * Soundness of the small-cell rule under noise: a subgroup level with fewer than the minimum cell size of positives (or
   * of negatives) is released with probability at most α, per class and round, for Gaussian noise on its class total (the
   * margin is z = Φ⁻¹(1 − α) of that total's standard deviations; the Skellam and discrete Gaussian totals are
   * near-Gaussian). 0 < α ≤ 0.05 ({@link MAX_SUPPRESSION_ALPHA}). Default Φ(−3) ≈ 0.00135 (z = 3). A larger α releases smaller levels: a level with c
   * positives is released in ≥ 95 % of rounds once c ≥ k − 1 + (z + 1.645)·sd.
   */
  suppressionAlpha: number;
}

/** Largest α of the small-cell rule accepted: a level below the minimum cell is released in at most 5 % of rounds. */
export const MAX_SUPPRESSION_ALPHA = 0.05;

/** Default α of the small-cell rule: Φ(−3), the margin of 3 standard deviations. */
export const DEFAULT_SUPPRESSION_ALPHA = normalCdf(-DEFAULT_MARGIN_SDS);

/**
 * Finalizes the sum of `contributions` protected vectors into metrics: decoded into the metrics layout, intervals widened
 * by the noise the release added. Post-processing of a DP release costs no extra privacy (Dwork & Roth 2014, Prop. 2.1).
 */
export function finalizeRelease(release: StatisticsRelease, aggregate: Float64Array, contributions: number, options?: Partial<FinalizeReleaseOptions>): FinalizedRelease {
  const alpha = options?.suppressionAlpha;
  if (alpha !== undefined && !(alpha > 0 && alpha <= MAX_SUPPRESSION_ALPHA)) throw new DpError('FEDVAL_ERR_DP_INVALID_ARGUMENT', `suppressionAlpha must lie in (0, ${MAX_SUPPRESSION_ALPHA}]`);
  const marginSds = alpha === undefined ? DEFAULT_MARGIN_SDS : -normalQuantile(alpha);
  const decoded = release.decode(aggregate, contributions);
  const metrics = finalizeMetrics(release.layout, decoded.vector, {
    noise: {
      blockVariances: decoded.blockVariances,
      classTotalVariances: decoded.classTotalVariances,
      ...(decoded.positiveTotalVariances ? { positiveTotalVariances: decoded.positiveTotalVariances } : {}),
      marginSds,
    },
  });
  return { metrics, dp: release.summary() };
}

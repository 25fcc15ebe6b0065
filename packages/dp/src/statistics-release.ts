// statistics-release.ts — what every release of a statistics vector offers (exact or private), the one place that
// chooses between them, and the one finalization of a released aggregate into metrics.
import { finalizeMetrics } from '@fedval/metrics';
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

/**
 * Finalizes the sum of `contributions` protected vectors into metrics: decoded into the metrics layout, intervals widened
 * by the noise the release added. Post-processing of a DP release costs no extra privacy (Dwork & Roth 2014, Prop. 2.1).
 */
export function finalizeRelease(release: StatisticsRelease, aggregate: Float64Array, contributions: number): FinalizedRelease {
  const decoded = release.decode(aggregate, contributions);
  const metrics = finalizeMetrics(release.layout, decoded.vector, { noise: { blockVariances: decoded.blockVariances, classTotalVariances: decoded.classTotalVariances } });
  return { metrics, dp: release.summary() };
}

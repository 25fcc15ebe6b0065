// exclusion-reasons.ts — why a patient is left out of the metrics; each reason has its own counter.
export const EXCLUSION_REASONS = Object.freeze([
  'missing_label',
  'invalid_label',
  'missing_score',
  'invalid_score',
  'missing_features',
  'outside_cohort',
] as const);

export type ExclusionReason = (typeof EXCLUSION_REASONS)[number];

const REASON_INDEX: ReadonlyMap<string, number> = new Map(EXCLUSION_REASONS.map((reason, i) => [reason, i]));

/** Position of a reason inside a section's exclusion counters, or -1 when it is not a reason. */
export function exclusionIndex(reason: string): number {
  return REASON_INDEX.get(reason) ?? -1;
}

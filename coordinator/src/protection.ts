// protection.ts — decides at study creation how contributions are protected: the BFV plan, the release policy.
import { planBfvParameters } from '@fedval/he';
import type { StatisticsLayout } from '@fedval/metrics';
import type { StudyProtection } from './storage/store.ts';

/** Defaults of a study's protection, used when the study does not say. */
export const DEFAULT_PROTECTION = Object.freeze({
  minSites: 3, // fewest contributions an aggregate may be decrypted or released with
  maxPatientsPerSite: 1_000_000, // patients per site; bounds every counter for the encryption planner
});

export interface ProtectionRequest {
  contribution: 'plaintext' | 'bfv';
  minSites: number;
  maxPatientsPerSite: number;
  /** Number of sites of the study: the most contributions one aggregate can hold. */
  sites: number;
}

/**
 * Plans a study's protection. For bfv, every entry's bound is its block's per-patient maximum times
 * the most patients a site may have, so the signed sum of all sites can never wrap around the
 * plaintext modulus (the planner proves it or refuses with FEDVAL_ERR_HE_NO_PARAMETERS).
 */
export function planProtection(layout: StatisticsLayout, request: ProtectionRequest): StudyProtection {
  let encryption: Record<string, unknown> | null = null;
  if (request.contribution === 'bfv') {
    const bounds = entryBounds(layout, request.maxPatientsPerSite);
    const plan = planBfvParameters({
      vectorLength: layout.length,
      maxSites: request.sites,
      maxAbsPerSite: bounds.reduce((max, bound) => Math.max(max, bound), 1),
      entryMaxAbs: bounds,
    });
    encryption = JSON.parse(JSON.stringify(plan)) as Record<string, unknown>;
  }
  return { minSites: request.minSites, maxPatientsPerSite: request.maxPatientsPerSite, encryption, privacy: null };
}

/** Largest |entry| one site can send, per entry of the layout. */
export function entryBounds(layout: StatisticsLayout, maxPatientsPerSite: number): Float64Array {
  const bounds = new Float64Array(layout.length);
  for (const block of layout.blocks) bounds.fill(block.perPatientMaxAbs * maxPatientsPerSite, block.offset, block.offset + block.length);
  return bounds;
}

// protection.ts — decides at study creation how contributions are protected: the BFV plan, the release policy.
import { createRelease, planPrivacySpecInput, resolvePrivacySpec } from '@fedval/dp';
import type { PrivacySpec, PrivacySpecInput, ResolvedPrivacySpec } from '@fedval/dp';
import { planBfvParameters } from '@fedval/he';
import type { BfvPlan } from '@fedval/he';
import type { StatisticsLayout } from '@fedval/metrics';
import type { StudyProtection } from './storage/store.ts';

/** Defaults of a study's protection, used when the study does not say. */
export const DEFAULT_PROTECTION = Object.freeze({
  minSites: 3, // fewest contributions an aggregate may be decrypted or released with
  maxPatientsPerSite: 100_000, // patients per site; bounds every counter for the encryption planner (larger sites: raise it per study)
});

export interface ProtectionRequest {
  contribution: 'plaintext' | 'bfv';
  minSites: number;
  maxPatientsPerSite: number;
  /** Number of sites of the study: the most contributions one aggregate can hold. */
  sites: number;
  /**
   * Differential privacy of each release as the REST API's `privacy` (@fedval/dp privacySpecInputSchema,
   * snake_case): problems name its fields as the user wrote them. Takes precedence over `privacy`.
   */
  privacyInput?: PrivacySpecInput | null | undefined;
  /**
   * Differential privacy of each release, or null for exact releases (validation only).
   * TODO(schemas): remove once the study route passes `privacyInput` (the REST body's `privacy` as parsed by privacySpecInputSchema).
   */
  privacy: PrivacyRequest | null;
}

/** A study's privacy request: per-round (ε, δ), and public assumptions the planner uses to choose the release layout. */
export interface PrivacyRequest extends Partial<Omit<PrivacySpec, 'minSites'>> {
  epsilon: number;
  delta: number;
  /** Patients with a label expected across all sites (public planning assumption). */
  expectedPatients?: number | undefined;
  /** Expected share of positives (public planning assumption). */
  expectedPrevalence?: number | undefined;
}

/**
 * Plans a study's protection. Under DP the privacy spec is resolved once here (the release layout
 * chosen from public assumptions) and travels unchanged in every task. For bfv, every entry's bound
 * is its block's per-patient maximum times the most patients a site may have — plus, under DP, the
 * noise's tail bound — so the signed sum of all sites can never wrap around the plaintext modulus
 * (the planner proves it or refuses with FEDVAL_ERR_HE_NO_PARAMETERS).
 */
export function planProtection(layout: StatisticsLayout, request: ProtectionRequest): StudyProtection {
  let privacy: ResolvedPrivacySpec | null = null;
  if (request.privacyInput) {
    privacy = planPrivacySpecInput(request.privacyInput, { layout, minSites: request.minSites, sites: request.sites }).privacy;
  } else if (request.privacy) {
    const { expectedPatients, expectedPrevalence, ...spec } = request.privacy;
    privacy = resolvePrivacySpec(
      { ...spec, minSites: request.minSites },
      {
        layout,
        sites: request.sites,
        ...(expectedPatients !== undefined ? { expectedPatients } : {}),
        ...(expectedPrevalence !== undefined ? { expectedPrevalence } : {}),
      },
    );
  }
  // What sites send: the statistics vector, or under DP its release vector (coarsened or tree-encoded, noised).
  const release = createRelease(layout, privacy);
  let encryption: BfvPlan | null = null;
  if (request.contribution === 'bfv') {
    const bounds = release.entryMaxAbsPerSite(request.maxPatientsPerSite);
    encryption = planBfvParameters({
      vectorLength: release.length,
      maxSites: request.sites,
      maxAbsPerSite: bounds.reduce((max, bound) => Math.max(max, bound), 1),
      entryMaxAbs: bounds,
    });
  }
  return { minSites: request.minSites, maxPatientsPerSite: request.maxPatientsPerSite, encryption, privacy };
}

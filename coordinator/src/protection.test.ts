// A study's protection planned from the REST API's privacy as written: problems name the snake_case fields; the plan is what a task carries.
import { DpError, resolvedPrivacySpecSchema } from '@fedval/dp';
import { bfvPlanSchema } from '@fedval/he';
import { createStatisticsLayout } from '@fedval/metrics';
import { describe, expect, it } from 'vitest';
import { planProtection } from './protection.ts';

const layout = createStatisticsLayout({ bins: 100, groups: [{ column: 'sex', levels: ['F', 'M'] }] });
const base = { contribution: 'bfv' as const, minSites: 2, maxPatientsPerSite: 1000, sites: 3, privacy: null };

describe('planProtection', () => {
  it('refuses a DP study without the planning assumptions, naming expected_patients and expected_prevalence as written', () => {
    let caught: unknown;
    try {
      planProtection(layout, { ...base, privacyInput: { epsilon: 1, delta: 1e-6 } });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(DpError);
    const message = (caught as DpError).message;
    expect(message).toContain("layout 'auto' needs expected_patients ≥ 2");
    expect(message).toContain("layout 'auto' needs expected_prevalence with 0 < π < 1");
    expect(message).not.toMatch(/context\.|expectedPatients/);
  });

  it('resolves the privacy input once into what every task carries, with a BFV plan that carries the noisy release', () => {
    const input = { epsilon: 1, delta: 1e-6, expected_patients: 2000, expected_prevalence: 0.3 };
    const fromInput = planProtection(layout, { ...base, privacyInput: input });
    const legacy = planProtection(layout, { ...base, privacy: { epsilon: 1, delta: 1e-6, expectedPatients: 2000, expectedPrevalence: 0.3 } });
    expect(fromInput).toEqual(legacy);
    expect(fromInput.privacy?.minSites).toBe(2);
    // What the store keeps and the task sends parses with the owners' wire schemas after JSON.
    expect(resolvedPrivacySpecSchema.parse(JSON.parse(JSON.stringify(fromInput.privacy)))).toEqual(fromInput.privacy);
    expect(bfvPlanSchema.parse(JSON.parse(JSON.stringify(fromInput.encryption)))).toEqual(fromInput.encryption);
  });
});

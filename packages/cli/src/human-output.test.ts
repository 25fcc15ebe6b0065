import { roundViewSchema } from '@fedval/protocol';
import { describe, expect, it } from 'vitest';
import { describePrivacyFigures, describeSiteBudgets, formatDelta, formatEpsilon, roundProgress } from './human-output.ts';

describe('human output', () => {
  it('rounds privacy figures for people', () => {
    expect(formatEpsilon(0.9999999976718346)).toBe('1.00');
    expect(formatEpsilon(0.3)).toBe('0.30');
    expect(formatDelta(1e-6)).toBe('1.0e-6');
    expect(formatDelta(0.00001234)).toBe('1.2e-5');
    expect(describePrivacyFigures({ epsilon: 0.9999999976718346, delta: 1e-6, mechanism: 'skellam', rho: 0.0173 })).toBe(
      'differentially private: ε 1.00, δ 1.0e-6 per round (skellam)',
    );
    expect(describePrivacyFigures(null)).toBe('exact release, NO differential privacy');
    expect(describeSiteBudgets({ epsilon: 1, delta: 1e-6, sites: [{ site_id: 'a', epsilon_spent: 0.49999, epsilon_remaining: 2.50001 }] })).toEqual([
      '  a: ε spent 0.50, ε remaining 2.50',
    ]);
  });

  it('counts sites contributed, refused (or invalid) and pending', () => {
    const round = roundViewSchema.parse({
      round_id: '00000000-0000-4000-8000-000000000001',
      study_id: '00000000-0000-4000-8000-000000000002',
      state: 'collecting',
      created_at: '2026-01-01T00:00:00.000Z',
      deadline_at: '2026-01-01T00:10:00.000Z',
      sites: [
        { site_id: 'a', status: 'contributed' },
        { site_id: 'b', status: 'refused', code: 'FEDVAL_ERR_AGENT_POLICY' },
        { site_id: 'c', status: 'invalid', code: 'FEDVAL_ERR_COORD_INVALID_CONTRIBUTION' },
        { site_id: 'd', status: 'accepted' },
        { site_id: 'e', status: 'dispatched' },
        { site_id: 'f', status: 'pending' },
      ],
      contributions: 1,
      release: 'none',
    });
    expect(roundProgress(round)).toEqual({ contributed: 1, refused: 2, pending: 3 });
  });
});

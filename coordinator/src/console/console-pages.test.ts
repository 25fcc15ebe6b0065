// console-pages.test.ts — the pages a live round cannot easily show in the browser test: a round awaiting the key holder with its release checks, refused and pending sites with their codes, and no per-site ε for a role not allowed it.
import type { RoundView, StudyView } from '@fedval/protocol';
import { describe, expect, it } from 'vitest';
import { releaseQueueBody, roundBody } from './console-pages.ts';

const study = {
  study_id: '00000000-0000-4000-8000-000000000001',
  name: '<b>study</b>',
  model_id: null,
  score_column: 'score',
  sites: ['a', 'b', 'c', 'd'],
  quorum: 4,
  release: { min_sites: 3 },
  contribution: 'bfv',
  privacy: null,
  secure_aggregation: { scheme: 'bonawitz-double-mask', threshold: 3 },
} as unknown as StudyView;

const round = (contributions: number, release: RoundView['release'], result?: unknown): RoundView =>
  ({
    round_id: '00000000-0000-4000-8000-000000000002',
    study_id: study.study_id,
    state: 'aggregated',
    created_at: '2026-01-01T00:00:00.000Z',
    deadline_at: '2026-01-01T00:10:00.000Z',
    closed_at: '2026-01-01T00:05:00.000Z',
    sites: [
      { site_id: 'a', status: 'contributed' },
      { site_id: 'b', status: 'refused', code: 'FEDVAL_ERR_AGENT_BUDGET_EXHAUSTED' },
      { site_id: 'c', status: contributions >= 3 ? 'contributed' : 'pending' },
      { site_id: 'd', status: 'contributed' },
    ],
    contributions,
    release,
    ...(result ? { result } : {}),
  }) as unknown as RoundView;

describe('releaseQueueBody', () => {
  it('lists each round awaiting the key holder with the release minimum met or not, and the checks fedval decrypt makes', () => {
    const met = releaseQueueBody([{ round: round(3, 'awaiting_key_holder'), study }]).markup;
    expect(met).toContain('&lt;b&gt;study&lt;/b&gt;');
    expect(met).toContain('<td class="ok">3 contributed: met</td>');
    expect(met).toContain('at least 3 sites (threshold) shared their secrets');
    expect(met).toContain("signed by a site key in the key holder's pinned roster");
    const short = releaseQueueBody([{ round: round(2, 'awaiting_key_holder'), study }]).markup;
    expect(short).toContain('<td class="bad">2 contributed: not met</td>');
    expect(releaseQueueBody([]).markup).toContain('No round awaits the key holder');
  });
});

describe('roundBody', () => {
  const released = {
    metrics: { task: 'binary', roc_auc: 0.75, roc_auc_ci95: [0.7, 0.8] },
    contributions: 3,
    sites: ['a', 'c', 'd'],
    privacy: { dp: { epsilon: 1, delta: 1e-6, sites: [{ site_id: 'a', epsilon: 1, own_share_epsilon: 1.8, epsilon_spent: 2, epsilon_remaining: 8, epsilon_total: 10 }] } },
  };
  it('shows refused and pending sites with their coded reasons', () => {
    const markup = roundBody(round(2, 'none'), study, true).markup;
    expect(markup).toContain('<td>b</td><td>refused</td><td>refused</td><td><code>FEDVAL_ERR_AGENT_BUDGET_EXHAUSTED</code></td>');
    expect(markup).toContain('<td>c</td><td>pending</td><td>pending</td><td></td>');
  });
  it('shows per-site ε only when the role may see it, even if a view carried it', () => {
    const officer = roundBody(round(3, 'released', released), study, true).markup;
    expect(officer).toContain('<td>a</td><td>1.000</td><td>1.800</td><td>2.000</td><td>8.000</td><td>10.000</td>');
    const sponsor = roundBody(round(3, 'released', released), study, false).markup;
    expect(sponsor).not.toContain('site-privacy');
    expect(sponsor).not.toContain('8.000');
    expect(sponsor).toContain('0.750 (95% CI 0.700 to 0.800)');
  });
});

// The HTML report renders the real finalizeMetrics output of the fixture data set: the independently computed values are on the page.
import { describe, expect, it } from 'vitest';
import { renderHtmlReport } from './html-report.ts';
import { fixtureExpectations, fixtureReport, HOSTILE_LEVEL } from './testing/fixture-report.ts';

/** The page's text as a reader sees it: tags dropped, entities decoded. */
function textOf(html: string): string {
  return html
    .replace(/<style>[\s\S]*?<\/style>/g, '')
    .replace(/<[^>]+>/g, ' ')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&')
    .replace(/\s+/g, ' ');
}

describe('renderHtmlReport', () => {
  const expected = fixtureExpectations();
  const metrics = fixtureReport();

  it('shows the finalized metrics of a real statistics vector', () => {
    const html = renderHtmlReport({ title: 'Fixture', context: ['three sites'], metrics, privacy: { dp: null, encryption: null } });
    const text = textOf(html);
    const { tp, fn, tn, fp } = expected.at_threshold;
    expect(text).toContain(`patients (n) ${expected.n}`);
    expect(text).toContain(`positives / prevalence ${expected.positives} / ${expected.prevalence.toFixed(3)}`);
    expect(text).toContain(`sensitivity (score ≥ 0.5) ${(tp / (tp + fn)).toFixed(3)}`);
    expect(text).toContain(`specificity ${(tn / (tn + fp)).toFixed(3)}`);
    // The grid AUC agrees with scikit-learn's to 1e-3 (packages/metrics fixture test); the page shows three decimals.
    const shown = /ROC AUC (\d\.\d{3}) (\d\.\d{3})–(\d\.\d{3})/.exec(text);
    expect(shown).not.toBeNull();
    expect(Math.abs(Number(shown?.[1]) - expected.roc_auc)).toBeLessThanOrEqual(1.5e-3);
    expect(Number(shown?.[2])).toBeLessThan(Number(shown?.[1]));
    expect(Number(shown?.[3])).toBeGreaterThan(Number(shown?.[1]));
    expect(text).toContain('No differential privacy');
    expect(text).toContain('Not encrypted');
    expect(text).toContain('Scores binned on 1000 equal-width bins.');
  });

  it('marks the suppressed level and shows its hostile name as text, never markup', () => {
    const html = renderHtmlReport({ title: 'Fixture', context: [], metrics, privacy: { dp: null, encryption: null } });
    expect(html).not.toContain(HOSTILE_LEVEL);
    const text = textOf(html);
    // The footnote states the rule (n<10, or of either class); a row states no reason, as one can reveal a label.
    expect(text).toContain(`meno ${HOSTILE_LEVEL} suppressed meno (other) suppressed meno (missing) suppressed`);
    expect(text).toContain('Subgroup levels with fewer than 10 patients (or of either class) are suppressed');
    expect(text).not.toMatch(/suppressed \(|n<\d/);
  });

  it('states the privacy figures of the release', () => {
    const dp = {
      epsilon: 0.9999999976718346,
      delta: 1e-6,
      rho: 0.0243561,
      mechanism: 'skellam' as const,
      minSites: 3,
      ownShareEpsilon: 2.2360679,
      sites: [{ site_id: 'site-a', epsilon: 0.9999999976718346, own_share_epsilon: 2.2360679, epsilon_spent: 1, epsilon_remaining: 9 }],
    };
    const encryption = { poly_modulus_degree: 2048, security_bits: 128 as const, ciphertext_bytes_per_site: 14616 };
    const text = textOf(renderHtmlReport({ title: 'Fixture', context: [], metrics, privacy: { dp, encryption } }));
    expect(text).toContain('ε = 1.000, δ = 0.000001');
    expect(text).toContain('sized for 3 sites');
    expect(text).toContain('polynomial degree 2048, 128-bit security, 14616 bytes per site');
    expect(text).toContain('each site\'s own noise share alone would still give it ε = 2.236');
    // ε this round, own-share ε this round, ε spent in total, ε left.
    expect(text).toContain('site-a 1.000 2.236 1.000 9.000');
  });

  it('says when the round was securely aggregated, with its threshold and the sites that dropped out', () => {
    const aggregation = { scheme: 'bonawitz-double-mask' as const, threshold: 3, sites_masked: ['a', 'b', 'c', 'd<'], dropped: ['d<'], recovered: ['d<'] };
    const text = textOf(renderHtmlReport({ title: 'Fixture', context: [], metrics, privacy: { dp: null, encryption: null, aggregation } }));
    expect(text).toContain('Secure aggregation (Bonawitz et al. double masking, threshold 3): each of the 4 sites masked its statistics');
    expect(text).toContain('1 site(s) dropped out after the key exchange (d<) and their masks were removed with the others\' shares (1 recovered)');
    expect(renderHtmlReport({ title: 'Fixture', context: [], metrics, privacy: { dp: null, encryption: null, aggregation } })).not.toContain('d<)');
  });
});

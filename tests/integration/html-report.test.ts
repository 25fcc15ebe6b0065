// The HTML report a privacy officer reads, rendered by a real headless Chromium: the numbers of the
// result are on the page, suppressed cells are marked, hostile names are escaped, nothing is fetched.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { renderHtmlReport } from '@fedval/cli';
import { chromium } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { requirePrerequisite } from '../helpers/prerequisites.ts';
import { REPO_ROOT } from '../helpers/run-cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'fedval-report-'));

describe('HTML report', () => {
  it('shows the released metrics, the privacy spent and suppressed cells, in a real browser', async () => {
    const chromiumPath = requirePrerequisite('chromium');
    const fixture = JSON.parse(readFileSync(join(REPO_ROOT, 'packages/metrics/references/fixture_sites_expected.json'), 'utf8'));
    // A released result as the key holder publishes it, with a hostile level name.
    const metrics = {
      task: 'binary',
      min_cell_size: 10,
      n: fixture.n ?? 300,
      positives: 120,
      prevalence: 0.4,
      excluded: { missing_label: 7, invalid_score: 0 },
      roc_auc: 0.7345,
      roc_auc_ci95: [0.6789, 0.7901],
      average_precision: 0.61,
      brier_score: 0.2011,
      at_threshold: { threshold: 0.5, sensitivity: 0.55, sensitivity_ci95: [0.46, 0.64], specificity: 0.8, specificity_ci95: [0.74, 0.85], ppv: 0.6, npv: 0.75, accuracy: 0.7 },
      calibration: { bins: [{ n: 50, mean_predicted: 0.2, observed_rate: 0.25 }, { n: 60, mean_predicted: 0.6, observed_rate: 0.55 }], calibration_in_the_large: 0.01, observed_expected_ratio: 1.02, ece: 0.03 },
      decision_curve: [{ threshold: 0.1, net_benefit: 0.3, treat_all: 0.28 }, { threshold: 0.3, net_benefit: 0.2, treat_all: 0.1 }],
      by_group: { sex: { F: { n: 150, roc_auc: 0.71, roc_auc_ci95: [0.62, 0.8], at_threshold: { sensitivity: 0.5, specificity: 0.8 } }, '<img src=x onerror=alert(1)>': { suppressed: true } } },
      fairness: { sex: { levels_covered: ['F', 'M'], demographic_parity_difference: 0.04, equal_opportunity_difference: 0.05, equalized_odds_difference: 0.06, equalized_odds_ratio: 0.9 } },
    };
    const html = renderHtmlReport({
      title: 'Test report',
      context: ['Scenario line'],
      metrics,
      privacy: {
        encryption: { poly_modulus_degree: 2048, security_bits: 128, ciphertext_bytes_per_site: 14616 },
        dp: { epsilon: 1, delta: 1e-6, rho: 0.024356, mechanism: 'skellam', minSites: 3, sites: [{ site_id: 'site-a', epsilon: 1, own_share_epsilon: 1.813, epsilon_spent: 1, epsilon_remaining: 9 }] },
      },
      round: { round_id: 'r-1', contributions: 3 },
    });
    const file = join(dir, 'report.html');
    writeFileSync(file, html);
    const browser = await chromium.launch({
      executablePath: chromiumPath,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    try {
      const page = await browser.newPage();
      const requests: string[] = [];
      page.on('request', (request) => requests.push(request.url()));
      const dialogs: string[] = [];
      page.on('dialog', (dialog) => {
        dialogs.push(dialog.message());
        void dialog.dismiss();
      });
      await page.goto(pathToFileURL(file).href);
      const text = await page.innerText('body');
      expect(text).toContain('0.735');
      expect(text).toContain('0.679–0.790');
      expect(text).toContain('ε = 1.000');
      expect(text).toContain('site-a');
      expect(text).toMatch(/<img src=x onerror=alert\(1\)>\s+suppressed\b/);
      expect(text).not.toContain('n<10');
      // Both ε of the round per site: assuming honest shares, and the site's own share alone.
      expect(text).toContain('own-share ε this round');
      expect(text).toContain('1.813');
      expect(text).toContain('<img src=x onerror=alert(1)>'); // shown as text, not markup
      expect(await page.locator('img').count()).toBe(0);
      expect(await page.locator('svg').count()).toBe(2);
      expect(dialogs).toEqual([]);
      expect(requests.filter((url) => !url.startsWith('file:'))).toEqual([]);
      await page.screenshot({ path: join(dir, 'report.png'), fullPage: true });
    } finally {
      await browser.close();
    }
  }, 60_000);
});

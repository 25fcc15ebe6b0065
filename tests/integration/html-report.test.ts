// The HTML report a privacy officer reads, rendered by a real headless Chromium: the numbers of the
// result are on the page, suppressed cells are marked, hostile names are escaped, nothing is fetched.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { renderHtmlReport } from '@fedval/cli';
import { chromium } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { fixtureExpectations, fixtureReport, HOSTILE_LEVEL } from '../../packages/cli/src/testing/fixture-report.ts';
import { requirePrerequisite } from '../helpers/prerequisites.ts';

const dir = mkdtempSync(join(tmpdir(), 'fedval-report-'));

describe('HTML report', () => {
  it('shows the released metrics, the privacy spent and suppressed cells, in a real browser', async () => {
    const chromiumPath = requirePrerequisite('chromium');
    // A released result: finalizeMetrics of the statistics accumulated from the committed fixture data set, with a hostile level name.
    const metrics = fixtureReport();
    const expected = fixtureExpectations();
    if (metrics.task !== 'binary') throw new Error('the fixture is a binary task');
    const html = renderHtmlReport({
      title: 'Test report',
      context: ['Scenario line'],
      metrics,
      privacy: {
        encryption: { poly_modulus_degree: 2048, security_bits: 128, ciphertext_bytes_per_site: 14616 },
        dp: { epsilon: 1, delta: 1e-6, rho: 0.024356, mechanism: 'skellam', minSites: 3, sites: [{ site_id: 'site-a', epsilon_spent: 1, epsilon_remaining: 9 }] },
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
      expect(text).toContain(`${expected.positives} / ${expected.prevalence.toFixed(3)}`);
      expect(text).toContain(`${metrics.roc_auc?.toFixed(3)}\t${metrics.roc_auc_ci95?.[0].toFixed(3)}–${metrics.roc_auc_ci95?.[1].toFixed(3)}`);
      expect(Math.abs((metrics.roc_auc ?? 0) - expected.roc_auc)).toBeLessThanOrEqual(1e-3);
      expect(text).toContain('ε = 1.000');
      expect(text).toContain('site-a');
      expect(text).toContain('suppressed (n<10)');
      expect(text).toContain(HOSTILE_LEVEL); // shown as text, not markup
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

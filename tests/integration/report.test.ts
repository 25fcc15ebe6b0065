// The validation report of a released round, read as its readers read it: the PDF through poppler (pdftotext,
// pdftoppm), the HTML in a real headless Chromium, the model card against its schema, and the evidence bundle through
// `fedval evidence verify`, which must fail on any one edited byte of the HTML, the PDF or report.json.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { evidenceManifestSchema, modelCardSchema, REPORT_CSP, verifyEvidenceBundle, writeReport } from '@fedval/cli';
import type { ReportDocument, WrittenReport } from '@fedval/cli';
import type { BinaryMetricsReport } from '@fedval/metrics';
import { AuditLog, auditHead } from '@fedval/trust';
import { chromium } from 'playwright-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { HOSTILE_LEVEL } from '../../packages/cli/src/testing/fixture-report.ts';
import { releasedRoundFixture } from '../../packages/cli/src/testing/released-round.ts';
import { requirePrerequisite } from '../helpers/prerequisites.ts';

const root = mkdtempSync(join(tmpdir(), 'fedval-report-'));
const trail = join(root, 'key-holder-audit.jsonl');

/** A real key holder trail: three entries, its head signed into the release. */
function keyHolderTrail(): { seq: number; hash: string } {
  const log = AuditLog.open(trail);
  for (const action of ['keys.created', 'roster.pinned', 'aggregate.decrypted']) log.append({ actor: 'key_holder:test', action, object: 'round:r', details: {} });
  log.close();
  return auditHead(trail);
}

const fixture = releasedRoundFixture(3, { keyHolder: keyHolderTrail() });
const doc: ReportDocument = fixture.document;
const metrics = doc.released.metrics as BinaryMetricsReport;
const signingKey = join(root, 'maker.key');
writeFileSync(signingKey, fixture.keyHolder.privateKeyPem, { mode: 0o600 });
chmodSync(signingKey, 0o600);

let written: WrittenReport;
const bundle = join(root, 'bundle');
beforeAll(async () => {
  written = await writeReport(doc, { out: bundle, signingKey, now: () => new Date('2026-12-06T12:00:00.000Z') });
}, 60_000);

/** Every number of the released JSON, as the report may print it: its JSON spelling, or rounded to 3 (5 for rho) decimals. */
function releasedSpellings(value: unknown, into = new Set<string>()): Set<string> {
  if (typeof value === 'number') {
    into.add(String(value));
    into.add(value.toFixed(3));
    into.add(value.toFixed(5));
  } else if (Array.isArray(value)) for (const item of value) releasedSpellings(item, into);
  else if (value !== null && typeof value === 'object') for (const item of Object.values(value)) releasedSpellings(item, into);
  return into;
}

function pdfText(file: string, page?: number): string {
  const pages = page === undefined ? [] : ['-f', String(page), '-l', String(page)];
  return execFileSync(requirePrerequisite('pdftotext'), ['-layout', ...pages, file, '-'], { encoding: 'utf8' });
}

describe('the PDF report', () => {
  it('prints every released number exactly as the released JSON has it, and nothing else with decimals', () => {
    const pdf = join(bundle, 'report.pdf');
    const pages = Number(/Pages:\s+(\d+)/.exec(execFileSync(requirePrerequisite('pdfinfo'), [pdf], { encoding: 'utf8' }))?.[1]);
    expect(pages).toBeGreaterThanOrEqual(5);
    const texts = Array.from({ length: pages }, (_, i) => pdfText(pdf, i + 1));
    // Text pages first; each chart page starts with its "Figure N." heading (chart ticks are axis labels, not results).
    const textPages = texts.filter((text) => !/^\s*Figure \d+\./.test(text));
    const figurePages = texts.filter((text) => /^\s*Figure \d+\./.test(text));
    expect(figurePages.map((text) => /Figure (\d+)\./.exec(text)?.[1])).toEqual(['1', '2', '3', '4']);
    const text = textPages.join('\n');
    const allowed = releasedSpellings(doc.released);
    // The one number the report derives itself: the plain-language factor e^epsilon, printed with 2 decimals.
    const derived = Math.exp(doc.released.privacy.dp!.epsilon).toFixed(2);
    const decimals = [...text.matchAll(/(?<![\w.:-])-?\d+\.\d+(?![\w.:-])/g)].map((match) => match[0]);
    expect(decimals.length).toBeGreaterThan(80);
    expect(decimals.filter((token) => !allowed.has(token) && token !== derived)).toEqual([]);
    const flat = text.replace(/\s+/g, ' ');
    expect(flat).toContain(`at most a factor of ${derived}`);

    const t = metrics.at_threshold;
    const row = (label: string, value: number | null, interval?: [number, number] | null) =>
      new RegExp(`${label.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s+${value!.toFixed(3)}${interval ? `\\s+${interval[0].toFixed(3)} to ${interval[1].toFixed(3)}` : ''}`);
    expect(text).toMatch(row('ROC AUC', metrics.roc_auc, metrics.roc_auc_ci95));
    expect(text).toMatch(row('sensitivity at score >= 0.5', t.sensitivity, t.sensitivity_ci95));
    expect(text).toMatch(row('specificity', t.specificity, t.specificity_ci95));
    expect(text).toMatch(row('PPV', t.ppv, t.ppv_ci95));
    expect(text).toMatch(row('NPV', t.npv, t.npv_ci95));
    expect(text).toMatch(row('Brier score', metrics.brier_score));
    expect(text).toMatch(row('calibration slope', metrics.calibration.calibration_slope));
    expect(text).toMatch(row('calibration intercept', metrics.calibration.calibration_intercept));
    expect(text).toMatch(row('observed / expected (O/E)', metrics.calibration.observed_expected_ratio));
    expect(text).toMatch(row('Hosmer-Lemeshow statistic', metrics.calibration.hosmer_lemeshow!.statistic));
    expect(text).toMatch(new RegExp(`patients \\(n\\)\\s+${metrics.n}\\b`));
    expect(text).toMatch(new RegExp(`\\b${t.tp}\\s+${t.fp}\\s+${t.tn}\\s+${t.fn}\\b`));
    for (const site of doc.released.privacy.dp!.sites!) {
      expect(text).toMatch(new RegExp(`${site.site_id}\\s+${site.epsilon!.toFixed(3)}\\s+${site.own_share_epsilon!.toFixed(3)}\\s+${site.epsilon_spent!.toFixed(3)}\\s+${site.epsilon_remaining!.toFixed(3)}`));
    }
    expect(flat).toContain(`Released by ${doc.release.statement.signerName}, ${doc.release.statement.signedAt}, signature meaning: "approved for release"`);
    expect(text).toContain(doc.key_holder_fingerprint);
    expect(text).toContain(doc.release.statement.datasetCommitments[0]!.commitment!);
    expect(text).toMatch(/<img src=x onerror=alert\(1\)>\s+suppressed/);
  });

  it('renders every page to a non-blank image', () => {
    const pages = join(root, 'pages');
    mkdirSync(pages, { recursive: true });
    execFileSync(requirePrerequisite('pdftoppm'), ['-r', '30', '-gray', join(bundle, 'report.pdf'), join(pages, 'page')]);
    const images = readdirSync(pages).filter((name) => name.endsWith('.pgm'));
    expect(images.length).toBeGreaterThanOrEqual(5);
    for (const image of images) {
      const bytes = readFileSync(join(pages, image));
      // Binary PGM: "P5\n<w> <h>\n255\n" then one byte per pixel; a page with content has dark pixels.
      const header = /^P5\s+(\d+)\s+(\d+)\s+255\s/.exec(bytes.subarray(0, 32).toString('latin1'));
      expect(header, image).not.toBeNull();
      const pixels = bytes.subarray(bytes.length - Number(header![1]) * Number(header![2]));
      const dark = pixels.filter((value) => value < 128).length;
      expect(dark / pixels.length, image).toBeGreaterThan(0.002);
    }
  });
});

describe('the HTML report', () => {
  it('has no script and no network reference', () => {
    const html = readFileSync(join(bundle, 'report.html'), 'utf8');
    const tags = html.match(/<[^>]+>/g) ?? [];
    expect(tags.length).toBeGreaterThan(100);
    // No element that runs or loads anything, and no attribute that does (an escaped level name in a label is text).
    expect(tags.filter((tag) => /^<(script|link|iframe|object|embed|img|image|use|base|form|input|audio|video|source)\b/i.test(tag))).toEqual([]);
    const attributes = tags.flatMap((tag) => [...tag.matchAll(/\s([^\s=>"']+)\s*=\s*("[^"]*"|'[^']*'|[^\s>]+)/g)].map((match) => ({ name: match[1]!.toLowerCase(), value: match[2]! })));
    expect(attributes.filter((attribute) => /^(on.*|src|srcset|href|xlink:href|action|formaction|background|poster)$/.test(attribute.name))).toEqual([]);
    // Only same-document references (the SVG clip paths, url(#clip1)); nothing with a scheme or a host.
    expect(attributes.filter((attribute) => /url\((?!#)/i.test(attribute.value))).toEqual([]);
    expect(html).not.toMatch(/https?:\/\/|javascript:|@import|url\((?!#)/i);
    expect(html).toContain(`content="${REPORT_CSP}"`);
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;');
  });

  it('shows the released numbers, the privacy spent and the charts in a real browser, loading nothing', async () => {
    const chromiumPath = requirePrerequisite('chromium');
    const browser = await chromium.launch({ executablePath: chromiumPath, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
    try {
      const page = await browser.newPage();
      const requests: string[] = [];
      page.on('request', (request) => requests.push(request.url()));
      const dialogs: string[] = [];
      page.on('dialog', (dialog) => {
        dialogs.push(dialog.message());
        void dialog.dismiss();
      });
      await page.goto(pathToFileURL(join(bundle, 'report.html')).href);
      const text = await page.innerText('body');
      expect(text).toContain(`ROC AUC\t${metrics.roc_auc!.toFixed(3)}\t${metrics.roc_auc_ci95![0].toFixed(3)} to ${metrics.roc_auc_ci95![1].toFixed(3)}`);
      expect(text).toContain(`calibration slope\t${metrics.calibration.calibration_slope!.toFixed(3)}`);
      expect(text).toContain('own-share epsilon this round');
      expect(text).toMatch(new RegExp(`${HOSTILE_LEVEL.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s+suppressed\\b`));
      expect(text).not.toMatch(/n<\d|positives<|negatives</);
      expect(await page.locator('img').count()).toBe(0);
      expect(await page.locator('figure svg').count()).toBe(4);
      // The charts have axes with ticks and titles, and legends.
      const roc = await page.locator('#figure-roc svg').innerHTML();
      expect(roc).toContain('False positive rate (1 - specificity)');
      expect(roc).toContain('role-axis-tick');
      expect(await page.locator('#figure-decision-curve svg').innerHTML()).toContain('treat none');
      expect(dialogs).toEqual([]);
      expect(requests.filter((url) => !url.startsWith('file:'))).toEqual([]);
      await page.screenshot({ path: join(root, 'report.png'), fullPage: true });
    } finally {
      await browser.close();
    }
  }, 60_000);
});

describe('the model card', () => {
  it('validates against the Model Card Toolkit fields it claims and carries the released metrics', () => {
    const card = modelCardSchema.parse(JSON.parse(readFileSync(join(bundle, 'model-card.json'), 'utf8')));
    const overall = Object.fromEntries(card.quantitative_analysis.performance_metrics.filter((item) => item.slice === 'overall').map((item) => [item.type, item]));
    expect(overall.roc_auc).toEqual({ type: 'roc_auc', value: String(metrics.roc_auc), slice: 'overall', confidence_interval: { lower_bound: String(metrics.roc_auc_ci95![0]), upper_bound: String(metrics.roc_auc_ci95![1]) } });
    expect(overall.calibration_slope?.value).toBe(String(metrics.calibration.calibration_slope));
    expect(overall.sensitivity?.threshold).toBe('0.5');
    const slices = new Set(card.quantitative_analysis.performance_metrics.map((item) => item.slice));
    expect([...slices].sort()).toEqual(['meno=0', 'meno=1', 'overall']);
    expect(card.model_details.version.name).toBe('1.0.0');
  });
});

describe('fedval evidence verify', () => {
  it('passes on a fresh bundle, with the key holder, the maker and the audit-trail head pinned', () => {
    const verification = verifyEvidenceBundle(bundle, { keyHolderKeys: [fixture.keyHolder.fingerprint], signerKeys: [fixture.keyHolder.fingerprint], trails: [{ party: 'key_holder', path: trail }] });
    expect(verification.checks.filter((check) => !check.ok)).toEqual([]);
    expect(verification.ok).toBe(true);
    expect(verification.released_by).toBe('Dr. Ada Privacy');
    expect(written.files.map((file) => file.name)).toEqual(['report.html', 'report.pdf', 'model-card.json', 'report.json']);
    const manifest = evidenceManifestSchema.parse(JSON.parse(readFileSync(join(bundle, 'report.json'), 'utf8')));
    expect(manifest.files.map((file) => file.name)).toEqual(['report.html', 'report.pdf', 'model-card.json']);
  });

  /** A copy of the bundle with byte `at` of `file` changed (XOR 1): verify must fail, whatever the byte. */
  function verifyWithEditedByte(file: string, at: number): boolean {
    const copy = mkdtempSync(join(root, 'edited-'));
    for (const name of readdirSync(bundle)) writeFileSync(join(copy, name), readFileSync(join(bundle, name)));
    const bytes = readFileSync(join(copy, file));
    bytes[at] = (bytes[at] as number) ^ 1;
    writeFileSync(join(copy, file), bytes);
    try {
      return verifyEvidenceBundle(copy, { keyHolderKeys: [fixture.keyHolder.fingerprint], signerKeys: [fixture.keyHolder.fingerprint] }).ok;
    } catch (error) {
      expect((error as { code?: string }).code).toBe('FEDVAL_ERR_CLI_EVIDENCE_UNREADABLE');
      return false;
    }
  }

  for (const file of ['report.html', 'report.pdf', 'report.json', 'model-card.json']) {
    it(`fails on any one edited byte of ${file}`, () => {
      const size = readFileSync(join(bundle, file)).length;
      const positions = [0, size - 1, ...Array.from({ length: 24 }, (_, i) => Math.floor(((i + 0.5) * size) / 24))];
      expect(positions.filter((at) => verifyWithEditedByte(file, at))).toEqual([]);
    });
  }

  it('names what failed: an edited released number, a key holder that is not the pinned one, a trail cut short', () => {
    const copy = mkdtempSync(join(root, 'renumbered-'));
    for (const name of readdirSync(bundle)) writeFileSync(join(copy, name), readFileSync(join(bundle, name)));
    const text = readFileSync(join(copy, 'report.json'), 'utf8');
    const auc = `"roc_auc":${metrics.roc_auc}`;
    expect(text).toContain(auc);
    writeFileSync(join(copy, 'report.json'), text.replace(auc, `"roc_auc":${(metrics.roc_auc! + 0.1).toString()}`));
    const edited = verifyEvidenceBundle(copy, { keyHolderKeys: [fixture.keyHolder.fingerprint], signerKeys: [fixture.keyHolder.fingerprint] });
    expect(edited.ok).toBe(false);
    expect(edited.checks.filter((check) => !check.ok).map((check) => check.check)).toEqual(['report.json signature', 'released numbers are the signed ones']);

    const otherKeyHolder = verifyEvidenceBundle(bundle, { keyHolderKeys: ['b'.repeat(64)] });
    expect(otherKeyHolder.checks.find((check) => check.check === "key holder's release signature")?.ok).toBe(false);

    writeFileSync(trail, readFileSync(trail, 'utf8').split('\n').slice(0, 2).join('\n') + '\n');
    const cut = verifyEvidenceBundle(bundle, { trails: [{ party: 'key_holder', path: trail }] });
    expect(cut.checks.find((check) => check.check === 'key_holder audit-trail head')).toMatchObject({ ok: false });
  });
});

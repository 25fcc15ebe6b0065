// The privacy officer's web console in a real Chromium, against a real coordinator process holding a real released round
// (one `fedval simulate` round, shared by every case): each role logs in with its API token, sees only what its role may
// see, opens the round and its report; screenshots go to out/console/ and are checked non-blank; an XSS payload in the
// study name stays text; the pages load nothing from anywhere but the coordinator; a wrong token is refused; logout
// ends the session on the server.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { runSimulation } from '@fedval/cli';
import type { BinaryMetricsReport } from '@fedval/metrics';
import type { SimulationResult } from '@fedval/cli';
import { chromium } from 'playwright-core';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodePng, distinctColours } from '../helpers/png.ts';
import { requirePrerequisite } from '../helpers/prerequisites.ts';
import { DATA_DIR, REPO_ROOT } from '../helpers/run-cli.ts';

const XSS = `<img src=x onerror=alert(1)><script>alert(2)</script>"'&`;
const ROLES = ['sponsor', 'privacy_officer', 'auditor', 'admin', 'site_admin'] as const;
type Role = (typeof ROLES)[number];
const TOKENS = Object.fromEntries(ROLES.map((role) => [role, randomBytes(32).toString('base64url')])) as Record<Role, string>;
const SHOTS = join(REPO_ROOT, 'out/console');
/** The console's Content Security Policy, as the task states it (written here, not imported from the code under test). */
const EXPECTED_CSP = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

let simulated: SimulationResult;
let coordinator: ChildProcess;
let url: string;
let browser: Browser;

beforeAll(async () => {
  const work = mkdtempSync(join(tmpdir(), 'fedval-console-'));
  simulated = await runSimulation({
    sites: ['a', 'b', 'c'].map((name) => ({ name: `site-${name}`, file: join(DATA_DIR, `site-${name}.csv`) })),
    label: { column: 'event5y', positive: '1' },
    scorer: { kind: 'model', dir: join(REPO_ROOT, 'examples/rotterdam/model') },
    groups: ['meno'],
    metricSpec: { task: 'binary', bins: 1000, threshold: 0.5 },
    studyName: XSS,
    workDir: work,
  });
  // The same coordinator data, served again by a coordinator that knows one API token per role.
  const config = join(work, 'console.yaml');
  writeFileSync(
    config,
    stringify({
      listen: { host: '127.0.0.1', port: 0 },
      public_ws_url: 'ws://127.0.0.1:9/ws',
      data_dir: './coordinator-data',
      sites: simulated.study.sites.map((id) => ({ id })),
      api_tokens: ROLES.map((role) => ({ name: `console-${role.replace('_', '-')}`, role, token_sha256: createHash('sha256').update(TOKENS[role]).digest('hex') })),
      limits: { min_release_sites: 1 },
      log_level: 'warn',
    }),
  );
  coordinator = spawn(process.execPath, [join(REPO_ROOT, 'coordinator/src/main.ts'), 'start', '--config', config], { stdio: ['ignore', 'pipe', 'inherit'] });
  url = await new Promise<string>((resolve, reject) => {
    coordinator.once('exit', (code) => reject(new Error(`coordinator exited with ${code}`)));
    createInterface({ input: coordinator.stdout! }).on('line', (line) => {
      const event = JSON.parse(line) as { event?: string; url?: string };
      if (event.event === 'listening' && event.url) resolve(event.url);
    });
  });
  browser = await chromium.launch({ executablePath: requirePrerequisite('chromium'), args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
  mkdirSync(SHOTS, { recursive: true });
}, 300_000);

afterAll(async () => {
  await browser?.close();
  if (coordinator && coordinator.exitCode === null) {
    const exited = new Promise((resolve) => coordinator.once('exit', resolve));
    coordinator.kill('SIGTERM');
    await exited;
  }
});

/** A browser session: every request and dialog it makes is recorded. */
interface Session {
  context: BrowserContext;
  page: Page;
  requests: string[];
  dialogs: string[];
}

async function openSession(): Promise<Session> {
  const context = await browser.newContext({ viewport: { width: 1200, height: 800 } });
  const page = await context.newPage();
  const requests: string[] = [];
  const dialogs: string[] = [];
  page.on('request', (request) => requests.push(request.url()));
  page.on('dialog', (dialog) => {
    dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  return { context, page, requests, dialogs };
}

async function login(role: Role): Promise<Session> {
  const session = await openSession();
  await session.page.goto(`${url}/console/`);
  expect(new URL(session.page.url()).pathname).toBe('/console/login');
  await session.page.fill('#token', TOKENS[role]);
  await Promise.all([session.page.waitForURL(`${url}/console/`), session.page.click('button[type=submit]')]);
  return session;
}

/** Opens a console page; returns its HTTP status. */
async function open(session: Session, path: string): Promise<number> {
  const response = await session.page.goto(`${url}${path}`);
  return response!.status();
}

/** A full-page screenshot in out/console/, checked to be an image with content (not one flat colour). */
async function screenshot(session: Session, name: string): Promise<void> {
  const path = join(SHOTS, `${name}.png`);
  await session.page.screenshot({ path, fullPage: true });
  const png = decodePng(readFileSync(path));
  expect(png.width).toBe(1200);
  expect(png.height).toBeGreaterThanOrEqual(200);
  expect(distinctColours(png)).toBeGreaterThan(20); // text, header and tables; a blank page has 1
}

/** What a session may never have done: load anything from elsewhere, or run a script. */
async function expectContained(session: Session): Promise<void> {
  expect(session.requests.length).toBeGreaterThan(0);
  expect(session.requests.filter((request) => !request.startsWith(`${url}/`))).toEqual([]);
  expect(session.dialogs).toEqual([]);
  await session.context.close();
}

/** The round as the REST API serves it to a role (independent of the console). */
async function restRound(role: Role): Promise<{ result: { privacy: { dp: { sites?: { site_id: string; epsilon_remaining: number | null; epsilon_spent: number | null }[] } } } }> {
  const response = await fetch(`${url}/api/rounds/${simulated.round.round_id}`, { headers: { authorization: `Bearer ${TOKENS[role]}` } });
  expect(response.status).toBe(200);
  return (await response.json()) as never;
}

describe('the console as the sponsor', () => {
  it('shows studies, the round and its report, never a per-site number, and the XSS study name as text', async () => {
    const session = await login('sponsor');
    const { page } = session;
    expect(await page.locator('header').innerText()).not.toMatch(/Privacy budgets|Audit trail/);
    await screenshot(session, 'sponsor-home');

    expect(await open(session, '/console/studies')).toBe(200);
    // The payload is the study's name, shown as text: no element was injected, no script ran.
    expect(await page.locator('section.study h2').first().innerText()).toBe(XSS);
    expect(await page.locator('main img, main script').count()).toBe(0);
    await screenshot(session, 'sponsor-studies');

    await Promise.all([page.waitForURL(`**/console/rounds/${simulated.round.round_id}`), page.click(`a[href="/console/rounds/${simulated.round.round_id}"]`)]);
    const round = await page.innerText('main');
    expect(round).toContain('released');
    for (const site of simulated.study.sites) expect(round).toMatch(new RegExp(`${site}\\s+contributed`));
    expect(await page.locator('.site-privacy').count()).toBe(0);
    expect(round).not.toMatch(/ε left|ε spent|own-share/);
    await screenshot(session, 'sponsor-round');

    await Promise.all([page.waitForURL(`**/console/rounds/${simulated.round.round_id}/report`), page.click('text=Open the validation report')]);
    const report = await page.innerText('body');
    const metrics = simulated.metrics as BinaryMetricsReport;
    expect(report).toContain(`ROC AUC\t${metrics.roc_auc!.toFixed(3)}`);
    expect(report).toContain(`Validation report: ${XSS}`);
    expect(report).not.toContain('epsilon left');
    expect(await page.locator('script, img').count()).toBe(0);
    expect(await page.locator('figure svg').count()).toBeGreaterThanOrEqual(3);
    await screenshot(session, 'sponsor-report');

    // The per-site pages are refused, as their REST routes are.
    expect(await open(session, '/console/privacy')).toBe(403);
    expect(await page.innerText('main')).toContain('FEDVAL_ERR_COORD_FORBIDDEN');
    expect(await open(session, '/console/audit')).toBe(403);
    expect(await open(session, '/console/release-queue')).toBe(200);
    expect(await page.innerText('main')).toContain('No round awaits the key holder');
    await expectContained(session);
  }, 120_000);
});

describe('the console as the privacy officer', () => {
  it('shows each site\'s ε spent and left as released, the release queue, the audit trail verified, and the report', async () => {
    const session = await login('privacy_officer');
    const { page } = session;
    expect(await open(session, `/console/rounds/${simulated.round.round_id}`)).toBe(200);
    const released = (await restRound('privacy_officer')).result.privacy.dp.sites!;
    expect(released.map((site) => site.site_id).sort()).toEqual([...simulated.study.sites].sort());
    const rows = await page.locator('.site-privacy tr').allInnerTexts();
    for (const site of released) {
      const row = rows.find((text) => text.startsWith(`${site.site_id}\t`));
      expect(row?.split('\t')[3]).toBe(site.epsilon_spent!.toFixed(3));
      expect(row?.split('\t')[4]).toBe(site.epsilon_remaining!.toFixed(3));
    }
    await screenshot(session, 'privacy-officer-round');

    expect(await open(session, '/console/privacy')).toBe(200);
    expect(await page.locator('.site-privacy tr').count()).toBe(released.length + 1);
    await screenshot(session, 'privacy-officer-privacy');

    expect(await open(session, '/console/release-queue')).toBe(200);
    await screenshot(session, 'privacy-officer-release-queue');

    expect(await open(session, '/console/audit')).toBe(200);
    expect(await page.innerText('#audit-status')).toMatch(/^Hash chain verified: \d+ entries/);
    expect(await page.innerText('main')).toContain('result.released');
    await screenshot(session, 'privacy-officer-audit');

    expect(await open(session, `/console/rounds/${simulated.round.round_id}/report`)).toBe(200);
    expect(await page.innerText('body')).toContain('epsilon left');
    await screenshot(session, 'privacy-officer-report');
    await expectContained(session);
  }, 120_000);
});

describe('the console as the auditor, the admin and a site administrator', () => {
  it('opens exactly the pages of the REST routes each role may call', async () => {
    // role → page → status; the roles are those of the REST routes each page shows (ARCHITECTURE.md's role table).
    const expected: Record<'auditor' | 'admin' | 'site_admin', Record<string, number>> = {
      auditor: { '/console/studies': 200, '/console/privacy': 200, '/console/audit': 200, [`/console/rounds/${simulated.round.round_id}`]: 200 },
      admin: { '/console/studies': 200, '/console/privacy': 200, '/console/audit': 200, '/console/release-queue': 200 },
      site_admin: { '/console/studies': 403, '/console/privacy': 403, '/console/audit': 403, [`/console/rounds/${simulated.round.round_id}`]: 403, '/console/release-queue': 403 },
    };
    for (const [role, pages] of Object.entries(expected) as [keyof typeof expected, Record<string, number>][]) {
      const session = await login(role);
      for (const [path, status] of Object.entries(pages)) {
        expect({ role, path, status: await open(session, path) }).toEqual({ role, path, status });
        if (status === 200) await screenshot(session, `${role.replace('_', '-')}-${path.split('/')[2]}`);
      }
      await expectContained(session);
    }
  }, 120_000);
});

describe('console sessions', () => {
  it('refuses a wrong token, sets no cookie, and answers with the locked security headers', async () => {
    const session = await openSession();
    await session.page.goto(`${url}/console/login`);
    await session.page.fill('#token', 'not-a-configured-token');
    const [response] = await Promise.all([session.page.waitForResponse(`${url}/console/login`), session.page.click('button[type=submit]')]);
    expect(response.status()).toBe(401);
    expect(await session.page.innerText('main')).toContain('FEDVAL_ERR_COORD_CONSOLE_LOGIN_REFUSED');
    expect(await session.context.cookies()).toEqual([]);
    await screenshot(session, 'login-refused');
    await expectContained(session);

    const headers = (await fetch(`${url}/console/login`)).headers;
    expect(headers.get('content-security-policy')).toBe(EXPECTED_CSP);
    expect(headers.get('x-content-type-options')).toBe('nosniff');
    expect(headers.get('x-frame-options')).toBe('DENY');
    expect(headers.get('cache-control')).toBe('no-store');
    // A login form posted from another origin is refused, and starts no session.
    const forged = await fetch(`${url}/console/login`, {
      method: 'POST',
      headers: { origin: 'http://evil.example', 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: TOKENS.privacy_officer }),
      redirect: 'manual',
    });
    expect(forged.status).toBe(403);
    expect(forged.headers.get('set-cookie')).toBeNull();
    // An Origin that is not a URL, or the console's host under another scheme: refused (403, coded), never a 500.
    const host = new URL(url).host;
    for (const origin of ['http://[', 'not a url', `https://${host}`]) {
      const odd = await fetch(`${url}/console/login`, {
        method: 'POST',
        headers: { origin, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token: TOKENS.privacy_officer }),
        redirect: 'manual',
      });
      expect(odd.status, origin).toBe(403);
      expect(await odd.text(), origin).toContain('FEDVAL_ERR_COORD_CONSOLE_CROSS_ORIGIN');
      expect(odd.headers.get('set-cookie'), origin).toBeNull();
    }
    // The console's own origin logs in.
    const own = await fetch(`${url}/console/login`, {
      method: 'POST',
      headers: { origin: new URL(url).origin, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: TOKENS.privacy_officer }),
      redirect: 'manual',
    });
    expect(own.status).toBe(303);
  });

  it('keeps the session in an HttpOnly SameSite=Strict cookie that the REST API ignores, and ends it on the server at logout', async () => {
    const session = await login('auditor');
    const [cookie] = await session.context.cookies();
    expect(cookie).toMatchObject({ name: 'fedval_console', httpOnly: true, sameSite: 'Strict', path: '/console' });
    const asCookie = { cookie: `${cookie!.name}=${cookie!.value}` };
    expect((await fetch(`${url}/console/audit`, { headers: asCookie, redirect: 'manual' })).status).toBe(200);
    // The cookie identifies nobody outside the console: a cross-site request could not act through it.
    expect((await fetch(`${url}/api/audit`, { headers: asCookie })).status).toBe(401);

    await Promise.all([session.page.waitForURL(`${url}/console/login`), session.page.click('text=Log out')]);
    expect(await session.context.cookies()).toEqual([]);
    await session.page.goto(`${url}/console/audit`);
    expect(new URL(session.page.url()).pathname).toBe('/console/login');
    // The old cookie value is dead on the server too, not only dropped by the browser.
    const replayed = await fetch(`${url}/console/audit`, { headers: asCookie, redirect: 'manual' });
    expect(replayed.status).toBe(303);
    expect(replayed.headers.get('location')).toBe('/console/login');
    await expectContained(session);
  });
});

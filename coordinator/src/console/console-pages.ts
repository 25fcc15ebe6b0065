// console-pages.ts — the web console's pages as server-rendered HTML: layout, login, studies and rounds, release queue, privacy budgets, audit trail.
import type { RoundView, StudyView } from '@fedval/protocol';
import type { AuditEntry, AuditVerification } from '@fedval/trust';
import type { Principal, Role } from '../access-control.ts';
import { html } from './html.ts';
import type { SafeHtml } from './html.ts';

/** Where the console lives. */
export const CONSOLE_PREFIX = '/console';

/** The console's style sheet, served as a file so the CSP can forbid inline styles. */
export const CONSOLE_CSS = `body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d2a33;background:#fff}
header{background:#1d3557;color:#fff;padding:.6em 1.2em;display:flex;gap:1.2em;align-items:center;flex-wrap:wrap}
header a{color:#fff}header .who{margin-left:auto}header form{display:inline;margin:0}
main{max-width:1100px;margin:1.2em auto;padding:0 1.2em}h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em}
table{border-collapse:collapse;margin:.4em 0 1.2em}td,th{border:1px solid #c8d0d8;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#eef2f6}.ok{color:#1b6e20;font-weight:600}.bad{color:#a11;font-weight:600}.muted{color:#5a6670}
td{overflow-wrap:anywhere}table.audit{table-layout:fixed;width:100%}table.audit td:nth-child(1){width:3em}code{font-size:.92em}pre{white-space:pre-wrap;word-break:break-all;margin:0;font-size:.85em}
form.login{display:flex;flex-direction:column;gap:.6em;max-width:28em}input[type=password]{font:inherit;padding:.4em}
button{font:inherit;padding:.3em .9em;cursor:pointer}.error{background:#fde8e8;border:1px solid #e3a0a0;padding:.6em}
`;

/** A page of the console, the roles that may open it, and its title in the navigation. */
export interface ConsolePageLink {
  path: string;
  title: string;
  roles: readonly Role[];
}

/** The console's security headers: nothing runs, nothing loads from elsewhere, nothing frames it, nothing is cached. */
export const CONSOLE_CSP = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
export const CONSOLE_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-security-policy': CONSOLE_CSP,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'same-origin', // not no-referrer: with it, browsers post forms with `Origin: null`
  'cache-control': 'no-store',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=()',
});

/** A whole page: navigation limited to the pages the principal may open, the body, and the logout button. */
export function layout(title: string, principal: Principal | null, nav: readonly ConsolePageLink[], body: SafeHtml): string {
  const links = principal ? nav.filter((link) => link.roles.includes(principal.role)) : [];
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${title} · fedval console</title><link rel="stylesheet" href="${CONSOLE_PREFIX}/console.css"></head>
<body><header><strong>fedval console</strong>${links.map((link) => html`<a href="${link.path}">${link.title}</a>`)}${
    principal
      ? html`<span class="who">${principal.name} (${principal.role})</span><form method="post" action="${CONSOLE_PREFIX}/logout"><button type="submit">Log out</button></form>`
      : ''
  }</header>
<main><h1>${title}</h1>
${body}</main></body></html>
`.markup;
}

export function loginBody(error: string | null): SafeHtml {
  return html`${error ? html`<p class="error" role="alert">${error}</p>` : ''}
<form class="login" method="post" action="${CONSOLE_PREFIX}/login">
<label for="token">API token</label><input id="token" name="token" type="password" autocomplete="off" required maxlength="1024">
<button type="submit">Log in</button></form>
<p class="muted">Log in with the API token the coordinator operator issued to you; the console shows what your role may read through the REST API, nothing more.</p>`;
}

export function homeBody(principal: Principal, nav: readonly ConsolePageLink[]): SafeHtml {
  const links = nav.filter((link) => link.roles.includes(principal.role) && link.path !== `${CONSOLE_PREFIX}/`);
  return html`<p>Logged in as <strong>${principal.name}</strong>, role <code>${principal.role}</code>.</p>
${links.length > 0 ? html`<ul>${links.map((link) => html`<li><a href="${link.path}">${link.title}</a></li>`)}</ul>` : html`<p>Your role has no console page.</p>`}
<p class="muted">The key holder's secret key never touches the console: decryption stays with <code>fedval decrypt</code> on the key holder's machine.</p>`;
}

const roundLink = (round: RoundView) => html`<a href="${CONSOLE_PREFIX}/rounds/${encodeURIComponent(round.round_id)}">${round.round_id}</a>`;

function dpSummary(study: StudyView): string {
  const privacy = study.privacy as { epsilon?: unknown; delta?: unknown; mechanism?: unknown } | null;
  if (privacy === null) return 'none (exact release)';
  return `ε ${String(privacy.epsilon)}, δ ${String(privacy.delta)} per round (${String(privacy.mechanism)})`;
}

export function studiesBody(studies: readonly { study: StudyView; rounds: readonly RoundView[] }[]): SafeHtml {
  if (studies.length === 0) return html`<p>No study yet.</p>`;
  return html`${studies.map(
    ({ study, rounds }) => html`<section class="study"><h2>${study.name}</h2>
<table><tr><th>study id</th><td><code>${study.study_id}</code></td></tr>
<tr><th>model</th><td>${study.model_id ?? html`score column <code>${study.score_column ?? ''}</code>`}</td></tr>
<tr><th>sites</th><td>${study.sites.join(', ')}</td></tr>
<tr><th>release policy</th><td>at least ${study.release.min_sites} contributing sites; quorum ${study.quorum}</td></tr>
<tr><th>contributions</th><td>${study.contribution}${study.secure_aggregation ? `, secure aggregation (threshold ${study.secure_aggregation.threshold})` : ''}</td></tr>
<tr><th>differential privacy</th><td>${dpSummary(study)}</td></tr></table>
${rounds.length === 0 ? html`<p>No round yet.</p>` : html`<table><tr><th>round</th><th>state</th><th>release</th><th>contributions</th><th>created</th><th>closed</th></tr>${rounds.map(
      (round) => html`<tr><td>${roundLink(round)}</td><td>${round.state}${round.reason ? html` <code>${round.reason}</code>` : ''}</td><td>${round.release}</td><td>${round.contributions} of ${round.sites.length}</td><td>${round.created_at}</td><td>${round.closed_at ?? ''}</td></tr>`,
    )}</table>`}</section>`,
  )}`;
}

/** Sites grouped by what they did in the round (ROUND_SITE_STATUSES of @fedval/protocol); every other status is still pending. */
const SITE_GROUPS: Record<string, 'contributed' | 'refused' | 'pending'> = {
  contributed: 'contributed',
  refused: 'refused',
  invalid: 'refused',
};

export function roundBody(round: RoundView, study: StudyView | undefined, perSitePrivacy: boolean): SafeHtml {
  const released = round.result;
  const dp = (released?.privacy as { dp?: { epsilon?: number; delta?: number; sites?: SitePrivacyRow[] } | null } | undefined)?.dp ?? null;
  const metrics = released?.metrics as { task?: string; n?: number; roc_auc?: number | null; roc_auc_ci95?: [number, number] | null } | undefined;
  return html`<table><tr><th>study</th><td>${study?.name ?? round.study_id}</td></tr>
<tr><th>state</th><td>${round.state}${round.reason ? html` <code>${round.reason}</code>` : ''}</td></tr>
<tr><th>release</th><td>${round.release}</td></tr>
<tr><th>created</th><td>${round.created_at}</td></tr><tr><th>deadline</th><td>${round.deadline_at}</td></tr><tr><th>closed</th><td>${round.closed_at ?? ''}</td></tr></table>
<h2>Sites</h2>
<table><tr><th>site</th><th>status</th><th>group</th><th>coded reason</th></tr>${round.sites.map(
    (site) => html`<tr><td>${site.site_id}</td><td>${site.status}</td><td>${SITE_GROUPS[site.status] ?? 'pending'}</td><td>${site.code ? html`<code>${site.code}</code>` : ''}</td></tr>`,
  )}</table>
${released
    ? html`<h2>Released result</h2>
<table><tr><th>contributing sites</th><td>${released.contributions}</td></tr>
${metrics?.roc_auc !== undefined && metrics.roc_auc !== null ? html`<tr><th>ROC AUC</th><td>${metrics.roc_auc.toFixed(3)}${metrics.roc_auc_ci95 ? ` (95% CI ${metrics.roc_auc_ci95[0].toFixed(3)} to ${metrics.roc_auc_ci95[1].toFixed(3)})` : ''}</td></tr>` : ''}
${dp ? html`<tr><th>differential privacy</th><td>ε ${num(dp.epsilon)}, δ ${dp.delta} this round</td></tr>` : ''}</table>
${perSitePrivacy && dp?.sites ? sitePrivacyTable(dp.sites) : ''}
<p><a href="${CONSOLE_PREFIX}/rounds/${encodeURIComponent(round.round_id)}/report">Open the validation report</a></p>`
    : ''}`;
}

/** One site's own report of its privacy budget, as the key holder released it. */
export interface SitePrivacyRow {
  site_id: string;
  epsilon?: number | null;
  own_share_epsilon?: number | null;
  epsilon_spent: number | null;
  epsilon_remaining: number | null;
  epsilon_total: number | null;
}

const num = (value: number | null | undefined): string => (typeof value === 'number' && Number.isFinite(value) ? value.toFixed(3) : '-');

function sitePrivacyTable(sites: readonly SitePrivacyRow[]): SafeHtml {
  return html`<h2>Privacy budget per site</h2><table class="site-privacy"><tr><th>site</th><th>ε this round</th><th>own-share ε this round</th><th>ε spent (total)</th><th>ε left</th><th>budget</th></tr>${sites.map(
    (site) => html`<tr><td>${site.site_id}</td><td>${num(site.epsilon)}</td><td>${num(site.own_share_epsilon)}</td><td>${num(site.epsilon_spent)}</td><td>${num(site.epsilon_remaining)}</td><td>${num(site.epsilon_total)}</td></tr>`,
  )}</table>`;
}

/** A round awaiting the key holder, and the release checks it will face. */
export interface QueuedRound {
  round: RoundView;
  study: StudyView;
}

export function releaseQueueBody(queue: readonly QueuedRound[]): SafeHtml {
  if (queue.length === 0) return html`<p>No round awaits the key holder.</p>`;
  return html`<p>Rounds aggregated and awaiting the key holder. The key holder runs <code>fedval decrypt</code> on its own machine; it verifies everything below itself and never trusts the coordinator's counts.</p>
${queue.map(({ round, study }) => {
    const minSites = study.release.min_sites;
    const enough = round.contributions >= minSites;
    return html`<section class="queued"><h2>${study.name}: round ${roundLink(round)}</h2>
<table><tr><th>release check</th><th>as the coordinator counts</th></tr>
<tr><td>at least ${minSites} contributing sites (the study's release policy; the key holder's own floor applies too)</td><td class="${enough ? 'ok' : 'bad'}">${round.contributions} contributed: ${enough ? 'met' : 'not met'}</td></tr>
<tr><td>every contribution signed by a site key in the key holder's pinned roster, one per site, for this round</td><td>checked by <code>fedval decrypt</code></td></tr>
<tr><td>the key holder adds the verified ciphertexts itself and decrypts only that sum</td><td>checked by <code>fedval decrypt</code></td></tr>
${study.secure_aggregation ? html`<tr><td>secure aggregation: the pairwise masks cancel; at least ${study.secure_aggregation.threshold} sites (threshold) shared their secrets</td><td>checked by <code>fedval decrypt</code></td></tr>` : ''}
<tr><td>differential privacy: ${dpSummary(study)}</td><td>${study.privacy ? 'noise added at each site before encryption' : 'exact release'}</td></tr>
<tr><td>the key holder signs the release ("approved for release", its name and time)</td><td>at release</td></tr></table></section>`;
  })}`;
}

/** The latest report of each site's budget across released rounds, with the round it came from. */
export function privacyBody(rows: readonly { study: StudyView; round: RoundView; sites: readonly SitePrivacyRow[] }[]): SafeHtml {
  if (rows.length === 0) return html`<p>No released round with differential privacy yet.</p>`;
  return html`<p>Each site's own signed report of the privacy budget it spent (ε spent and left), as the key holder released it with each round. Sites enforce their budgets themselves; this page only shows what they reported.</p>
${rows.map(({ study, round, sites }) => html`<section><h2>${study.name}: round ${roundLink(round)} (closed ${round.closed_at ?? ''})</h2>${sitePrivacyTable(sites)}</section>`)}`;
}

export function auditBody(verification: AuditVerification, entries: readonly AuditEntry[], shown: number): SafeHtml {
  const status = verification.ok
    ? html`<p class="ok" id="audit-status">Hash chain verified: ${verification.entries} entries, head hash <code>${verification.head}</code>.</p>`
    : html`<p class="bad" id="audit-status">Hash chain BROKEN at line ${verification.line}${verification.seq !== undefined ? ` (seq ${verification.seq})` : ''}: <code>${verification.reason}</code>; the entries before it are intact.</p>`;
  return html`${status}<h2>The newest ${shown} entries</h2>
<table class="audit"><tr><th>seq</th><th>time</th><th>actor</th><th>action</th><th>object</th><th>reason</th><th>details</th></tr>${entries.map(
    (entry) => html`<tr><td>${entry.seq}</td><td>${entry.ts}</td><td>${entry.actor}</td><td>${entry.action}</td><td>${entry.object}</td><td>${entry.reason ?? ''}</td><td><pre>${JSON.stringify(entry.details)}</pre></td></tr>`,
  )}</table>`;
}

export function errorBody(code: string, message: string): SafeHtml {
  return html`<p class="error" role="alert"><code>${code}</code>: ${message}</p><p><a href="${CONSOLE_PREFIX}/">Back to the console</a></p>`;
}

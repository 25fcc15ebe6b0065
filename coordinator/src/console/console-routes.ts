// console-routes.ts — the web console at /console/: login with an API token into a server-side session, and read-only pages scoped by the REST API's own roles.
import { readAuditLog, verifyAuditLog } from '@fedval/trust';
import type { AuditLog } from '@fedval/trust';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { plainText } from '@fedval/schema';
import { z } from 'zod';
import { actorOf, identifyBearer, mayCall, PUBLIC_ROUTE, ROLES } from '../access-control.ts';
import type { ApiToken, Principal, Role } from '../access-control.ts';
import type { AuditRecorder } from '../coordinator-audit.ts';
import { CoordinatorError } from '../errors.ts';
import type { RoundRunner } from '../rounds.ts';
import { AUDIT_READERS } from '../routes/audit.ts';
import { modelView } from '../routes/models.ts';
import { PER_SITE_PRIVACY_READERS, ROUND_READERS, roundView } from '../routes/rounds.ts';
import { STUDY_READERS, studyView } from '../routes/studies.ts';
import type { CoordinatorStore } from '../storage/store.ts';
import { CONSOLE_COOKIE, cookieValue } from './console-sessions.ts';
import type { ConsoleSessions } from './console-sessions.ts';
import {
  auditBody, CONSOLE_CSS, CONSOLE_HEADERS, CONSOLE_PREFIX, errorBody, homeBody, layout, loginBody, privacyBody, releaseQueueBody, roundBody, studiesBody,
} from './console-pages.ts';
import type { ConsolePageLink, QueuedRound, SitePrivacyRow } from './console-pages.ts';
import { renderRoundReport, reportCsp, warmReportCode } from './console-report.ts';

export interface ConsoleRoutesOptions {
  tokens: readonly ApiToken[];
  sessions: ConsoleSessions;
  /** Session lifetime in seconds: the cookie's Max-Age. */
  sessionTtlSeconds: number;
  /** Whether the coordinator serves TLS: the cookie is then Secure. */
  tls: boolean;
  store: CoordinatorStore;
  rounds: RoundRunner;
  audit: AuditRecorder;
  log: AuditLog;
}

/** Roles that may log into the console: people, not the Prometheus scraper's `metrics` token. */
const CONSOLE_ROLES: readonly Role[] = ROLES.filter((role) => role !== 'metrics');

/** The navigation: each page with the roles of the REST routes it shows (their constants, not copies). */
export const CONSOLE_PAGES: readonly ConsolePageLink[] = Object.freeze([
  { path: `${CONSOLE_PREFIX}/`, title: 'Home', roles: CONSOLE_ROLES },
  { path: `${CONSOLE_PREFIX}/studies`, title: 'Studies and rounds', roles: STUDY_READERS },
  { path: `${CONSOLE_PREFIX}/release-queue`, title: 'Release queue', roles: ROUND_READERS },
  { path: `${CONSOLE_PREFIX}/privacy`, title: 'Privacy budgets', roles: PER_SITE_PRIVACY_READERS },
  { path: `${CONSOLE_PREFIX}/audit`, title: 'Audit trail', roles: AUDIT_READERS },
]);

/** Newest audit entries the audit page shows. */
const AUDIT_PAGE_ENTRIES = 200;
/** Largest login form body in bytes (a token is at most 1024 characters). */
const LOGIN_BODY_LIMIT = 4096; // 4 KiB

const loginFormSchema = z.strictObject({ token: z.string().min(1).max(1024) });
const roundParams = z.strictObject({ id: plainText(z.string().min(1).max(128)) });

/** The session id the request's cookie carries, if any. */
/** Whether an Origin header names the console's own origin: scheme and host (with port), compared as URLs (RFC 6454 §4). */
export function sameOrigin(origin: string, protocol: string, host: string | undefined): boolean {
  if (host === undefined) return false;
  try {
    const claimed = new URL(origin);
    const own = new URL(`${protocol}//${host}`);
    return claimed.protocol === own.protocol && claimed.host === own.host;
  } catch {
    return false; // not a URL: refused
  }
}

export function sessionCookie(request: FastifyRequest): string | undefined {
  return cookieValue(request.headers.cookie, CONSOLE_COOKIE);
}

/**
 * Fastify plugin (encapsulated: its form parser, error handler and headers apply to its routes only). Every page declares
 * the roles of the REST route whose data it shows; access control (access-control.ts) enforces them, identifying the
 * caller by the session cookie on these routes only. Login and logout are POST forms; the cookie is SameSite=Strict and
 * a form from another origin is refused, so another site cannot log a user in or out or act in their name.
 */
export async function consoleRoutes(app: FastifyInstance, options: ConsoleRoutesOptions): Promise<void> {
  const { tokens, sessions, store, rounds, audit, log } = options;
  if (!tokens || !sessions || !store || !rounds || !audit || !log) throw new CoordinatorError('FEDVAL_ERR_COORD_INTERNAL', 'consoleRoutes needs tokens, sessions, store, rounds, audit and log');
  const cookieAttributes = `Path=${CONSOLE_PREFIX}; HttpOnly; SameSite=Strict${options.tls ? '; Secure' : ''}`;

  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: LOGIN_BODY_LIMIT }, (_request, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });
  app.addHook('onSend', async (request, reply, payload) => {
    for (const [name, value] of Object.entries(CONSOLE_HEADERS)) if (!reply.hasHeader(name)) reply.header(name, value);
    return payload;
  });
  // A form posted from another origin is refused (Origin, RFC 6454 §7; browsers send it with every POST): same scheme
  // and host (with port) as the console's own, and an Origin that is not a URL is refused too, never a server error.
  app.addHook('preHandler', async (request) => {
    if (request.method !== 'POST') return;
    const origin = request.headers.origin;
    if (origin === undefined) return;
    if (origin === 'null') throw new CoordinatorError('FEDVAL_ERR_COORD_CONSOLE_CROSS_ORIGIN', 'opaque origin');
    if (!sameOrigin(origin, `${request.protocol}:`, request.headers.host)) throw new CoordinatorError('FEDVAL_ERR_COORD_CONSOLE_CROSS_ORIGIN', origin.slice(0, 200));
  });
  app.setErrorHandler(async (error: FastifyError, request, reply) => {
    if (error instanceof CoordinatorError && error.code === 'FEDVAL_ERR_COORD_UNAUTHENTICATED') return reply.code(303).header('location', `${CONSOLE_PREFIX}/login`).send();
    const coded = error instanceof CoordinatorError ? error : new CoordinatorError(error.statusCode === 413 ? 'FEDVAL_ERR_COORD_BODY_TOO_LARGE' : 'FEDVAL_ERR_COORD_INTERNAL');
    if (coded.statusCode >= 500) request.log.error({ code: coded.code, err: error }, 'console page failed');
    return page(reply.code(coded.statusCode), 'Error', request.principal, errorBody(coded.code, coded.message));
  });

  function page(reply: FastifyReply, title: string, principal: Principal | null, body: ReturnType<typeof homeBody>): FastifyReply {
    return reply.type('text/html; charset=utf-8').send(layout(title, principal, CONSOLE_PAGES, body));
  }

  app.get(`${CONSOLE_PREFIX}/console.css`, { config: { roles: PUBLIC_ROUTE }, schema: { hide: true } }, async (_request, reply) => reply.type('text/css; charset=utf-8').send(CONSOLE_CSS));

  app.get(`${CONSOLE_PREFIX}/login`, { config: { roles: PUBLIC_ROUTE }, schema: { hide: true } }, async (request, reply) => page(reply, 'Log in', null, loginBody(null)));

  app.post(`${CONSOLE_PREFIX}/login`, { config: { roles: PUBLIC_ROUTE }, schema: { hide: true } }, async (request, reply) => {
    const form = loginFormSchema.safeParse(request.body);
    const identified = form.success ? identifyBearer(`Bearer ${form.data.token}`, tokens) : null;
    const principal = identified && CONSOLE_ROLES.includes(identified.role) ? identified : null;
    if (!principal) {
      const error = new CoordinatorError('FEDVAL_ERR_COORD_CONSOLE_LOGIN_REFUSED');
      audit({ actor: 'anonymous', action: 'console.login_refused', object: 'console', reason: error.code, details: { ip: request.ip } });
      return page(reply.code(error.statusCode), 'Log in', null, loginBody(`${error.code}: ${error.message}`));
    }
    sessions.end(sessionCookie(request)); // a new login never keeps an old session id (session fixation)
    const id = sessions.create(principal);
    if (id === null) {
      const error = new CoordinatorError('FEDVAL_ERR_COORD_CONSOLE_SESSIONS_FULL');
      audit({ actor: `role:${principal.role}:${principal.name}`, action: 'console.login_refused', object: 'console', reason: error.code, details: { ip: request.ip } });
      return page(reply.code(error.statusCode), 'Log in', null, loginBody(`${error.code}: ${error.message}`));
    }
    audit({ actor: `role:${principal.role}:${principal.name}`, action: 'console.login', object: 'console', details: { ip: request.ip } });
    warmReportCode();
    return reply.code(303).header('set-cookie', `${CONSOLE_COOKIE}=${id}; Max-Age=${options.sessionTtlSeconds}; ${cookieAttributes}`).header('location', `${CONSOLE_PREFIX}/`).send();
  });

  app.post(`${CONSOLE_PREFIX}/logout`, { config: { roles: CONSOLE_ROLES }, schema: { hide: true } }, async (request, reply) => {
    sessions.end(sessionCookie(request));
    audit({ actor: actorOf(request), action: 'console.logout', object: 'console', details: {} });
    return reply.code(303).header('set-cookie', `${CONSOLE_COOKIE}=; Max-Age=0; ${cookieAttributes}`).header('location', `${CONSOLE_PREFIX}/login`).send();
  });

  app.get(`${CONSOLE_PREFIX}/`, { config: { roles: CONSOLE_ROLES }, schema: { hide: true } }, async (request, reply) => page(reply, 'Console', request.principal, homeBody(request.principal!, CONSOLE_PAGES)));

  app.get(`${CONSOLE_PREFIX}/studies`, { config: { roles: STUDY_READERS }, schema: { hide: true } }, async (request, reply) => {
    await rounds.flush();
    const studies = await Promise.all((await store.listStudies()).map(async (study) => ({ study: studyView(study), rounds: (await store.listRounds(study.id)).map((round) => roundView(round, request.principal)) })));
    return page(reply, 'Studies and rounds', request.principal, studiesBody(studies));
  });

  /** The round as the REST API serves it to the caller, and its study. */
  async function readRound(request: FastifyRequest) {
    const params = roundParams.safeParse(request.params);
    if (!params.success) throw new CoordinatorError('FEDVAL_ERR_COORD_ROUND_NOT_FOUND');
    const { id } = params.data;
    await rounds.flush();
    const record = await store.getRound(id);
    if (!record) throw new CoordinatorError('FEDVAL_ERR_COORD_ROUND_NOT_FOUND', id);
    const study = await store.getStudy(record.studyId);
    return { round: roundView(record, request.principal), study: study && studyView(study), modelId: study?.modelId ?? null };
  }

  app.get(`${CONSOLE_PREFIX}/rounds/:id`, { config: { roles: ROUND_READERS }, schema: { hide: true } }, async (request, reply) => {
    const { round, study } = await readRound(request);
    return page(reply, `Round ${round.round_id}`, request.principal, roundBody(round, study, mayCall(request.principal, PER_SITE_PRIVACY_READERS)));
  });

  app.get(`${CONSOLE_PREFIX}/rounds/:id/report`, { config: { roles: ROUND_READERS }, schema: { hide: true } }, async (request, reply) => {
    const { round, study, modelId } = await readRound(request);
    if (!study) throw new CoordinatorError('FEDVAL_ERR_COORD_STUDY_NOT_FOUND', round.study_id);
    const model = modelId === null ? null : await store.getModel(modelId);
    const role = ROUND_READERS.find((reader) => reader === request.principal?.role);
    if (role === undefined) throw new CoordinatorError('FEDVAL_ERR_COORD_INTERNAL', 'the report route admits round readers only');
    const report = await renderRoundReport(round, study, model ? modelView(model) : null, new Date(), role);
    return reply.type('text/html; charset=utf-8').header('content-security-policy', await reportCsp()).send(report);
  });

  app.get(`${CONSOLE_PREFIX}/release-queue`, { config: { roles: ROUND_READERS }, schema: { hide: true } }, async (request, reply) => {
    await rounds.flush();
    const queue: QueuedRound[] = [];
    for (const study of await store.listStudies()) {
      for (const round of await store.listRounds(study.id)) {
        const view = roundView(round, request.principal);
        if (view.release === 'awaiting_key_holder') queue.push({ round: view, study: studyView(study) });
      }
    }
    return page(reply, 'Release queue', request.principal, releaseQueueBody(queue));
  });

  app.get(`${CONSOLE_PREFIX}/privacy`, { config: { roles: PER_SITE_PRIVACY_READERS }, schema: { hide: true } }, async (request, reply) => {
    await rounds.flush();
    const rows: { study: ReturnType<typeof studyView>; round: ReturnType<typeof roundView>; sites: SitePrivacyRow[] }[] = [];
    for (const study of await store.listStudies()) {
      for (const round of await store.listRounds(study.id)) {
        const view = roundView(round, request.principal);
        const sites = (view.result?.privacy as { dp?: { sites?: SitePrivacyRow[] } | null } | undefined)?.dp?.sites;
        if (sites && sites.length > 0) rows.push({ study: studyView(study), round: view, sites });
      }
    }
    rows.reverse(); // newest released round first: its reports are each site's latest
    return page(reply, 'Privacy budgets', request.principal, privacyBody(rows));
  });

  app.get(`${CONSOLE_PREFIX}/audit`, { config: { roles: AUDIT_READERS }, schema: { hide: true } }, async (request, reply) => {
    const verification = verifyAuditLog(log.path);
    const from = log.head.seq - AUDIT_PAGE_ENTRIES;
    const { entries } = readAuditLog(log.path, { select: (entry) => entry.seq > from });
    return page(reply, 'Audit trail', request.principal, auditBody(verification, [...entries].reverse(), entries.length));
  });
}

// access-control.ts — who may call which REST route: bearer tokens bound to roles, matched in constant time, enforced per route.
import { tokensEqual } from '@fedval/trust';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AuditRecorder } from './coordinator-audit.ts';
import { CoordinatorError } from './errors.ts';

/**
 * Roles of ARCHITECTURE.md that call the REST API. `admin` is the coordinator operator: it runs the server, enrolls
 * sites and reads; like every role it calls only the routes that name it — never the key holder's (registering a study
 * key, reading an encrypted aggregate, releasing a result) nor the sponsor's. `metrics` is a Prometheus scraper: it
 * reads `GET /metrics` only, and cannot log into the web console.
 */
export const ROLES = ['admin', 'sponsor', 'privacy_officer', 'site_admin', 'auditor', 'metrics'] as const;
export type Role = (typeof ROLES)[number];

/** Declares a route every client may call: the health check, and the site socket (which authenticates sites itself). */
export const PUBLIC_ROUTE = 'public';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Roles allowed to call the route, or PUBLIC_ROUTE. Every route must declare it. */
    roles?: readonly Role[] | typeof PUBLIC_ROUTE;
  }
  interface FastifyRequest {
    /** The caller named by a known bearer token, or null. */
    principal: Principal | null;
  }
}

/** The holder of a configured API token. */
export interface Principal {
  readonly name: string;
  readonly role: Role;
}

export interface ApiToken {
  readonly name: string;
  readonly role: Role;
  readonly token_sha256: string;
}

export interface AccessControlOptions {
  tokens: readonly ApiToken[];
  audit: AuditRecorder;
  /**
   * Routes under this prefix are public: the browsable API documentation, whose routes a third-party plugin registers
   * without `config.roles`. Default: none.
   */
  publicPrefix?: string;
  /**
   * A second way to be identified, on routes under `prefix` only: the web console's session cookie. Outside the prefix
   * (the REST API) a cookie identifies nobody, so a cross-site request can never act through it. Default: none.
   */
  session?: { prefix: string; identify(request: FastifyRequest): Principal | null };
}

const BEARER = /^Bearer ([\x21-\x7e]{1,1024})$/i; // the scheme is case-insensitive (RFC 7235 §2.1)

/** The token whose SHA-256 matches the presented bearer token; every configured token is compared, so timing does not reveal which matched. */
export function identifyBearer(authorization: string | undefined, tokens: readonly ApiToken[]): Principal | null {
  const presented = BEARER.exec(authorization ?? '')?.[1];
  if (presented === undefined) return null;
  let found: ApiToken | null = null;
  for (const token of tokens) {
    if (tokensEqual(presented, token.token_sha256) && found === null) found = token;
  }
  return found && { name: found.name, role: found.role };
}

/** The audit actor of a REST caller: `role:<role>:<token name>`. */
export function actorOf(request: FastifyRequest): string {
  const principal = request.principal;
  return principal ? `role:${principal.role}:${principal.name}` : 'anonymous';
}

/** Whether a principal may call a route that declares `roles`. */
export function mayCall(principal: Principal | null, roles: readonly Role[] | typeof PUBLIC_ROUTE | undefined): boolean {
  if (roles === PUBLIC_ROUTE) return true;
  if (!principal || !Array.isArray(roles)) return false;
  return roles.includes(principal.role);
}

/**
 * Fastify plugin (not encapsulated: it guards every route registered after it). Refuses to register a route that
 * declares no roles; identifies the caller in onRequest (so rate limits can key on it); enforces the route's roles in
 * preParsing, before any body is read: no known token → 401, a role the route does not allow → 403, both audited.
 */
export async function accessControl(app: FastifyInstance, options: AccessControlOptions): Promise<void> {
  if (!options.tokens || !options.audit) throw new CoordinatorError('FEDVAL_ERR_COORD_INTERNAL', 'accessControl needs the tokens and audit options');
  const { tokens, audit, publicPrefix, session } = options;
  if (tokens.length === 0) app.log.warn('no api_tokens configured: every REST route except /healthz answers 401');

  app.decorateRequest('principal', null);
  app.addHook('onRoute', (route) => {
    if (publicPrefix !== undefined && (route.url === publicPrefix || route.url.startsWith(`${publicPrefix}/`))) {
      route.config = { ...route.config, roles: PUBLIC_ROUTE };
      return;
    }
    const roles = route.config?.roles;
    if (roles === PUBLIC_ROUTE) return;
    if (!Array.isArray(roles) || roles.length === 0 || roles.some((role) => !(ROLES as readonly string[]).includes(role))) {
      throw new CoordinatorError('FEDVAL_ERR_COORD_INTERNAL', `route ${String(route.method)} ${route.url} must declare config.roles (roles or 'public')`);
    }
  });
  app.addHook('onRequest', async (request) => {
    request.principal = identifyBearer(request.headers.authorization, tokens);
    if (request.principal === null && session !== undefined && (request.url === session.prefix || request.url.startsWith(`${session.prefix}/`))) {
      request.principal = session.identify(request);
    }
  });
  app.addHook('preParsing', async (request) => {
    if (request.is404) return;
    const roles = request.routeOptions.config.roles;
    if (mayCall(request.principal, roles)) return;
    const error = new CoordinatorError(request.principal ? 'FEDVAL_ERR_COORD_FORBIDDEN' : 'FEDVAL_ERR_COORD_UNAUTHENTICATED');
    const route = `${request.method} ${request.routeOptions.url ?? ''}`;
    audit({
      actor: actorOf(request),
      action: 'api.denied',
      object: `route:${route}`,
      reason: error.code,
      details: { status: error.statusCode, ip: request.ip },
    });
    throw error;
  });
}
// Not encapsulated, as fastify-plugin would mark it: its hooks apply to the routes of sibling plugins.
Object.assign(accessControl, { [Symbol.for('skip-override')]: true, [Symbol.for('fastify.display-name')]: 'fedval-access-control' });

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRelease, finalizeRelease, seededRandomSource } from '@fedval/dp';
import { addStatistics, createAccumulator, createStatisticsLayout } from '@fedval/metrics';
import { hashToken } from '@fedval/trust';
import Fastify from 'fastify';
import WebSocket from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { accessControl, identifyBearer, ROLES } from './access-control.ts';
import type { Role } from './access-control.ts';
import { CoordinatorError } from './errors.ts';
import { roundView } from './routes/rounds.ts';
import type { RoundRecord } from './storage/store.ts';
import { API_TOKENS, startTestCoordinator } from './test-support/protocol-site.ts';
import type { RunningCoordinator } from './test-support/protocol-site.ts';

let running: RunningCoordinator | undefined;
afterEach(async () => {
  await running?.stop();
  running = undefined;
});

/**
 * Who may call what, written from the roles table of ARCHITECTURE.md (admin, the operator, reads and enrolls sites). A route the
 * coordinator registers that is missing here fails the walk, so no route can be added without deciding its roles.
 */
const ACCESS: Record<string, readonly Role[] | 'public'> = {
  'POST /api/models': ['sponsor'],
  'GET /api/models': ['sponsor', 'privacy_officer', 'auditor', 'admin'],
  'GET /api/models/:id': ['sponsor', 'privacy_officer', 'auditor', 'admin'],
  'POST /api/studies': ['sponsor'],
  'GET /api/studies': ['sponsor', 'privacy_officer', 'auditor', 'admin'],
  'GET /api/studies/:id/rounds': ['sponsor', 'privacy_officer', 'auditor', 'admin'],
  'GET /api/studies/:id': ['sponsor', 'privacy_officer', 'auditor', 'admin'],
  'GET /api/studies/:id/encryption': ['sponsor', 'privacy_officer', 'auditor', 'admin'],
  'PUT /api/studies/:id/public-key': ['privacy_officer'],
  'PUT /api/studies/:id/key-statement': ['privacy_officer'],
  'POST /api/studies/:id/rounds': ['sponsor'],
  'GET /api/rounds/:id': ['sponsor', 'privacy_officer', 'auditor', 'admin'],
  'GET /api/rounds/:id/aggregate': ['privacy_officer'],
  'GET /api/rounds/:id/contributions': ['privacy_officer'],
  'POST /api/rounds/:id/release': ['privacy_officer'],
  'GET /api/sites': ['sponsor', 'site_admin', 'auditor', 'admin'],
  'POST /api/sites/:id/enrollment-token': ['admin'],
  'POST /api/enroll': 'public',
  'GET /api/audit': ['privacy_officer', 'auditor', 'admin'],
  'GET /api/audit/verify': ['privacy_officer', 'auditor', 'admin'],
  'GET /healthz': 'public',
  // The Prometheus scrape: the scraper's own role, and the operator.
  'GET /metrics': ['metrics', 'admin'],
  'GET /ws': 'public',
  // The API's documentation: the OpenAPI document and the browsable page with its assets.
  'GET /api/openapi.json': 'public',
  'GET /docs': 'public',
  'GET /docs/': 'public',
  'GET /docs/json': 'public',
  'GET /docs/yaml': 'public',
  'GET /docs/static/*': 'public',
  'GET /docs/static/index.html': 'public',
  'GET /docs/static/swagger-initializer.js': 'public',
  // The web console: each page with the roles of the REST routes whose data it shows; a sponsor never sees per-site privacy.
  'GET /console/console.css': 'public',
  'GET /console/login': 'public',
  'POST /console/login': 'public',
  'POST /console/logout': ['admin', 'sponsor', 'privacy_officer', 'site_admin', 'auditor'],
  'GET /console/': ['admin', 'sponsor', 'privacy_officer', 'site_admin', 'auditor'],
  'GET /console/studies': ['sponsor', 'privacy_officer', 'auditor', 'admin'],
  'GET /console/rounds/:id': ['sponsor', 'privacy_officer', 'auditor', 'admin'],
  'GET /console/rounds/:id/report': ['sponsor', 'privacy_officer', 'auditor', 'admin'],
  'GET /console/release-queue': ['sponsor', 'privacy_officer', 'auditor', 'admin'],
  'GET /console/privacy': ['privacy_officer', 'auditor', 'admin'],
  'GET /console/audit': ['privacy_officer', 'auditor', 'admin'],
};

const MODEL_ID = 'ab'.repeat(32);
const UUID = '00000000-0000-4000-8000-000000000000';

function concretePath(url: string): string {
  return url.replace(':id', url.startsWith('/api/models') ? MODEL_ID : UUID);
}

async function call(server: RunningCoordinator, method: string, url: string, role: Role | null): Promise<{ status: number; body: any; location: string | null }> {
  const headers: Record<string, string> = role ? { authorization: `Bearer ${API_TOKENS[role]}` } : {};
  const hasBody = method === 'POST' || method === 'PUT';
  if (hasBody) headers['content-type'] = 'application/json';
  const response = await fetch(`${server.url}${concretePath(url)}`, { method, headers, redirect: 'manual', ...(hasBody ? { body: '{}' } : {}) });
  const text = await response.text();
  const json = method !== 'HEAD' && /^application\/json/.test(response.headers.get('content-type') ?? '');
  return { status: response.status, body: text && json ? JSON.parse(text) : text, location: response.headers.get('location') };
}

describe('access control', () => {
  it('walks every registered route with every role and no token: 401, 403 or allowed, as the table says', async () => {
    const routes: { method: string; url: string }[] = [];
    running = await startTestCoordinator({}, undefined, (app) =>
      app.addHook('onRoute', (route) => {
        for (const method of [route.method].flat()) routes.push({ method, url: route.url });
      }),
    );
    const server = running;
    // GET routes get an automatic HEAD twin, checked like their GET.
    const walked = routes.map((route) => ({ ...route, key: `${route.method === 'HEAD' ? 'GET' : route.method} ${route.url}` }));
    expect(new Set(walked.map((route) => route.key))).toEqual(new Set(Object.keys(ACCESS)));

    for (const route of walked) {
      const allowed = ACCESS[route.key] as readonly Role[] | 'public';
      for (const role of [null, ...ROLES]) {
        const { status, body, location } = await call(server, route.method, route.url, role);
        const label = `${route.method} ${route.url} as ${role ?? 'no token'}`;
        if (route.url.startsWith('/console/')) {
          // Console pages answer in HTML: no session or token → the login page; a role the page does not allow → 403.
          if (allowed !== 'public' && role === null) expect({ status, location }, label).toEqual({ status: 303, location: '/console/login' });
          else if (allowed !== 'public' && !allowed.includes(role as Role)) {
            expect(status, label).toBe(403);
            if (route.method !== 'HEAD') expect(body, label).toContain('FEDVAL_ERR_COORD_FORBIDDEN');
          } else {
            // Allowed: neither refused nor sent to the login page (logout answers 303 to it by design).
            expect(status, label).not.toBe(403);
            if (route.url !== '/console/logout') expect(status, label).not.toBe(303);
          }
        } else if (allowed !== 'public' && role === null) {
          expect(status, label).toBe(401);
          if (route.method !== 'HEAD') expect(body.error.code, label).toBe('FEDVAL_ERR_COORD_UNAUTHENTICATED');
        } else if (allowed !== 'public' && !allowed.includes(role as Role)) {
          expect(status, label).toBe(403);
          if (route.method !== 'HEAD') expect(body.error.code, label).toBe('FEDVAL_ERR_COORD_FORBIDDEN');
        } else {
          expect([401, 403], label).not.toContain(status);
        }
      }
    }

    // Each refusal is in the audit trail with its route and code, and no token ever is.
    const trail = readFileSync(join(server.dataDir, 'audit.jsonl'), 'utf8');
    const denied = trail.trim().split('\n').map((line) => JSON.parse(line)).filter((entry) => entry.action === 'api.denied');
    expect(denied).toContainEqual(expect.objectContaining({ actor: 'role:sponsor:sponsor', object: 'route:POST /api/rounds/:id/release', reason: 'FEDVAL_ERR_COORD_FORBIDDEN' }));
    expect(denied).toContainEqual(expect.objectContaining({ actor: 'anonymous', object: 'route:GET /api/audit', reason: 'FEDVAL_ERR_COORD_UNAUTHENTICATED' }));
    // The operator never acts as the key holder: with its own study key it could decrypt a single site's ciphertexts.
    for (const route of ['route:PUT /api/studies/:id/public-key', 'route:GET /api/rounds/:id/aggregate', 'route:POST /api/rounds/:id/release']) {
      expect(denied).toContainEqual(expect.objectContaining({ actor: 'role:admin:admin', object: route, reason: 'FEDVAL_ERR_COORD_FORBIDDEN' }));
    }
    for (const token of Object.values(API_TOKENS)) expect(trail).not.toContain(token);
  });

  it('refuses wrong, malformed and other schemes of credentials with 401, and accepts any case of "Bearer"', async () => {
    running = await startTestCoordinator();
    const get = (authorization: string) => fetch(`${running!.url}/api/sites`, { headers: { authorization } });
    for (const bad of [`Bearer ${API_TOKENS.sponsor}x`, `Basic ${API_TOKENS.sponsor}`, `Bearer`, `Bearer  ${API_TOKENS.sponsor}`, API_TOKENS.sponsor]) {
      const response = await get(bad);
      expect(response.status, bad).toBe(401);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe('FEDVAL_ERR_COORD_UNAUTHENTICATED');
    }
    expect((await get(`bearer ${API_TOKENS.sponsor}`)).status).toBe(200);
  });

  it('identifies a token by its SHA-256 among every configured token', () => {
    const tokens = [
      { name: 'ada', role: 'sponsor' as const, token_sha256: hashToken('first-token') },
      { name: 'bob', role: 'auditor' as const, token_sha256: hashToken('second-token') },
    ];
    expect(identifyBearer('Bearer second-token', tokens)).toEqual({ name: 'bob', role: 'auditor' });
    expect(identifyBearer('Bearer first-token', tokens)).toEqual({ name: 'ada', role: 'sponsor' });
    expect(identifyBearer('Bearer third-token', tokens)).toBeNull();
    expect(identifyBearer(undefined, tokens)).toBeNull();
    expect(identifyBearer('Bearer first-token', [])).toBeNull();
  });

  it('refuses to register a route that declares no roles, so nothing becomes public by accident', async () => {
    const app = Fastify();
    await app.register(accessControl, { tokens: [], audit: () => { throw new Error('not called'); } });
    const registered = app.register(async (child) => {
      child.get('/api/forgotten', async () => ({ secret: true }));
    });
    await expect(registered.ready()).rejects.toThrow(CoordinatorError);
    await expect(registered.ready()).rejects.toThrow(/GET \/api\/forgotten must declare config.roles/);
  });
});

describe('rate limits', () => {
  it('answers 429 FEDVAL_ERR_COORD_RATE_LIMITED past rate_limit_per_minute, counted per token', async () => {
    running = await startTestCoordinator({ rate_limit_per_minute: 3 });
    const statuses: number[] = [];
    for (let i = 0; i < 4; i += 1) statuses.push((await running.api('GET', '/api/sites')).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
    const limited = await running.api('GET', '/api/sites');
    expect(limited.body).toEqual({ error: { code: 'FEDVAL_ERR_COORD_RATE_LIMITED', message: expect.stringContaining('retry in') } });
    expect((await running.api('GET', '/api/sites', undefined, 'auditor')).status).toBe(200);
  });

  it('counts requests without a known token per client address, so made-up tokens share one budget', async () => {
    running = await startTestCoordinator({ rate_limit_per_minute: 2 });
    const statuses: number[] = [];
    for (let i = 0; i < 3; i += 1) {
      statuses.push((await fetch(`${running.url}/api/sites`, { headers: { authorization: `Bearer made-up-${i}` } })).status);
    }
    expect(statuses).toEqual([401, 401, 429]);
  });

  it('refuses WebSocket connection attempts past ws_connect_burst (refilled at ws_connects_per_minute) with HTTP 429 before the upgrade', async () => {
    running = await startTestCoordinator({ ws_connect_burst: 2, ws_connects_per_minute: 1 });
    const attempt = () =>
      new Promise<string>((resolve) => {
        const socket = new WebSocket(running!.wsUrl);
        socket.once('open', () => {
          socket.close();
          resolve('open');
        });
        socket.once('unexpected-response', (_request, response) => {
          resolve(`http ${response.statusCode}`);
          socket.terminate();
        });
        socket.once('error', () => resolve('error'));
      });
    expect([await attempt(), await attempt(), await attempt()]).toEqual(['open', 'open', 'http 429']);
  });
});

describe('round view by role', () => {
  it('shows each site\'s reported ε only to the privacy officer, auditor and admin, never to a sponsor or site admin', () => {
    // A real released result: metrics finalized from a private release of three sites' vectors, and that release's summary.
    const layout = createStatisticsLayout({ bins: 100 });
    const release = createRelease(layout, { epsilon: 1, delta: 1e-6, minSites: 3, layout: { kind: 'flat', bins: 100 } });
    const rng = seededRandomSource('round-view');
    const sent = [0, 1, 2].map((site) => {
      const accumulator = createAccumulator(layout);
      for (let i = 0; i < 40; i += 1) accumulator.addBinary(((i * 7 + site) % 100) / 100, i % 3 === 0 ? 1 : 0, []);
      return release.protect(accumulator.vector(), rng);
    });
    const { metrics, dp } = finalizeRelease(release, sent.reduce((a, b) => addStatistics(a, b)), sent.length);
    expect(dp).not.toBeNull();
    const perSite = [{ site_id: 'site-a', epsilon_spent: 0.5, epsilon_remaining: 2.5, epsilon_total: 3 }];
    const round: RoundRecord = {
      id: UUID, studyId: UUID, state: 'aggregated', reason: null, createdAt: 0, deadlineAt: 1, closedAt: 1, contributions: 3,
      sites: [],
      result: { metrics, contributions: 3, sites: ['site-a', 'site-b', 'site-c'], privacy: { dp: { ...dp!, sites: perSite }, encryption: null } },
    };
    const view = (role: Role | null) => roundView(round, role === null ? null : { name: 'x', role }).result;
    for (const role of ['privacy_officer', 'auditor', 'admin'] as const) expect(view(role)?.privacy?.dp).toEqual({ ...dp, sites: perSite });
    for (const role of ['sponsor', 'site_admin', null] as const) {
      expect(view(role)?.privacy?.dp).toEqual(dp);
      expect(view(role)).toMatchObject({ metrics, contributions: 3 });
    }
    expect((round.result?.privacy as { dp: { sites: unknown } }).dp.sites).toBe(perSite);
  });
});

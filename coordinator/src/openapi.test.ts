import { Validator } from '@seriousme/openapi-schema-validator';
import { afterEach, describe, expect, it } from 'vitest';
import { DOCS_PREFIX } from './openapi.ts';
import { METRICS_PATH } from './routes/metrics.ts';
import { startTestCoordinator } from './test-support/protocol-site.ts';
import type { RunningCoordinator } from './test-support/protocol-site.ts';

let running: RunningCoordinator | undefined;
afterEach(async () => {
  await running?.stop();
  running = undefined;
});

interface Operation {
  security?: unknown[];
  requestBody?: { content?: Record<string, { schema?: { type?: string; required?: string[] } }> };
  responses?: Record<string, { content?: Record<string, { schema?: { type?: string; oneOf?: { type?: string }[]; anyOf?: { type?: string }[] } }> }>;
}

/** `/api/rounds/:id` as OpenAPI spells it: `/api/rounds/{id}`. */
const openApiPath = (url: string) => url.replace(/:([A-Za-z_]+)/g, '{$1}');

describe('OpenAPI document', () => {
  it('lists every registered route with a typed 2xx response and typed bodies, is valid OpenAPI 3.1, and is readable without a token', async () => {
    const routes: { method: string; url: string }[] = [];
    running = await startTestCoordinator({}, undefined, (app) =>
      app.addHook('onRoute', (route) => {
        for (const method of [route.method].flat()) routes.push({ method, url: route.url });
      }),
    );
    const response = await fetch(`${running.url}/api/openapi.json`);
    expect(response.status).toBe(200);
    const document = (await response.json()) as { openapi: string; paths: Record<string, Record<string, Operation>> };
    expect(document.openapi).toBe('3.1.0');

    const validator = new Validator();
    const verdict = await validator.validate(structuredClone(document));
    expect(verdict.errors ?? []).toEqual([]);
    expect(verdict.valid).toBe(true);
    // The validator is not a rubber stamp: the same document with a response missing its (required) description fails.
    const broken = structuredClone(document);
    delete (broken.paths['/api/studies']!.post!.responses!['201'] as { description?: string }).description;
    expect((await new Validator().validate(broken)).valid).toBe(false);

    // HEAD twins of GET routes are fastify's; the routes under /docs serve the browsable page's own files; the web console's
    // pages under /console/ are HTML for a browser, not part of the REST API, and must not be in its document.
    // The Prometheus scrape (/metrics) is text for a scraper, not part of the REST API either.
    const apiRoutes = routes.filter((route) => route.method !== 'HEAD' && route.url !== DOCS_PREFIX && !route.url.startsWith(`${DOCS_PREFIX}/`) && !route.url.startsWith('/console/') && route.url !== METRICS_PATH);
    expect(document.paths[METRICS_PATH]).toBeUndefined();
    expect(routes.some((route) => route.url === METRICS_PATH)).toBe(true);
    expect(Object.keys(document.paths).filter((path) => path.startsWith('/console'))).toEqual([]);
    expect(routes.filter((route) => route.url.startsWith('/console/')).length).toBeGreaterThanOrEqual(10);
    expect(apiRoutes.length).toBeGreaterThanOrEqual(20);
    const bodiless = new Set(['POST /api/studies/:id/rounds', 'POST /api/sites/:id/enrollment-token']);
    for (const route of apiRoutes) {
      const label = `${route.method} ${route.url}`;
      const operation = document.paths[openApiPath(route.url)]?.[route.method.toLowerCase()];
      expect(operation, label).toBeDefined();
      const codes = Object.keys(operation!.responses ?? {});
      if (route.url === '/ws') {
        expect(codes, label).toContain('101'); // the site socket upgrades; its messages are @fedval/protocol's
        continue;
      }
      const success = codes.filter((code) => /^2\d\d$/.test(code));
      expect(success.length, label).toBeGreaterThan(0);
      for (const code of success) {
        const schema = operation!.responses![code]!.content?.['application/json']?.schema;
        // An object, an array, or a union of objects (the audit verification: intact or broken).
        const kind = schema?.type ?? (schema?.oneOf ?? schema?.anyOf)?.map((branch) => branch.type).join('|');
        expect(kind, `${label} ${code}`).toMatch(/^(object|array|object(\|object)+)$/);
      }
      expect(operation!.responses!['4XX']?.content?.['application/json']?.schema, label).toBeDefined();
      if ((route.method === 'POST' || route.method === 'PUT') && !bodiless.has(label)) {
        expect(operation!.requestBody?.content?.['application/json']?.schema?.type, label).toBe('object');
      }
    }
    // Required fields are required in the document; the token-guarded routes say so.
    const createStudy = document.paths['/api/studies']!.post!;
    expect(createStudy.requestBody!.content!['application/json']!.schema!.required).toEqual(expect.arrayContaining(['name', 'metric_spec', 'sites']));
    expect(createStudy.requestBody!.content!['application/json']!.schema!.required).not.toContain('quorum');
    expect(createStudy.security).toEqual([{ bearer: [] }]);
    expect(document.paths['/healthz']!.get!.security).toEqual([]);
  });

  it('serves the browsable documentation at /docs/ without a token, and keeps the coded 400 that lists every problem', async () => {
    running = await startTestCoordinator();
    const page = await fetch(`${running.url}${DOCS_PREFIX}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await page.text()).toMatch(/swagger-ui/i);

    const refused = await running.api('POST', '/api/studies', { name: '', sites: [] });
    expect(refused.status).toBe(400);
    expect(refused.body.error.code).toBe('FEDVAL_ERR_COORD_INVALID_REQUEST');
    for (const field of ['body.name', 'body.metric_spec', 'body.sites']) expect(refused.body.error.message).toContain(field);
    const badQuery = await running.api('GET', '/api/audit?limit=0', undefined, 'auditor');
    expect(badQuery.status).toBe(400);
    expect(badQuery.body.error.message).toContain('query.limit');
  });
});

// openapi.ts — the REST API's OpenAPI 3.1 document, generated from the zod schemas of @fedval/protocol, and its browsable page.
import { readFileSync } from 'node:fs';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { apiErrorSchema, openApiDocumentSchema } from '@fedval/protocol';
import type { FastifyInstance, FastifySchema } from 'fastify';
import { jsonSchemaTransform } from 'fastify-type-provider-zod';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { PUBLIC_ROUTE } from './access-control.ts';

/** Where the OpenAPI document is served (JSON, no token needed). */
export const OPENAPI_PATH = '/api/openapi.json';
/** Prefix of the browsable API documentation (no token needed); its own asset routes are not part of the API. */
export const DOCS_PREFIX = '/docs';

const packageJson = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: unknown };
/** The coordinator's version, from its package.json. */
export const COORDINATOR_VERSION = typeof packageJson.version === 'string' ? packageJson.version : '0.0.0';

/**
 * Registers @fastify/swagger, which collects every route registered after it (register it before the routes):
 * request and response schemas are the routes' zod schemas, converted by z.toJSONSchema; each route is documented with
 * the roles that may call it and the coded error every refusal answers with.
 */
export async function openApiDocument(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'fedval coordinator',
        version: COORDINATOR_VERSION,
        description:
          'REST API of the fedval coordinator. Every route except the health check, the site enrollment, the site socket ' +
          'and this documentation needs a bearer API token of one of the roles listed on the route. Every refusal answers ' +
          '`{ error: { code, message } }` with a stable FEDVAL_ERR_COORD_… code.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
    transform(document) {
      const roles = document.route.config?.roles;
      const { hide, ...schema } = document.schema as FastifySchema & { hide?: boolean; description?: string; response?: Record<string, unknown> };
      // @fastify/websocket hides its routes; the site socket is part of the API, documented as an upgrade.
      if (hide && document.route.websocket !== true) return { schema: { hide: true }, url: document.url };
      const errors = { '4XX': apiErrorSchema, '5XX': apiErrorSchema };
      const described = {
        ...schema,
        response: { ...schema.response, ...errors },
        ...(Array.isArray(roles)
          ? { security: [{ bearer: [] }], description: `${schema.description ? `${schema.description}\n\n` : ''}Roles: ${roles.join(', ')}.` }
          : { security: [] }),
      };
      return jsonSchemaTransform({ ...document, schema: described });
    },
  });
}
// Not encapsulated: @fastify/swagger must see the routes of sibling plugins.
Object.assign(openApiDocument, { [Symbol.for('skip-override')]: true, [Symbol.for('fastify.display-name')]: 'fedval-openapi' });

/** Serves the document at OPENAPI_PATH and the browsable page under DOCS_PREFIX; register after every API route. */
export async function openApiRoutes(app: FastifyInstance): Promise<void> {
  app.withTypeProvider<ZodTypeProvider>().get(
    OPENAPI_PATH,
    { config: { roles: PUBLIC_ROUTE }, schema: { summary: 'This OpenAPI document', response: { 200: openApiDocumentSchema } } },
    async () => openApiDocumentSchema.parse(app.swagger()),
  );
  await app.register(swaggerUi, { routePrefix: DOCS_PREFIX });
}

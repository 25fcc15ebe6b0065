// sites.ts — REST routes for the configured sites' connection state and the health check.
import { healthResponseSchema, siteListResponseSchema } from '@fedval/protocol';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { CoordinatorConfig } from '../config.ts';
import { PUBLIC_ROUTE } from '../access-control.ts';
import { CoordinatorError } from '../errors.ts';
import type { SiteConnections } from '../site-connections.ts';
import type { SiteIdentities } from '../site-identities.ts';
import { isoTime } from './request-validation.ts';

export interface SiteRoutesOptions {
  config: CoordinatorConfig;
  connections: SiteConnections;
  identities: SiteIdentities;
}

export async function siteRoutes(app: FastifyInstance, options: SiteRoutesOptions): Promise<void> {
  if (!options.config || !options.connections || !options.identities) {
    throw new CoordinatorError('FEDVAL_ERR_COORD_INTERNAL', 'siteRoutes needs the config, connections and identities options');
  }
  const { config, connections, identities } = options;

  const api = app.withTypeProvider<ZodTypeProvider>();

  api.get(
    '/api/sites',
    {
      config: { roles: ['sponsor', 'site_admin', 'auditor', 'admin'] },
      schema: { summary: "The configured sites: connection state and enrolled key's fingerprint", response: { 200: siteListResponseSchema } },
    },
    async () =>
    config.sites.map((site) => {
      const lastSeen = connections.lastSeen(site.id);
      return {
        site_id: site.id,
        connected: connections.isConnected(site.id),
        last_seen: lastSeen === undefined ? null : isoTime(lastSeen),
        // The enrolled key's fingerprint, to compare with the one the site read out at enrollment; null: not enrolled.
        key_fingerprint: identities.fingerprint(site.id) ?? null,
      };
    }),
  );

  api.get(
    '/healthz',
    { config: { roles: PUBLIC_ROUTE }, schema: { summary: 'Health check', response: { 200: healthResponseSchema } } },
    async () => ({ status: 'ok' as const }),
  );
}

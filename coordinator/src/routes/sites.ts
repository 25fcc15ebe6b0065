// sites.ts — REST routes for the configured sites' connection state and the health check.
import type { FastifyInstance } from 'fastify';
import type { CoordinatorConfig } from '../config.ts';
import { PUBLIC_ROUTE } from '../access-control.ts';
import { CoordinatorError } from '../errors.ts';
import type { SiteConnections } from '../site-connections.ts';
import { isoTime } from './request-validation.ts';

export interface SiteRoutesOptions {
  config: CoordinatorConfig;
  connections: SiteConnections;
}

export async function siteRoutes(app: FastifyInstance, options: SiteRoutesOptions): Promise<void> {
  if (!options.config || !options.connections) throw new CoordinatorError('FEDVAL_ERR_COORD_INTERNAL', 'siteRoutes needs the config and connections options');
  const { config, connections } = options;

  app.get('/api/sites', { config: { roles: ['sponsor', 'site_admin', 'auditor'] } }, async () =>
    config.sites.map((site) => {
      const lastSeen = connections.lastSeen(site.id);
      return { site_id: site.id, connected: connections.isConnected(site.id), last_seen: lastSeen === undefined ? null : isoTime(lastSeen) };
    }),
  );

  app.get('/healthz', { config: { roles: PUBLIC_ROUTE } }, async () => ({ status: 'ok' }));
}

// metrics.ts — GET /metrics: the Prometheus scrape (text format 0.0.4) for `metrics` and `admin` tokens.
import type { FastifyInstance } from 'fastify';
import type { CoordinatorMetrics } from '../coordinator-metrics.ts';
import { CoordinatorError } from '../errors.ts';
import type { SiteConnections } from '../site-connections.ts';
import type { CoordinatorStore } from '../storage/store.ts';

/** Path of the Prometheus scrape. */
export const METRICS_PATH = '/metrics';

export interface MetricsRoutesOptions {
  metrics: CoordinatorMetrics;
  connections: SiteConnections;
  store: CoordinatorStore;
}

export async function metricsRoutes(app: FastifyInstance, options: MetricsRoutesOptions): Promise<void> {
  if (!options.metrics || !options.connections || !options.store) {
    throw new CoordinatorError('FEDVAL_ERR_COORD_INTERNAL', 'metricsRoutes needs the metrics, connections and store options');
  }
  const { metrics, connections, store } = options;
  metrics.countConnectedSites(() => connections.entries().filter(([, connection]) => connection.socket.readyState === connection.socket.OPEN).length);
  metrics.countBackpressure(() => ({ readPauses: connections.reading.pauses, framesQueued: connections.sendBacklog.queuedTotal }));
  metrics.observeServer(app.server);
  // After startup recovery (registered before): rounds a previous run left are counted in their recovered state.
  app.addHook('onReady', async () => metrics.loadRounds(store));

  app.get(
    METRICS_PATH,
    { config: { roles: ['metrics', 'admin'] }, schema: { hide: true, summary: 'Prometheus metrics (text format): sites connected, rounds by state, contributions, latencies, traffic, process' } },
    async (_request, reply) => reply.type(metrics.registry.contentType).send(await metrics.scrape()),
  );
}

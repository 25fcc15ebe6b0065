// agent-metrics.ts — the agent's optional Prometheus endpoint (`metrics:` in site.yaml, off by default): connection, tasks, refusals; no data value, no ε.
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { SiteAgent } from './agent.ts';
import { AgentError } from './errors.ts';

/** Address the endpoint binds when `metrics.host` is not set: this machine only. */
export const DEFAULT_METRICS_HOST = '127.0.0.1';
/** Path of the scrape; every other path answers 404. */
export const AGENT_METRICS_PATH = '/metrics';
/** Most distinct `code` label values; later codes count as `other`. */
const MAX_CODE_LABELS = 64;

/** Counts what the agent's supervision events report; serves them on a local HTTP port. */
export class AgentMetrics {
  readonly registry = new Registry();
  #server: Server | undefined;

  constructor(agent: SiteAgent) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    const connected = new Gauge({ name: 'fedval_agent_connected', help: '1 while the agent holds an authenticated connection to the coordinator, else 0.', registers });
    const connections = new Counter({ name: 'fedval_agent_connections_total', help: 'Authenticated connections to the coordinator since the agent started.', registers });
    const disconnects = new Counter({ name: 'fedval_agent_disconnects_total', help: 'Connections to the coordinator that closed.', registers });
    const tasks = new Counter({ name: 'fedval_agent_tasks_total', help: 'Tasks finished, by outcome (contributed or refused).', labelNames: ['outcome'], registers });
    const refused = new Counter({ name: 'fedval_agent_tasks_refused_total', help: 'Tasks this site refused, by refusal code.', labelNames: ['code'], registers });
    connected.set(0);
    const codes = new Set<string>();
    agent.on('connected', () => {
      connected.set(1);
      connections.inc();
    });
    agent.on('disconnected', () => {
      connected.set(0);
      disconnects.inc();
    });
    agent.on('task-finished', (_roundId, outcome, code) => {
      tasks.inc({ outcome });
      if (outcome !== 'refused') return;
      let label = code !== undefined && /^FEDVAL_ERR_[A-Z0-9_]{1,80}$/.test(code) ? code : 'other';
      if (!codes.has(label) && codes.size >= MAX_CODE_LABELS) label = 'other';
      codes.add(label);
      refused.inc({ code: label });
    });
  }

  /** Listens on `host:port` (port 0: any free port); returns the scrape URL. A port in use fails with FEDVAL_ERR_AGENT_CONFIG. */
  async listen(port: number, host = DEFAULT_METRICS_HOST): Promise<string> {
    const server = createServer((request, response) => {
      if (request.method !== 'GET' || request.url?.split('?')[0] !== AGENT_METRICS_PATH) {
        response.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found\n');
        return;
      }
      this.registry.metrics().then(
        (text) => response.writeHead(200, { 'content-type': this.registry.contentType }).end(text),
        () => response.writeHead(500).end(),
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (cause: NodeJS.ErrnoException) => reject(new AgentError('FEDVAL_ERR_AGENT_CONFIG', `metrics: cannot listen on ${host}:${port}: ${cause.code ?? cause.message}`, { cause })));
      server.listen(port, host, () => resolve());
    });
    this.#server = server;
    const address = server.address() as AddressInfo;
    return `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}${AGENT_METRICS_PATH}`;
  }

  async close(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

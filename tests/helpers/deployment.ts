// deployment.ts — a real coordinator process and real agent processes on loopback, for end-to-end tests.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { REPO_ROOT } from './run-cli.ts';

/** Roles of the coordinator's REST API (coordinator/README.md). */
export const API_ROLES = ['admin', 'sponsor', 'privacy_officer', 'site_admin', 'auditor'] as const;
export type ApiRole = (typeof API_ROLES)[number];

export interface Deployment {
  dir: string;
  url: string;
  wsUrl: string;
  /** Site tokens, by site id. */
  tokens: Map<string, string>;
  /** One REST API token per role (configured under api_tokens, named after the role). */
  apiTokens: Readonly<Record<ApiRole, string>>;
  coordinatorDataDir: string;
  /** Starts a real agent for a site; `coordinatorUrl` overrides where it connects (e.g. a recording relay). */
  startAgent(site: string, dataFile: string, options?: { coordinatorUrl?: string; label?: string }): ChildProcess;
  /** A REST call with the API token of `role` (default sponsor; null: no token). */
  api<T = any>(method: string, path: string, body?: unknown, role?: ApiRole | null): Promise<{ status: number; body: T }>;
  stop(): Promise<void>;
}

export async function startDeployment(sites: string[]): Promise<Deployment> {
  const dir = mkdtempSync(join(tmpdir(), 'fedval-deploy-'));
  const tokens = new Map(sites.map((site) => [site, randomBytes(24).toString('base64url')]));
  const apiTokens = Object.fromEntries(API_ROLES.map((role) => [role, randomBytes(32).toString('base64url')])) as Record<ApiRole, string>;
  const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');
  const coordinatorDataDir = join(dir, 'coordinator-data');
  const config = join(dir, 'coordinator.yaml');
  writeFileSync(
    config,
    [
      'listen: { host: 127.0.0.1, port: 0 }',
      `data_dir: ${coordinatorDataDir}`,
      'sites:',
      ...sites.map((site) => `  - { id: ${site}, token_sha256: ${sha256(tokens.get(site)!)} }`),
      'api_tokens:',
      ...API_ROLES.map((role) => `  - { name: ${role.replace('_', '-')}, role: ${role}, token_sha256: ${sha256(apiTokens[role])} }`),
      // Tests poll; the default limit (600 per minute per token) is for production.
      'limits: { rate_limit_per_minute: 100000 }',
      'log_level: warn',
    ].join('\n'),
  );
  const children: ChildProcess[] = [];
  const coordinator = spawn(process.execPath, ['coordinator/src/main.ts', 'start', '--config', config], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(coordinator);
  const url = await new Promise<string>((resolve, reject) => {
    coordinator.once('exit', (code) => reject(new Error(`coordinator exited ${code}`)));
    createInterface({ input: coordinator.stdout! }).on('line', (line) => {
      try {
        const event = JSON.parse(line) as { event?: string; url?: string };
        if (event.event === 'listening' && event.url) resolve(event.url);
      } catch {
        // not an event line
      }
    });
  });
  const wsUrl = `${url.replace(/^http/, 'ws')}/ws`;
  return {
    dir,
    url,
    wsUrl,
    tokens,
    apiTokens,
    coordinatorDataDir,
    startAgent(site, dataFile, options = {}) {
      const siteDir = join(dir, 'sites', site);
      mkdirSync(siteDir, { recursive: true });
      const siteConfig = join(siteDir, 'site.yaml');
      writeFileSync(
        siteConfig,
        [
          `coordinator: ${options.coordinatorUrl ?? wsUrl}`,
          `site_id: ${site}`,
          `token: ${tokens.get(site)}`,
          `data: { path: ${dataFile}, label: { column: ${options.label ?? 'event5y'} } }`,
          'data_dir: ./state',
          'policy: { min_cohort: 1, require_dp: false }',
          'limits: { reconnect_initial_ms: 100, reconnect_max_ms: 500 }',
          'log_level: warn',
        ].join('\n'),
      );
      const agent = spawn(process.execPath, ['site-agent/src/main.ts', 'start', '--config', siteConfig], { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
      children.push(agent);
      return agent;
    },
    async api(method, path, body, role = 'sponsor') {
      const headers: Record<string, string> = role === null ? {} : { authorization: `Bearer ${apiTokens[role]}` };
      if (body !== undefined) headers['content-type'] = 'application/json';
      const response = await fetch(`${url}${path}`, { method, headers, body: body === undefined ? null : JSON.stringify(body) });
      return { status: response.status, body: (await response.json()) as never };
    },
    async stop() {
      await Promise.all(
        children.reverse().map(
          (child) =>
            new Promise<void>((resolve) => {
              if (child.exitCode !== null || child.signalCode !== null) return resolve();
              child.once('exit', () => resolve());
              child.kill('SIGTERM');
              setTimeout(() => child.kill('SIGKILL'), 5000).unref();
            }),
        ),
      );
    },
  };
}

/** Polls until every site is connected. */
export async function waitForSites(deployment: Deployment, sites: string[], timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const { body } = await deployment.api<{ site_id: string; connected: boolean }[]>('GET', '/api/sites');
    if (sites.every((site) => body.some((s) => s.site_id === site && s.connected))) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('sites did not connect');
}

/** Polls a round until it is closed. */
export async function waitForRoundClosed(deployment: Deployment, roundId: string, timeoutMs = 60_000): Promise<any> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const { body } = await deployment.api('GET', `/api/rounds/${roundId}`);
    if (body.state === 'aggregated' || body.state === 'failed') return body;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('round did not close');
}

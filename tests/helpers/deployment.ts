// deployment.ts — a real coordinator process and real agent processes on loopback, for end-to-end tests.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSiteIdentity, savePrivateKey } from '@fedval/trust';
import { createInterface } from 'node:readline';
import { listeningUrl } from './coordinator-process.ts';
import { REPO_ROOT, runCli } from './run-cli.ts';

/** Roles of the coordinator's REST API (coordinator/README.md). */
export const API_ROLES = ['admin', 'sponsor', 'privacy_officer', 'site_admin', 'auditor', 'metrics'] as const;
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
  /** The coordinator process now running (replaced by restartCoordinator). */
  coordinator: ChildProcess;
  /**
   * Stops the coordinator with `signal` (unless it has exited already, e.g. killed itself at a crash point) and waits
   * for its exit; then starts it again on the same port and data directory.
   */
  restartCoordinator(options?: { signal?: 'SIGKILL' | 'SIGTERM' }): Promise<void>;
  /** Writes a site's agent configuration (with its token unless the site enrolls) and returns its path. */
  writeAgentConfig(site: string, dataFile: string, options?: AgentOptions): string;
  /** Starts a real agent for a site, writing its configuration first. */
  startAgent(site: string, dataFile: string, options?: AgentOptions): ChildProcess;
  /**
   * For a site of `enrolledSites`: writes its configuration and enrolls its key with `fedval-agent enroll` (a one-time
   * token issued by the admin), without starting the agent; returns the configuration's path. The fingerprint the site
   * read out is kept in `fingerprints`.
   */
  enrollAgent(site: string, dataFile: string, options?: AgentOptions): Promise<string>;
  /** For a site of `enrolledSites`: writes its configuration, enrolls it as enrollAgent does unless it is enrolled, and starts the agent. */
  startEnrolledAgent(site: string, dataFile: string, options?: AgentOptions): Promise<ChildProcess>;
  /** Key fingerprints of the enrolled sites, as each site's `fedval-agent enroll` printed them. */
  fingerprints: Map<string, string>;
  /** Writes a key-holder roster file of these enrolled sites (their fingerprints as enrolled) and returns its path. */
  writeRoster(sites: string[], name?: string): string;
  /**
   * The key holder's Ed25519 signing key file (made with the deployment): every agent pins its fingerprint in
   * policy.key_holder_keys; pass it to `fedval keys init --signing-key` so the study key statement verifies.
   */
  keyHolderSigningKey: string;
  /** Fingerprint of keyHolderSigningKey's public key. */
  keyHolderFingerprint: string;
  /** A REST call with the API token of `role` (default sponsor; null: no token). */
  api<T = any>(method: string, path: string, body?: unknown, role?: ApiRole | null): Promise<{ status: number; body: T }>;
  /** With `captureOutput`: every line the coordinator and the agents wrote on stdout and stderr, in arrival order. */
  output: OutputLine[];
  stop(): Promise<void>;
}

/** One line a deployment's process wrote. */
export interface OutputLine {
  /** `coordinator` or the site id of an agent. */
  process: string;
  stream: 'stdout' | 'stderr';
  line: string;
}

export interface DeploymentOptions {
  /** Serve https/wss: the coordinator's `tls:` block (absolute paths) and the CA that agents and api() trust. */
  tls?: { cert: string; key: string; client_ca?: string; ca: string };
  /** Sites configured without a token: they must enroll (`fedval-agent enroll`) before they can connect. Sets public_ws_url. */
  enrolledSites?: string[];
  /**
   * Fewest sites a study may release (coordinator `limits.min_release_sites`). Default 1: most integration tests use
   * one or two sites; the production default, 3, is tested by tests/adversarial/two-site-study.test.ts.
   */
  minReleaseSites?: number;
  /** `log_level` of the coordinator and the agents. Default warn. */
  logLevel?: 'debug' | 'info' | 'warn';
  /** Keep every stdout and stderr line of the coordinator and the agents in `output` instead of passing stderr through. Default false. */
  captureOutput?: boolean;
  /** Coordinator `limits:` besides the helper's own (e.g. `{ max_results_in_flight: 1 }`). */
  limits?: Record<string, number>;
  /** Lines appended to the coordinator's YAML (e.g. a `storage:` block). */
  coordinatorYaml?: string[];
  /** Listen on a fixed free port (as enrolledSites does), so that restartCoordinator keeps the agents' URL. */
  restartable?: boolean;
  /** Environment added to every start of the coordinator (e.g. `FEDVAL_COORDINATOR_TEST_FAULT_FILE`, coordinator/src/test-fault.ts). */
  coordinatorEnv?: Record<string, string>;
}

export interface AgentOptions {
  /** Where the agent connects, instead of the deployment's socket URL (e.g. a recording relay). */
  coordinatorUrl?: string;
  /** The agent's `data_dir`. Default `./state` (beside its site.yaml). */
  dataDir?: string;
  label?: string;
  /** Lines appended to the agent's YAML (e.g. a `tls:` block). */
  extraYaml?: string[];
  /**
   * Fields added to the agent's `policy:` (flow-style YAML, e.g. `model_approval: allow_list`); the helper's own
   * `allowed_contributions: [plaintext, bfv]` and `require_dp: false` give way to the same fields here.
   */
  policy?: string;
}

export async function startDeployment(sites: string[], options: DeploymentOptions = {}): Promise<Deployment> {
  const dir = mkdtempSync(join(tmpdir(), 'fedval-deploy-'));
  const tokens = new Map(sites.map((site) => [site, randomBytes(24).toString('base64url')]));
  const keyHolder = generateSiteIdentity();
  const keyHolderSigningKey = join(dir, 'key-holder-signing.key');
  savePrivateKey(keyHolderSigningKey, keyHolder.privateKeyPem);
  const apiTokens = Object.fromEntries(API_ROLES.map((role) => [role, randomBytes(32).toString('base64url')])) as Record<ApiRole, string>;
  const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');
  const coordinatorDataDir = join(dir, 'coordinator-data');
  const config = join(dir, 'coordinator.yaml');
  // Enrolling sites needs public_ws_url, hence the port before the coordinator starts.
  const port = options.enrolledSites || options.restartable ? await freePort() : 0;
  writeFileSync(
    config,
    [
      `listen: { host: 127.0.0.1, port: ${port} }`,
      ...(options.enrolledSites ? [`public_ws_url: ${options.tls ? 'wss' : 'ws'}://127.0.0.1:${port}/ws`] : []),
      `data_dir: ${coordinatorDataDir}`,
      'sites:',
      ...sites.map((site) => (options.enrolledSites?.includes(site) ? `  - { id: ${site} }` : `  - { id: ${site}, token_sha256: ${sha256(tokens.get(site)!)} }`)),
      ...(options.tls
        ? [`tls: { cert: ${options.tls.cert}, key: ${options.tls.key}${options.tls.client_ca ? `, client_ca: ${options.tls.client_ca}` : ''} }`]
        : []),
      'api_tokens:',
      ...API_ROLES.map((role) => `  - { name: ${role.replace('_', '-')}, role: ${role}, token_sha256: ${sha256(apiTokens[role])} }`),
      // Tests poll; the default limit (600 per minute per token) is for production.
      `limits: { rate_limit_per_minute: 100000, min_release_sites: ${options.minReleaseSites ?? 1}${Object.entries(options.limits ?? {}).map(([key, value]) => `, ${key}: ${value}`).join('')} }`,
      `log_level: ${options.logLevel ?? 'warn'}`,
      ...(options.coordinatorYaml ?? []),
    ].join('\n'),
  );
  const children: ChildProcess[] = [];
  const output: OutputLine[] = [];
  const capture = (child: ChildProcess, name: string): ChildProcess => {
    if (!options.captureOutput) return child;
    for (const stream of ['stdout', 'stderr'] as const) {
      const readable = child[stream];
      if (readable) createInterface({ input: readable }).on('line', (line) => output.push({ process: name, stream, line }));
    }
    return child;
  };
  const stdio = (stdout: 'pipe' | 'ignore'): ['ignore', 'pipe' | 'ignore', 'pipe' | 'inherit'] => (options.captureOutput ? ['ignore', 'pipe', 'pipe'] : ['ignore', stdout, 'inherit']);
  const startCoordinator = async (): Promise<{ child: ChildProcess; url: string }> => {
    const child = capture(spawn(process.execPath, ['coordinator/src/main.ts', 'start', '--config', config], { cwd: REPO_ROOT, stdio: stdio('pipe'), env: { ...process.env, ...options.coordinatorEnv } }), 'coordinator');
    children.push(child);
    return { child, url: await listeningUrl(child) };
  };
  let { child: coordinator, url } = await startCoordinator();
  const wsUrl = `${url.replace(/^http/, 'ws')}/ws`;
  const writeAgentConfig = (site: string, dataFile: string, agentOptions: AgentOptions = {}): string => {
    const siteDir = join(dir, 'sites', site);
    mkdirSync(siteDir, { recursive: true });
    const siteConfig = join(siteDir, 'site.yaml');
    writeFileSync(
      siteConfig,
      [
        `coordinator: ${agentOptions.coordinatorUrl ?? wsUrl}`,
        `site_id: ${site}`,
        ...(options.enrolledSites?.includes(site) ? [] : [`token: ${tokens.get(site)}`]),
        `data: { path: ${dataFile}, label: { column: ${agentOptions.label ?? 'event5y'} } }`,
        `data_dir: ${agentOptions.dataDir ?? './state'}`,
        `policy: { ${agentPolicy(agentOptions.policy, keyHolder.fingerprint)} }`,
        'limits: { reconnect_initial_ms: 100, reconnect_max_ms: 500 }',
        `log_level: ${options.logLevel ?? 'warn'}`,
        ...(agentOptions.extraYaml ?? []),
      ].join('\n'),
    );
    return siteConfig;
  };
  const fingerprints = new Map<string, string>();
  const enrollAgent = async (site: string, dataFile: string, agentOptions: AgentOptions = {}): Promise<string> => {
    if (!options.enrolledSites?.includes(site)) throw new Error(`${site} is not one of the deployment's enrolledSites`);
    const siteConfig = writeAgentConfig(site, dataFile, agentOptions);
    if (fingerprints.has(site)) return siteConfig;
    const issued = await fetch(`${url}/api/sites/${site}/enrollment-token`, { method: 'POST', headers: { authorization: `Bearer ${apiTokens.admin}` } });
    const { enrollment_token: token } = (await issued.json()) as { enrollment_token: string };
    const enrolled = await runCli('fedval-agent', ['enroll', '--config', siteConfig], { env: { FEDVAL_ENROLLMENT_TOKEN: token } });
    const fingerprint = /key fingerprint ([0-9a-f]{64})/.exec(enrolled.stdout)?.[1];
    if (enrolled.code !== 0 || !fingerprint) throw new Error(`enrolling ${site} failed: ${enrolled.stderr}`);
    fingerprints.set(site, fingerprint);
    return siteConfig;
  };
  return {
    dir,
    url,
    wsUrl,
    get coordinator() {
      return coordinator;
    },
    async restartCoordinator({ signal = 'SIGKILL' } = {}) {
      if (coordinator.exitCode === null && coordinator.signalCode === null) {
        const exited = new Promise((resolve) => coordinator.once('exit', resolve));
        coordinator.kill(signal);
        await exited;
      }
      ({ child: coordinator, url } = await startCoordinator());
    },
    tokens,
    fingerprints,
    enrollAgent,
    async startEnrolledAgent(site, dataFile, agentOptions = {}) {
      const siteConfig = await enrollAgent(site, dataFile, agentOptions);
      const agent = capture(spawn(process.execPath, ['site-agent/src/main.ts', 'start', '--config', siteConfig], { cwd: REPO_ROOT, stdio: stdio('ignore') }), site);
      children.push(agent);
      return agent;
    },
    writeRoster(rosterSites, name = 'roster.json') {
      const path = join(dir, name);
      writeFileSync(path, `${JSON.stringify({ sites: rosterSites.map((site) => ({ site_id: site, fingerprint: fingerprints.get(site) ?? '0'.repeat(64) })) }, null, 2)}\n`);
      return path;
    },
    apiTokens,
    keyHolderSigningKey,
    keyHolderFingerprint: keyHolder.fingerprint,
    coordinatorDataDir,
    writeAgentConfig,
    startAgent(site, dataFile, agentOptions = {}) {
      const siteConfig = writeAgentConfig(site, dataFile, agentOptions);
      const agent = capture(spawn(process.execPath, ['site-agent/src/main.ts', 'start', '--config', siteConfig], { cwd: REPO_ROOT, stdio: stdio('ignore') }), site);
      children.push(agent);
      return agent;
    },
    output,
    async api(method, path, body, role = 'sponsor') {
      const headers: Record<string, string> = role === null ? {} : { authorization: `Bearer ${apiTokens[role]}` };
      if (body !== undefined) headers['content-type'] = 'application/json';
      if (options.tls) return requestJson(`${url}${path}`, method, headers, body, options.tls.ca);
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

/**
 * The `policy:` fields of a test agent: plaintext contributions opted in explicitly (the default is encrypted only),
 * exact releases allowed and the deployment's key holder key pinned, unless `extra` (flow-style YAML pairs) sets those
 * fields itself.
 */
function agentPolicy(extra: string | undefined, keyHolderFingerprint: string): string {
  const base = { allowed_contributions: '[plaintext, bfv]', require_dp: 'false', key_holder_keys: `[${keyHolderFingerprint}]` };
  const fields = Object.entries(base).filter(([key]) => !new RegExp(`\\b${key}:`).test(extra ?? '')).map(([key, value]) => `${key}: ${value}`);
  return [...fields, ...(extra ? [extra] : [])].join(', ');
}

/** A port free on 127.0.0.1 now (the OS's choice for port 0, released at once). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** A JSON request over https trusting `caFile` (fetch cannot take a CA of its own). */
function requestJson(target: string, method: string, headers: Record<string, string>, body: unknown, caFile: string): Promise<{ status: number; body: never }> {
  return new Promise((resolve, reject) => {
    const request = httpsRequest(target, { method, headers, ca: readFileSync(caFile) }, (response) => {
      let text = '';
      response.on('data', (chunk: Buffer) => (text += chunk.toString()));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: (text ? JSON.parse(text) : undefined) as never }));
      response.on('error', reject);
    });
    request.on('error', reject);
    request.end(body === undefined ? undefined : JSON.stringify(body));
  });
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

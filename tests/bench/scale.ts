// scale.ts — N sites in one round: a real coordinator process and N real site agents hosted in a few processes
// (scale-site-host.ts) over loopback WebSockets, one BFV + DP round (secure aggregation off: its pairwise key exchange is
// O(N²) messages), released by the real key holder CLI. Prints one JSON document: per N the enrolment, connect and
// round times, the coordinator's peak RSS (VmHWM of /proc/<pid>/status) and the bytes each site sent and received.
// The sites' directories (keys, data, ledger, audit trail) go under --sites-dir (default /dev/shm when present): a thousand
// hospitals each fsync their own disk, not this machine's one; the coordinator's data stays on the temporary directory's disk.
// --memory: the coordinator preloads scale-memory-probe.ts, and each result gains `coordinator_memory`: per phase (connect,
// round to aggregated, release) the coordinator's memory by category at its highest RSS of the phase, and each category's
// maximum (MiB; the categories are described in scale-memory-probe.ts). Sampling every 5 ms costs the coordinator a little CPU.
// Run: node tests/bench/scale.ts [--hosts 3] [--rows 200] [--sites-dir DIR] [--keep] [--memory] 10 100 1000
import { fork, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, createWriteStream } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { generateSiteIdentity, savePrivateKey } from '@fedval/trust';
import { listeningUrl } from '../helpers/coordinator-process.ts';
import { freePort } from '../helpers/deployment.ts';
import { REPO_ROOT } from '../helpers/run-cli.ts';
import type { HostCommand, HostedSite, HostReport } from './scale-site-host.ts';

const HOST_SCRIPT = fileURLToPath(new URL('./scale-site-host.ts', import.meta.url));
const MEMORY_PROBE = fileURLToPath(new URL('./scale-memory-probe.ts', import.meta.url));
const ROLES = ['admin', 'sponsor', 'privacy_officer'] as const;
const POLL_MS = 500; // the bench's own polling (GET /api/rounds/:id lists every site) loads the coordinator it measures
const PHASE_TIMEOUT_MS = 600_000; // 10 min per phase before the bench gives up

const { values, positionals } = parseArgs({ allowPositionals: true, options: { hosts: { type: 'string', default: '3' }, rows: { type: 'string', default: '200' }, keep: { type: 'boolean', default: false }, memory: { type: 'boolean', default: false }, 'sites-dir': { type: 'string' } } });
const HOSTS = Number(values.hosts);
const ROWS = Number(values.rows);
const SITES_ROOT = values['sites-dir'] ?? (existsSync('/dev/shm') ? '/dev/shm' : tmpdir());
const SIZES = (positionals.length > 0 ? positionals : ['10', '100']).map(Number);
// Node/V8 flags of the coordinator process only. By default those its systemd unit sets (Environment=NODE_OPTIONS= in
// examples/systemd/fedval-coordinator.service; the container sets the same): the bench measures the coordinator as shipped.
// FEDVAL_SCALE_COORDINATOR_NODE_FLAGS='' runs it under V8's defaults (young generation up to 2 × 64 MiB), or other flags.
const SHIPPED_NODE_OPTIONS = /^Environment=NODE_OPTIONS=(.*)$/m.exec(readFileSync(join(REPO_ROOT, 'examples/systemd/fedval-coordinator.service'), 'utf8'))?.[1] ?? '';
const COORDINATOR_NODE_FLAGS = process.env.FEDVAL_SCALE_COORDINATOR_NODE_FLAGS ?? SHIPPED_NODE_OPTIONS;

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function memoryMiB(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: Math.round(kib('VmRSS') / 1024), peak: Math.round(kib('VmHWM') / 1024) };
}

function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, clock ticks (USER_HZ = 100)
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const seconds = (from: number, to = performance.now()): number => Math.round(to - from) / 1000;

async function until<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + PHASE_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value !== undefined) return value;
    await sleep(POLL_MS);
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function pool<T, R>(items: readonly T[], width: number, run: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      while (next < items.length) {
        const index = next++;
        out[index] = await run(items[index]!);
      }
    }),
  );
  return out;
}

/** Runs a CLI to completion; resolves with stdout, rejects with its last stderr line. */
function runProgram(script: string, args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('exit', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`${script} ${args[0]} exited ${code}: ${stderr.trim().split('\n').slice(-3).join(' | ')}`))));
  });
}

class Host {
  readonly child: ChildProcess;
  readonly #waiting = new Map<HostReport['type'], (report: HostReport) => void>();
  readonly fatal: string[] = [];

  constructor(log: string) {
    this.child = fork(HOST_SCRIPT, [], { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'pipe', 'ipc'], ...(process.env.FEDVAL_SCALE_PROFILE ? { execArgv: [...process.execArgv, '--cpu-prof', '--cpu-prof-dir', process.env.FEDVAL_SCALE_PROFILE] } : {}) });
    const out = createWriteStream(log);
    this.child.stderr!.pipe(out);
    this.child.on('message', (report: HostReport) => {
      if (report.type === 'fatal') this.fatal.push(`${report.site}: ${report.code}`);
      const waiter = this.#waiting.get(report.type);
      this.#waiting.delete(report.type);
      waiter?.(report);
    });
  }

  ask<K extends HostReport['type']>(command: HostCommand, answer: K): Promise<Extract<HostReport, { type: K }>> {
    return new Promise((resolve, reject) => {
      this.child.once('exit', (code) => reject(new Error(`a site host exited ${code}`)));
      this.#waiting.set(answer, resolve as (report: HostReport) => void);
      this.child.send(command);
    });
  }
}

async function bytesOf(hosts: Host[]): Promise<{ read: number; written: number }> {
  const all = await Promise.all(hosts.map((host) => host.ask({ type: 'bytes' }, 'bytes')));
  return { read: all.reduce((sum, b) => sum + b.read, 0), written: all.reduce((sum, b) => sum + b.written, 0) };
}

async function scenario(sites: number): Promise<Record<string, unknown>> {
  const dir = mkdtempSync(join(tmpdir(), `fedval-bench-scale-${sites}-`));
  const sitesDir = mkdtempSync(join(SITES_ROOT, `fedval-bench-scale-sites-${sites}-`));
  const ids = Array.from({ length: sites }, (_, i) => `site-${String(i).padStart(4, '0')}`);
  const tokens = Object.fromEntries(ROLES.map((role) => [role, randomBytes(32).toString('base64url')])) as Record<(typeof ROLES)[number], string>;
  const port = await freePort();
  const wsUrl = `ws://127.0.0.1:${port}/ws`;
  const config = join(dir, 'coordinator.yaml');
  // Production limits except the REST rate (the bench polls, and issues N enrollment tokens) and the enrollment rate
  // (N sites enrolling from one address in a minute); the WebSocket connection limits are the defaults.
  writeFileSync(
    config,
    [
      `listen: { host: 127.0.0.1, port: ${port} }`,
      `public_ws_url: ${wsUrl}`,
      `data_dir: ${join(dir, 'coordinator-data')}`,
      'sites:',
      ...ids.map((id) => `  - { id: ${id} }`),
      'api_tokens:',
      ...ROLES.map((role) => `  - { name: ${role.replace('_', '-')}, role: ${role}, token_sha256: ${sha256(tokens[role])} }`),
      'limits: { rate_limit_per_minute: 1000000, enroll_per_minute: 1000000 }',
      'log_level: warn',
    ].join('\n'),
  );
  // FEDVAL_SCALE_PROFILE=DIR writes V8 CPU profiles of the coordinator and the site hosts there (node --cpu-prof).
  const profile = process.env.FEDVAL_SCALE_PROFILE ? ['--cpu-prof', '--cpu-prof-dir', process.env.FEDVAL_SCALE_PROFILE] : [];
  const nodeFlags = COORDINATOR_NODE_FLAGS.split(' ').filter((flag) => flag !== '');
  const probeFile = join(dir, 'memory-probe.jsonl');
  const probe = values.memory ? ['--import', MEMORY_PROBE] : [];
  const coordinator = spawn(process.execPath, [...profile, ...nodeFlags, ...probe, 'coordinator/src/main.ts', 'start', '--config', config], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...(values.memory ? { FEDVAL_SCALE_MEMORY_PROBE: probeFile } : {}) },
  });
  /** Closes a phase of the memory probe (SIGUSR2) and returns its line: the coordinator's memory at the phase's RSS peak. */
  const memoryPhase = async (): Promise<unknown> => {
    if (!values.memory) return undefined;
    const before = existsSync(probeFile) ? readFileSync(probeFile, 'utf8').split('\n').filter(Boolean).length : 0;
    coordinator.kill('SIGUSR2');
    for (let waited = 0; waited < 10_000; waited += 20) {
      const lines = existsSync(probeFile) ? readFileSync(probeFile, 'utf8').split('\n').filter(Boolean) : [];
      if (lines.length > before) return JSON.parse(lines.at(-1)!) as unknown;
      await sleep(20);
    }
    throw new Error('the memory probe did not answer');
  };
  coordinator.stderr!.pipe(createWriteStream(join(dir, 'coordinator.log')));
  const hosts: Host[] = [];
  try {
    const url = await listeningUrl(coordinator);
    const api = async <T>(method: string, path: string, role: (typeof ROLES)[number], body?: unknown): Promise<T> => {
      const request = (): Promise<Response> =>
        fetch(`${url}${path}`, {
          method,
          headers: { authorization: `Bearer ${tokens[role]}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
          body: body === undefined ? null : JSON.stringify(body),
        });
      // A GET that met a keep-alive connection the server had just closed (ECONNRESET on a loaded machine) is asked again once.
      const response = await request().catch((error: unknown) => (method === 'GET' ? request() : Promise.reject(error)));
      const json = (await response.json()) as T;
      if (response.status >= 400) throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(json)}`);
      return json;
    };
    const keyHolder = generateSiteIdentity();
    const signingKey = join(dir, 'key-holder-signing.key');
    savePrivateKey(signingKey, keyHolder.privateKeyPem);

    // Enrolment (before timing the round): the admin issues N one-time tokens; each site enrolls its own key.
    const enrolStarted = performance.now();
    const enrollmentTokens = await pool(ids, 16, async (id) => (await api<{ enrollment_token: string }>('POST', `/api/sites/${id}/enrollment-token`, 'admin')).enrollment_token);
    const hostCount = Math.min(HOSTS, sites);
    const perHost: HostedSite[][] = Array.from({ length: hostCount }, () => []);
    ids.forEach((id, i) => {
      const siteDir = join(sitesDir, id);
      mkdirSync(siteDir, { recursive: true });
      perHost[i % hostCount]!.push({ id, dir: siteDir, enrollmentToken: enrollmentTokens[i]! });
    });
    for (let h = 0; h < hostCount; h += 1) hosts.push(new Host(join(dir, `host-${h}.log`)));
    const enrolled = await Promise.all(
      hosts.map((host, h) => host.ask({ type: 'enroll', sites: perHost[h]!, wsUrl, httpUrl: url, keyHolderFingerprint: keyHolder.fingerprint, rows: ROWS, seed: 100_000 * (h + 1) }, 'enrolled')),
    );
    const enrolSeconds = seconds(enrolStarted);
    const roster = join(dir, 'roster.json');
    writeFileSync(roster, JSON.stringify({ sites: enrolled.flatMap((answer) => answer.fingerprints) }));

    // Connect: every agent starts at once; timed until GET /api/sites lists all of them connected.
    const connectStarted = performance.now();
    const cpuBeforeConnect = cpuSeconds(coordinator.pid!);
    const hostsCpu = (): number => hosts.reduce((sum, host) => sum + cpuSeconds(host.child.pid!), 0);
    const hostsCpuBeforeConnect = hostsCpu();
    await Promise.all(hosts.map((host) => host.ask({ type: 'start' }, 'started')));
    await until('every site to connect', async () => {
      const listed = await api<{ connected: boolean }[]>('GET', '/api/sites', 'admin');
      const fatal = hosts.flatMap((host) => host.fatal);
      if (fatal.length > 0) throw new Error(`agents gave up: ${fatal.slice(0, 5).join(', ')}`);
      return listed.filter((site) => site.connected).length === sites ? true : undefined;
    });
    const connectSeconds = seconds(connectStarted);
    const connectCpu = cpuSeconds(coordinator.pid!) - cpuBeforeConnect;
    const hostsConnectCpu = hostsCpu() - hostsCpuBeforeConnect;
    const afterConnect = await bytesOf(hosts);
    const memoryAfterConnect = memoryMiB(coordinator.pid!);
    const memoryConnect = await memoryPhase();
    const roundPhaseStarted = performance.now();

    // The study: a score column, binary metrics on 100 bins, ε = 1 per round, BFV, no secure aggregation.
    const study = await api<{ study_id: string }>('POST', '/api/studies', 'sponsor', {
      name: `scale ${sites}`,
      score_column: 'score',
      metric_spec: { bins: 100, threshold: 0.5 },
      sites: ids,
      quorum: sites,
      contribution: 'bfv',
      release: { min_sites: 3 },
      secure_aggregation: false,
      privacy: { epsilon: 1, delta: 1e-6, expected_patients: sites * ROWS, expected_prevalence: 0.3 },
    });
    const keysDir = join(dir, 'key-holder');
    const keysStarted = performance.now();
    await runProgram('packages/cli/src/main.ts', ['keys', 'init', '--coordinator', url, '--study', study.study_id, '--out', keysDir, '--roster', roster, '--signing-key', signingKey, '--min-sites', '3', '--json'], { FEDVAL_API_TOKEN: tokens.privacy_officer });
    const keysSeconds = seconds(keysStarted);

    // The round: dispatch → aggregated (every site's ciphertext added) → released (the key holder verified and decrypted).
    const cpuBeforeRound = cpuSeconds(coordinator.pid!);
    const hostsCpuBeforeRound = hostsCpu();
    const loadAtRound = loadavg()[0]!;
    const dispatched = performance.now();
    const round = await api<{ round_id: string }>('POST', `/api/studies/${study.study_id}/rounds`, 'sponsor');
    const finished = await until('the round to aggregate', async () => {
      const view = await api<{ state: string; reason?: string; contributions?: number }>('GET', `/api/rounds/${round.round_id}`, 'sponsor');
      if (view.state === 'failed') throw new Error(`round failed: ${view.reason}`);
      return view.state === 'aggregated' ? view : undefined;
    });
    const aggregated = performance.now();
    const roundCpu = cpuSeconds(coordinator.pid!) - cpuBeforeRound;
    const hostsRoundCpu = hostsCpu() - hostsCpuBeforeRound;
    const afterRound = await bytesOf(hosts);
    const memoryRound = await memoryPhase();
    await runProgram('packages/cli/src/main.ts', ['decrypt', '--coordinator', url, '--round', round.round_id, '--keys', keysDir, '--min-sites', '3', '--json'], { FEDVAL_API_TOKEN: tokens.privacy_officer });
    const released = performance.now();
    const view = await api<{ state: string; result?: { metrics?: { auc?: unknown } } }>('GET', `/api/rounds/${round.round_id}`, 'privacy_officer');
    if (!view.result) throw new Error('the round has no released result');
    const memory = memoryMiB(coordinator.pid!);
    const memoryRelease = await memoryPhase();
    return {
      sites,
      host_processes: hostCount,
      rows_per_site: ROWS,
      enrol_s: enrolSeconds,
      connect_s: connectSeconds,
      key_setup_s: keysSeconds,
      round_dispatch_to_aggregated_s: seconds(dispatched, aggregated),
      round_aggregated_to_released_s: seconds(aggregated, released),
      round_dispatch_to_released_s: seconds(dispatched, released),
      connect_plus_round_s: Math.round((connectSeconds + seconds(dispatched, released)) * 1000) / 1000,
      contributions: (finished as { contributions?: number }).contributions ?? null,
      // VmHWM once every site is connected (before the round), then at the end: what connections cost, what the round adds.
      coordinator_peak_rss_after_connect_mib: memoryAfterConnect.peak,
      coordinator_peak_rss_mib: memory.peak,
      coordinator_rss_after_mib: memory.rss,
      ...(values.memory ? { coordinator_memory: { connect: memoryConnect, round_to_aggregated: memoryRound, release: memoryRelease, dispatched_at_s_in_round_phase: seconds(roundPhaseStarted, dispatched) } } : {}),
      coordinator_cpu_s: { connect: Math.round(connectCpu * 100) / 100, round_to_aggregated: Math.round(roundCpu * 100) / 100 },
      // CPU time of the site host processes (all agents together): on 2 shared cores, what bounds the round's wall time.
      sites_cpu_s: { connect: Math.round(hostsConnectCpu * 100) / 100, round_to_aggregated: Math.round(hostsRoundCpu * 100) / 100 },
      // The machine's 1-minute load average when the round started (other work shares its cores).
      load_average_at_round: Math.round(loadAtRound * 10) / 10,
      // As each site sees its socket (TCP payload: HTTP upgrade, frames, headers); in = received from the coordinator.
      bytes_per_site: {
        connect_in: Math.round(afterConnect.read / sites),
        connect_out: Math.round(afterConnect.written / sites),
        round_in: Math.round((afterRound.read - afterConnect.read) / sites),
        round_out: Math.round((afterRound.written - afterConnect.written) / sites),
      },
    };
  } finally {
    await Promise.all(
      hosts.map(
        (host) =>
          new Promise<void>((resolve) => {
            if (host.child.exitCode !== null) return resolve();
            host.child.once('exit', () => resolve());
            host.child.send({ type: 'stop' } satisfies HostCommand);
            setTimeout(() => host.child.kill('SIGKILL'), 15_000).unref();
          }),
      ),
    );
    await new Promise<void>((resolve) => {
      if (coordinator.exitCode !== null) return resolve();
      coordinator.once('exit', () => resolve());
      coordinator.kill('SIGTERM');
      setTimeout(() => coordinator.kill('SIGKILL'), 10_000).unref();
    });
    rmSync(sitesDir, { recursive: true, force: true });
    if (!values.keep) rmSync(dir, { recursive: true, force: true });
    else process.stderr.write(`kept ${dir}\n`);
  }
}

const results: Record<string, unknown>[] = [];
for (const sites of SIZES) {
  const result = await scenario(sites);
  results.push(result);
  process.stderr.write(`${JSON.stringify(result)}\n`);
}
const by = new Map(results.map((result) => [result.sites as number, result]));
const perSite = (key: string, n: number): number => (by.get(n)![key] as number) / n;
const ratios: Record<string, number> = {};
const largest = Math.max(...SIZES);
for (const n of SIZES.filter((size) => size < largest)) {
  for (const key of ['connect_s', 'round_dispatch_to_aggregated_s', 'round_dispatch_to_released_s']) {
    ratios[`${key}_per_site_${largest}_vs_${n}`] = Math.round((perSite(key, largest) / perSite(key, n)) * 100) / 100;
  }
  ratios[`coordinator_peak_rss_${largest}_vs_${n}`] = Math.round(((by.get(largest)!.coordinator_peak_rss_mib as number) / (by.get(n)!.coordinator_peak_rss_mib as number)) * 100) / 100;
}
process.stdout.write(`${JSON.stringify({ bench: 'scale', node: process.version, cpus: availableParallelism(), coordinator_node_flags: COORDINATOR_NODE_FLAGS, results, ratios }, null, 2)}\n`);

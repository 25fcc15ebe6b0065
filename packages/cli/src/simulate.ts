// simulate.ts — `fedval simulate`: a real coordinator and one real agent per site, over loopback, for one round.
import { randomBytes, createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { dirname, extname, join, resolve } from 'node:path';
import { metricSpecToInput, resolveMetricSpec } from '@fedval/metrics';
import type { GroupSpec, MetricsReport } from '@fedval/metrics';
import { listProblems } from '@fedval/schema';
import { verifyManifestSignature } from '@fedval/trust';
import { z } from 'zod';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import type { ReleasedPrivacy, RoundView, StudyView } from '@fedval/protocol';
import { CoordinatorClient } from './coordinator-client.ts';
import { readModelUpload } from './model-upload.ts';
import { CliError } from './errors.ts';
import { keyHolderIdentity } from './key-holder.ts';
import { PROGRAMS, startProcess, waitForEvent } from './processes.ts';
import type { ReleasePriorities } from '@fedval/dp';
import { prioritiesInput } from './privacy-options.ts';
import { makeReport } from './report-command.ts';
import type { ReportFormat, WrittenReport } from './report-command.ts';
import type { ManagedProcess } from './processes.ts';

export interface SimulationSite {
  name: string;
  file: string;
}

export interface SimulationOptions {
  sites: SimulationSite[];
  label: { column: string; positive: string; negative?: string | undefined; time?: string | undefined };
  scorer: { kind: 'score_column'; column: string } | { kind: 'model'; dir: string };
  /** Subgroup arguments as on the command line: `COL` or `COL:c1,c2`. */
  groups: string[];
  metricSpec: Record<string, unknown>;
  /** 'bfv' (default): sites send ciphertexts and a separate key-holder process decrypts the aggregate. 'plaintext' is a test seam. */
  contribution?: 'bfv' | 'plaintext';
  /** Exact release without differential privacy (validation); the generated site policies allow it. */
  noDp?: boolean;
  /** Per-round differential privacy when `noDp` is not set. Default ε = 1, δ = 1e-6. */
  epsilon?: number | undefined;
  delta?: number | undefined;
  /** Public planning assumption for the release layout. Default 0.3. */
  expectedPrevalence?: number | undefined;
  /**
   * Public planning assumption for the release layout: patients across all sites. Default: the data rows of the CSV
   * sites; required with DP when a site is a Parquet file or a site configuration (simulate does not read those).
   */
  expectedPatients?: number | undefined;
  /** Release policy: fewest contributions to decrypt. Default: 3, or the number of sites when fewer. */
  minSites?: number | undefined;
  /** What the study is for (`privacy.priorities`): the planner derives the ρ split. Default: the fixed weights. */
  priorities?: Partial<ReleasePriorities> | undefined;
  /**
   * Secure aggregation of the bfv round (Bonawitz et al. double masking): on by default (absent or `{ threshold? }`,
   * threshold default: the coordinator's); `false` turns it off, and the generated site policies then allow unmasked
   * encrypted contributions (policy.require_secure_aggregation: false). Plaintext rounds have none.
   */
  secureAggregation?: { threshold?: number | undefined } | false | undefined;
  /**
   * Sites whose agents stop after the share exchange of a securely aggregated round, before sending their masked input
   * (each agent started with FEDVAL_AGENT_SIMULATE_DROP=after_share_keys): what a dropout does.
   */
  dropSites?: string[] | undefined;
  /**
   * Sites whose agents stay connected after the share exchange but never send their masked input (each agent started
   * with FEDVAL_AGENT_SIMULATE_DROP=stall_after_share_keys): what the coordinator's per-phase timeout does.
   */
  stallSites?: string[] | undefined;
  /** The coordinator's `limits.secagg_phase_timeout_ms`. Default: the coordinator's (60000 ms). */
  secaggPhaseTimeoutMs?: number | undefined;
  /** Keep the working directory (configs, logs, databases) here instead of a removed temporary one. */
  workDir?: string | undefined;
  /** Whole-round limit. Default 600 s. */
  timeoutMs?: number;
  /** Receives every log line of every child process, prefixed with its name. */
  onLog?: (line: string) => void;
  /** Receives round progress as it is polled. */
  onRound?: (round: RoundView) => void;
  /** The study's name (shown in the report). Default 'fedval simulate'. */
  studyName?: string | undefined;
  /**
   * Write the released round's report and evidence bundle here, through `fedval report`'s code, as the privacy officer,
   * signed with the simulated key holder's key (encrypted rounds only: a plaintext round has no signed release).
   */
  report?: { out: string; formats?: readonly ReportFormat[] | undefined } | undefined;
}

export interface SimulationResult {
  metrics: MetricsReport;
  round: RoundView;
  study: StudyView;
  privacy: ReleasedPrivacy;
  /** The report written when `report` was given. */
  report: WrittenReport | null;
}

const SITE_NAME = /^[A-Za-z0-9._-]{1,64}$/;

/** Parses `NAME=FILE`. */
export function parseSiteArgument(text: string): SimulationSite {
  const at = text.indexOf('=');
  const name = text.slice(0, at);
  const file = text.slice(at + 1);
  if (at <= 0 || !file || !SITE_NAME.test(name)) {
    throw new CliError('FEDVAL_ERR_CLI_USAGE', `--site ${text}: expected NAME=FILE with NAME of letters, digits, . _ -`);
  }
  return { name, file: resolve(file) };
}

export async function runSimulation(options: SimulationOptions): Promise<SimulationResult> {
  if (options.sites.length === 0) throw new CliError('FEDVAL_ERR_CLI_USAGE', 'give at least one --site NAME=FILE');
  const names = options.sites.map((site) => site.name);
  if (new Set(names).size !== names.length) throw new CliError('FEDVAL_ERR_CLI_USAGE', 'site names must be unique');
  const dropSites = options.dropSites ?? [];
  if (dropSites.some((name) => !names.includes(name))) throw new CliError('FEDVAL_ERR_CLI_USAGE', `--drop-site names a site that is not simulated: ${dropSites.filter((name) => !names.includes(name)).join(', ')}`);
  const stallSites = options.stallSites ?? [];
  if (stallSites.some((name) => !names.includes(name))) throw new CliError('FEDVAL_ERR_CLI_USAGE', `--stall-site names a site that is not simulated: ${stallSites.filter((name) => !names.includes(name)).join(', ')}`);
  if (stallSites.some((name) => dropSites.includes(name))) throw new CliError('FEDVAL_ERR_CLI_USAGE', 'a site is either dropped or stalled, not both');
  const contribution = options.contribution ?? 'bfv';
  // On by default for encrypted rounds of two sites or more (the coordinator's default too); one site has nothing to mask with.
  const secureAggregation = contribution === 'bfv' && options.secureAggregation !== false && names.length >= 2 ? (options.secureAggregation ?? {}) : null;
  if (options.report && contribution !== 'bfv') throw new CliError('FEDVAL_ERR_CLI_USAGE', '--report needs encrypted contributions: only the key holder signs a release');
  if (dropSites.length + stallSites.length > 0 && !secureAggregation) throw new CliError('FEDVAL_ERR_CLI_USAGE', '--drop-site and --stall-site need secure aggregation (encrypted contributions, two sites or more, no --no-secure-aggregation)');
  // Before any process starts: a DP round needs its planning patient count (a usage error otherwise).
  const expectedPatients = options.noDp ? undefined : await planningPatients(options.sites, options.expectedPatients);
  const workDir = options.workDir ? resolve(options.workDir) : await mkdtemp(join(tmpdir(), 'fedval-simulate-'));
  await mkdir(workDir, { recursive: true });
  const log = options.onLog ?? (() => {});
  const processes: ManagedProcess[] = [];
  try {
    // Each site's `fedval-agent levels` runs while the coordinator starts: the levels are needed only for the study.
    const levels = discoverLevels(options.sites, options.groups, workDir);
    levels.catch(() => undefined); // observed below; this only keeps an early failure from being an unhandled rejection
    // One API token per role the simulation plays: this process is the sponsor and the admin who issues the sites'
    // enrollment tokens, the key-holder process the privacy officer.
    const apiTokens = { sponsor: randomBytes(32).toString('base64url'), privacy_officer: randomBytes(32).toString('base64url'), admin: randomBytes(32).toString('base64url') };
    // Every site enrolls an Ed25519 key and signs its contributions: the key holder decrypts only what rostered keys signed.
    const port = await freePort();
    const coordinatorConfig = join(workDir, 'coordinator.yaml');
    await writeFile(
      coordinatorConfig,
      toYaml({
        listen: { host: '127.0.0.1', port },
        public_ws_url: `ws://127.0.0.1:${port}/ws`,
        data_dir: './coordinator-data',
        sites: options.sites.map((site) => ({ id: site.name })),
        api_tokens: [
          { name: 'simulate-sponsor', role: 'sponsor', token_sha256: sha256(apiTokens.sponsor) },
          { name: 'simulate-key-holder', role: 'privacy_officer', token_sha256: sha256(apiTokens.privacy_officer) },
          { name: 'simulate-admin', role: 'admin', token_sha256: sha256(apiTokens.admin) },
        ],
        // A simulation runs over files the user holds: one or two sites may be released together.
        limits: { min_release_sites: 1, ...(options.secaggPhaseTimeoutMs !== undefined ? { secagg_phase_timeout_ms: options.secaggPhaseTimeoutMs } : {}) },
        log_level: 'info',
      }),
    );
    const coordinator = startProcess({
      name: 'coordinator',
      program: PROGRAMS.coordinator,
      args: ['start', '--config', coordinatorConfig],
      onLogLine: (line) => log(`coordinator | ${line}`),
    });
    processes.push(coordinator);
    // A bad --group is the user's error: reported before whatever the coordinator's start-up did.
    const [groupsOutcome, listening] = await Promise.allSettled([levels, waitForEvent(coordinator, 'listening', z.object({ url: z.string().url() }), 30_000)]);
    if (groupsOutcome.status === 'rejected') throw groupsOutcome.reason;
    if (listening.status === 'rejected') throw listening.reason;
    const groups = groupsOutcome.value;
    const { url } = listening.value;
    const client = new CoordinatorClient(url, apiTokens.sponsor);
    const wsUrl = `${url.replace(/^http/, 'ws')}/ws`;
    // The user of a simulation is every site's administrator and chose the model: its signer is trusted; an unsigned
    // bundle runs under the agents' testing-only `any` policy.
    const modelPolicy = options.scorer.kind === 'model' ? await simulationModelPolicy(options.scorer.dir) : {};
    const minSites = options.minSites ?? Math.min(3, names.length);
    // The user is every site's administrator: the agents accept this simulation's own release minimum and minimum cell
    // (defaults 3 and 10 otherwise), and plaintext only when the --plaintext-contributions test seam asks for it.
    const minCell = typeof options.metricSpec.minCellSize === 'number' ? options.metricSpec.minCellSize : undefined;
    // The user is the privacy officer too: the key holder's signing key is made first, and every site pins it, so the
    // agents encrypt only under the public key that key vouches for.
    const keyDir = join(workDir, 'key-holder');
    const signingKey = join(workDir, 'key-holder-signing.key');
    const keyHolder = keyHolderIdentity(signingKey);
    const sitePolicy = {
      require_dp: !options.noDp,
      // Unmasked encrypted contributions only when the simulation turns secure aggregation off (or has one site).
      ...(contribution === 'bfv' && !secureAggregation ? { require_secure_aggregation: false } : {}),
      key_holder_keys: [keyHolder.fingerprint],
      ...(contribution === 'plaintext' ? { allowed_contributions: ['plaintext'] } : {}),
      ...(minSites < 3 ? { min_sites: minSites } : {}),
      ...(minCell !== undefined && minCell < 10 ? { min_cell: minCell } : {}),
      ...modelPolicy,
    };
    const admin = new CoordinatorClient(url, apiTokens.admin);
    // The sites enroll and start side by side (each is its own process, as separate hospitals would be); every
    // enrollment is settled before any failure is reported, so no agent outlives the simulation's clean-up.
    const enrollments = await Promise.allSettled(
      options.sites.map(async (site): Promise<{ site_id: string; fingerprint: string }> => {
        const siteDir = join(workDir, 'sites', site.name);
        await mkdir(siteDir, { recursive: true });
        const config = join(siteDir, 'site.yaml');
        await writeFile(
          config,
          toYaml({
            coordinator: wsUrl,
            site_id: site.name,
            data: { ...(await siteDataSection(site)), label: dropUndefined(options.label) },
            data_dir: './data',
            policy: sitePolicy,
            log_level: 'info',
          }),
        );
        // The site enrolls with a one-time token and reads out its key fingerprint: in a simulation, straight into the roster.
        const { enrollment_token: enrollmentToken } = await admin.issueEnrollmentToken(site.name);
        const enrolled = await runWithEnv(`enroll ${site.name}`, PROGRAMS.agent, ['enroll', '--config', config], { FEDVAL_ENROLLMENT_TOKEN: enrollmentToken });
        const fingerprint = /key fingerprint ([0-9a-f]{64})/.exec(enrolled)?.[1];
        if (!fingerprint) throw new CliError('FEDVAL_ERR_CLI_PROCESS', `enroll ${site.name}: no key fingerprint in its output`);
        processes.push(
          startProcess({
            name: site.name,
            program: PROGRAMS.agent,
            args: ['start', '--config', config],
            onLogLine: (line) => log(`${site.name} | ${line}`),
            ...(dropSites.includes(site.name) ? { env: { FEDVAL_AGENT_SIMULATE_DROP: 'after_share_keys' } } : {}),
            ...(stallSites.includes(site.name) ? { env: { FEDVAL_AGENT_SIMULATE_DROP: 'stall_after_share_keys' } } : {}),
          }),
        );
        return { site_id: site.name, fingerprint };
      }),
    );
    const failed = enrollments.find((outcome) => outcome.status === 'rejected');
    if (failed) throw failed.reason;
    // In the order the sites were given, whichever enrolled first.
    const roster = enrollments.flatMap((outcome) => (outcome.status === 'fulfilled' ? [outcome.value] : []));
    let modelId: string | undefined;
    if (options.scorer.kind === 'model') modelId = await uploadModel(client, options.scorer.dir);
    const study = await client.createStudy({
      name: options.studyName ?? 'fedval simulate',
      ...(modelId ? { model_id: modelId } : { score_column: (options.scorer as { column: string }).column }),
      // The REST spelling (snake_case) of the spec the options resolve to.
      metric_spec: metricSpecToInput(resolveMetricSpec({ ...options.metricSpec, groups })),
      sites: names,
      quorum: names.length,
      contribution,
      release: { min_sites: minSites },
      ...(contribution === 'bfv' ? { secure_aggregation: secureAggregation ? (secureAggregation.threshold === undefined ? {} : { threshold: secureAggregation.threshold }) : false } : {}),
      ...(options.noDp
        ? {}
        : {
            privacy: {
              epsilon: options.epsilon ?? 1,
              delta: options.delta ?? 1e-6,
              // Public planning assumptions: --expected-patients, or the row counts of the CSV files (a simulation has them all).
              expected_patients: expectedPatients,
              expected_prevalence: options.expectedPrevalence ?? 0.3,
              ...(options.priorities ? { priorities: prioritiesInput(options.priorities) } : {}),
            },
          }),
    });
    if (contribution === 'bfv') {
      // The key holder is its own process: the secret key never enters the coordinator's.
      const rosterFile = join(workDir, 'roster.json');
      await writeFile(rosterFile, `${JSON.stringify({ sites: roster }, null, 2)}\n`);
      await runKeyHolder(['keys', 'init', '--coordinator', url, '--study', study.study_id, '--out', keyDir, '--roster', rosterFile, '--signing-key', signingKey, '--min-sites', String(minSites), '--json'], apiTokens.privacy_officer);
    }
    // The study and the key holder's keys are made while the agents start and connect; the round waits for all of them.
    await waitForSites(client, names, 60_000);
    const started = await client.startRound(study.study_id);
    let round = await waitForRound(client, started.round_id, options.timeoutMs ?? 600_000, options.onRound);
    if (round.state !== 'aggregated') {
      const why = round.sites.filter((site) => site.code).map((site) => `${site.site_id}: ${site.code}`);
      throw new CliError('FEDVAL_ERR_CLI_ROUND_FAILED', `${round.reason ?? round.state}${why.length ? ` (${why.join(', ')})` : ''}`);
    }
    if (contribution === 'bfv') {
      await runKeyHolder(
        ['decrypt', '--coordinator', url, '--round', round.round_id, '--keys', keyDir, '--min-sites', String(minSites), '--json'],
        apiTokens.privacy_officer,
      );
      // Read back as the privacy officer: only that role sees each site's own report of the ε it spent.
      round = await new CoordinatorClient(url, apiTokens.privacy_officer).getRound(round.round_id);
    }
    if (!round.result) throw new CliError('FEDVAL_ERR_CLI_ROUND_FAILED', 'the round has no released result');
    const report = options.report
      ? await makeReport({ coordinator: url, round: round.round_id, token: apiTokens.privacy_officer, keyHolderKeys: [keyHolder.fingerprint], readerRole: 'privacy_officer', out: resolve(options.report.out), formats: options.report.formats, signingKey })
      : null;
    // getRound parsed the result with the REST contract (@fedval/protocol roundViewSchema): metrics and privacy are typed.
    return { metrics: round.result.metrics, round, study, privacy: round.result.privacy ?? { dp: null, encryption: null }, report };
  } finally {
    await Promise.all(processes.reverse().map((child) => child.stop()));
    if (!options.workDir) await rm(workDir, { recursive: true, force: true });
  }
}

/** Site policy for the simulated sites: trust the bundle's signer, or allow an unsigned bundle (testing only). */
async function simulationModelPolicy(dir: string): Promise<Record<string, unknown>> {
  let manifest: { readonly [key: string]: unknown };
  try {
    // The whole object, as written: its signature covers every field.
    manifest = z.record(z.string(), z.unknown()).parse(JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')));
  } catch (cause) {
    throw new CliError('FEDVAL_ERR_CLI_MODEL', `${dir}: manifest.json cannot be read`, { cause });
  }
  if (manifest['signature'] === undefined) return { model_approval: 'any' };
  try {
    return { model_approval: 'allow_list', trusted_sponsor_keys: [verifyManifestSignature(manifest)] };
  } catch (cause) {
    throw new CliError('FEDVAL_ERR_CLI_MODEL', `${dir}: the manifest signature does not verify (${(cause as { code?: string }).code ?? 'invalid'})`, { cause });
  }
}

/** Runs a program to completion with extra environment variables (secrets stay out of its arguments); resolves with its stdout. */
async function runWithEnv(name: string, program: string, args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  const child = startProcess({ name, program, args, env });
  let stdout = '';
  let stderr = '';
  child.child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await child.exited;
  if (code !== 0) throw new CliError('FEDVAL_ERR_CLI_PROCESS', `${name} exited with code ${code}: ${stderr.trim().split('\n').pop() ?? ''}`);
  return stdout;
}

/** A port free on 127.0.0.1 now (the OS's choice for port 0, released at once): enrolling sites need public_ws_url before start. */
function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolvePort(port));
    });
  });
}

/** Runs this CLI as the separate key-holder process, its API token in the environment (not in its arguments, which other users can see). */
async function runKeyHolder(args: string[], token: string): Promise<string> {
  const child = startProcess({ name: 'key holder', program: PROGRAMS.fedval, args, env: { FEDVAL_API_TOKEN: token } });
  let stdout = '';
  let stderr = '';
  child.child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await child.exited;
  if (code !== 0) throw new CliError('FEDVAL_ERR_CLI_PROCESS', `key holder exited with code ${code}: ${stderr.trim().split('\n').pop() ?? ''}`);
  return stdout;
}

/** Subgroup levels: declared in the study, here read from the local files (as each site's `fedval-agent levels` would). */
/** What `fedval-agent levels --json` prints: the group columns with the levels found in the file. */
const levelsOutputSchema = z.object({ groups: z.array(z.object({ column: z.string(), levels: z.array(z.string()).optional(), cuts: z.array(z.number()).optional() })) });

async function discoverLevels(sites: SimulationSite[], groupArgs: string[], workDir: string): Promise<GroupSpec[]> {
  if (groupArgs.length === 0) return [];
  const perSite = await Promise.all(
    sites.map(async (site) => {
      const child = startProcess({
        name: `levels ${site.name}`,
        program: PROGRAMS.agent,
        args: ['levels', ...(await levelsDataArguments(site, workDir)), ...groupArgs.flatMap((group) => ['--group', group])],
      });
      let stderr = '';
      child.child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      let stdout = '';
      child.child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      const code = await child.exited;
      if (code !== 0) throw new CliError('FEDVAL_ERR_CLI_USAGE', `site ${site.name}: ${stderr.trim().split('\n').pop() ?? 'cannot read groups'}`);
      const parsed = levelsOutputSchema.safeParse(JSON.parse(stdout));
      if (!parsed.success) throw new CliError('FEDVAL_ERR_CLI_PROCESS', `site ${site.name}: fedval-agent levels printed ${listProblems(parsed.error).join('; ')}`);
      return parsed.data.groups;
    }),
  );
  return (perSite[0] ?? []).map((group, i): GroupSpec => {
    if (!group.levels) return { column: group.column, ...(group.cuts ? { cuts: group.cuts } : {}) };
    const union = new Set(perSite.flatMap((groups) => groups[i]!.levels ?? []));
    return { column: group.column, levels: [...union].sort((a, b) => a.localeCompare(b, 'en', { numeric: true })) };
  });
}

async function uploadModel(client: CoordinatorClient, dir: string): Promise<string> {
  const { upload } = await readModelUpload(dir);
  return (await client.registerModel(upload)).model_id;
}

async function waitForSites(client: CoordinatorClient, names: string[], timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const sites = await client.listSites();
    const connected = new Set(sites.filter((site) => site.connected).map((site) => site.site_id));
    if (names.every((name) => connected.has(name))) return;
    await sleep(100);
  }
  throw new CliError('FEDVAL_ERR_CLI_TIMEOUT', 'not every site agent connected');
}

async function waitForRound(client: CoordinatorClient, roundId: string, timeoutMs: number, onRound?: (round: RoundView) => void): Promise<RoundView> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const round = await client.getRound(roundId);
    onRound?.(round);
    if (round.state === 'failed' || round.state === 'aggregated') return round;
    await sleep(150);
  }
  throw new CliError('FEDVAL_ERR_CLI_TIMEOUT', `round ${roundId} did not finish`);
}

/** `--site NAME=FILE.yaml` (or .yml) names a site configuration whose data section the site reads (CSV, Parquet, PostgreSQL). */
function isSiteConfiguration(file: string): boolean {
  return ['.yaml', '.yml'].includes(extname(file).toLowerCase());
}

/** `--site NAME=FILE.parquet` (or .parq, as the agent's `--data` reads it) is a Parquet file; any other data file is CSV. */
function isParquetFile(file: string): boolean {
  return ['.parquet', '.parq'].includes(extname(file).toLowerCase());
}

/**
 * The generated site configuration's data section: `path` for a CSV file, `parquet` for a Parquet file, or the `data` section of a site
 * configuration (its label is replaced by the simulation's; its relative paths made absolute against that file).
 */
async function siteDataSection(site: SimulationSite): Promise<Record<string, unknown>> {
  if (isParquetFile(site.file)) return { parquet: site.file };
  if (!isSiteConfiguration(site.file)) return { path: site.file };
  let raw: unknown;
  try {
    raw = parseYaml(await readFile(site.file, 'utf8'));
  } catch (cause) {
    throw new CliError('FEDVAL_ERR_CLI_USAGE', `--site ${site.name}: cannot read ${site.file} as YAML`, { cause });
  }
  const data = siteDataFileSchema.safeParse(raw);
  if (!data.success) throw new CliError('FEDVAL_ERR_CLI_USAGE', `--site ${site.name}: ${site.file} has no data section (${listProblems(data.error).join('; ')})`);
  const { label: _label, ...section } = data.data.data;
  const absolute = (path: unknown): unknown => (typeof path === 'string' ? resolve(dirname(site.file), path) : path);
  const postgres = section.postgres as Record<string, unknown> | undefined;
  return {
    ...section,
    ...(section.path !== undefined ? { path: absolute(section.path) } : {}),
    ...(section.parquet !== undefined ? { parquet: absolute(section.parquet) } : {}),
    ...(postgres
      ? {
          postgres: {
            ...postgres,
            ...(postgres.password_file !== undefined ? { password_file: absolute(postgres.password_file) } : {}),
            ...(postgres.query_file !== undefined ? { query_file: absolute(postgres.query_file) } : {}),
          },
        }
      : {}),
  };
}

/** A site configuration file as simulate reads it: only its data section (validated by the agent that loads it). */
const siteDataFileSchema = z.object({ data: z.record(z.string(), z.unknown()) });

/** `fedval-agent levels` arguments naming a site's data: the file, or a configuration holding its data section. */
async function levelsDataArguments(site: SimulationSite, workDir: string): Promise<string[]> {
  if (!isSiteConfiguration(site.file)) return ['--data', site.file];
  const dir = join(workDir, 'levels', site.name);
  await mkdir(dir, { recursive: true });
  const config = join(dir, 'levels.yaml');
  await writeFile(config, toYaml({ coordinator: 'ws://127.0.0.1:1/ws', site_id: site.name, data: { ...(await siteDataSection(site)), label: { column: 'unused' } }, data_dir: join(dir, 'data') }));
  return ['--config', config];
}

/**
 * The DP planning assumption `expected_patients`: `--expected-patients` when given, else the data rows of the CSV site
 * files (header lines excluded). simulate reads no Parquet file and no database (only the agents own data sources), so
 * with such a site the user states the number.
 */
async function planningPatients(sites: SimulationSite[], given: number | undefined): Promise<number> {
  if (given !== undefined) {
    if (!(Number.isSafeInteger(given) && given >= 2)) throw new CliError('FEDVAL_ERR_CLI_USAGE', '--expected-patients must be an integer ≥ 2');
    return given;
  }
  const uncounted = sites.filter((site) => isSiteConfiguration(site.file) || isParquetFile(site.file));
  if (uncounted.length > 0) {
    throw new CliError(
      'FEDVAL_ERR_CLI_USAGE',
      `give --expected-patients N (patients across all sites, a public planning assumption of the DP release): simulate counts only CSV rows, not those of ${uncounted.map((site) => site.name).join(', ')}`,
    );
  }
  let rows = 0;
  for (const site of sites) {
    const text = await readFile(site.file, 'utf8').catch(() => '');
    rows += Math.max(0, text.split('\n').filter((line) => line.trim() !== '').length - 1);
  }
  return Math.max(2, rows);
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function dropUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve_) => setTimeout(resolve_, ms));
}

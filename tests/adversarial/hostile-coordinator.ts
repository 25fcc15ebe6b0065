// hostile-coordinator.ts — what the site-policy attacks share: a coordinator the attacker controls (a scripted peer on
// the coordinator's side of the socket), real agent processes with their own data directory, and the site's ledger
// read back through `fedval-agent budget --json`.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createHash } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRelease, resolvePrivacySpec } from '@fedval/dp';
import { createHeContext, generateKeyPair, planBfvParameters, planSha256 } from '@fedval/he';
import type { BfvPlan, HeContext } from '@fedval/he';
import { createChallenge, generateSiteIdentity, signStudyKeyStatement } from '@fedval/trust';
import type { SignedStudyKeyStatement } from '@fedval/trust';
import { createStatisticsLayout, resolveMetricSpec } from '@fedval/metrics';
import { createMessage, encodeMessage } from '@fedval/protocol';
import type { Message } from '@fedval/protocol';
import { REPO_ROOT, runJson } from '../helpers/run-cli.ts';
import { afterAll } from 'vitest';
import { ScriptedCoordinator } from '../helpers/scripted-coordinator.ts';

export interface HostileSite {
  dir: string;
  config: string;
  process: ChildProcess;
  /** Starts the agent again on the same configuration and data directory (after it died or was stopped). */
  restart(env?: NodeJS.ProcessEnv): ChildProcess;
  stop(): Promise<void>;
}

export interface HostileSiteOptions {
  /** CSV text of the site's data (columns: whatever the tasks need, label column `status`). */
  csv: string;
  /** Flow-style YAML pairs for `policy:`; empty: every default. */
  policy?: string;
  /** Flow-style YAML pairs added to `limits:`. */
  limits?: string;
  /** The agent's log_level (default warn); its stdout and stderr are kept in `<dir>/agent.log`. */
  logLevel?: string;
  env?: NodeJS.ProcessEnv;
}

/** Writes a site's configuration and data in a fresh directory and starts a real agent against `coordinator`. */
/**
 * What every attack file starts from: a scripted coordinator, the hostile sites a test starts against it, and the HE
 * contexts it makes — all torn down after the file (contexts disposed, agents stopped, coordinator closed).
 */
export function hostileFixture(): { coordinator: ScriptedCoordinator; sites: HostileSite[]; contexts: { dispose(): void }[] } {
  const coordinator = new ScriptedCoordinator();
  const sites: HostileSite[] = [];
  const contexts: { dispose(): void }[] = [];
  afterAll(async () => {
    for (const context of contexts) context.dispose();
    await Promise.all(sites.map((site) => site.stop()));
    await coordinator.close();
  });
  return { coordinator, sites, contexts };
}

export function startHostileSite(coordinator: ScriptedCoordinator, siteId: string, options: HostileSiteOptions): HostileSite {
  const dir = mkdtempSync(join(tmpdir(), `fedval-adversarial-${siteId}-`));
  mkdirSync(join(dir, 'state'), { recursive: true });
  writeFileSync(join(dir, 'data.csv'), options.csv);
  const config = join(dir, 'site.yaml');
  writeFileSync(
    config,
    [
      `coordinator: ws://127.0.0.1:${coordinator.port}/ws`,
      `site_id: ${siteId}`,
      `token: ${siteId}-adversarial-token-0123456789`,
      'data: { path: ./data.csv, label: { column: status } }',
      'data_dir: ./state',
      ...(options.policy ? [`policy: { ${options.policy} }`] : []),
      `limits: { reconnect_initial_ms: 100, reconnect_max_ms: 400${options.limits ? `, ${options.limits}` : ''} }`,
      `log_level: ${options.logLevel ?? 'warn'}`,
    ].join('\n'),
  );
  const start = (env: NodeJS.ProcessEnv = {}): ChildProcess => {
    const log = openSync(join(dir, 'agent.log'), 'a');
    const child = spawn(process.execPath, ['site-agent/src/main.ts', 'start', '--config', config], { cwd: REPO_ROOT, stdio: ['ignore', log, log], env: { ...process.env, ...env } });
    closeSync(log);
    return child;
  };
  const site: HostileSite = {
    dir,
    config,
    process: start(options.env),
    restart(env) {
      site.process = start(env);
      return site.process;
    },
    async stop() {
      const child = site.process;
      if (child.exitCode !== null || child.signalCode !== null) return;
      await new Promise((resolve) => {
        child.once('exit', resolve);
        child.kill('SIGKILL');
      });
    },
  };
  return site;
}

/** The site's ledger as its administrator reads it. */
export function siteBudget(site: HostileSite): Promise<{ spent: { epsilon: number; rho: number }; rounds: { round_id: string; epsilon: number; own_share_epsilon: number | null; rho: number }[] }> {
  return runJson('fedval-agent', ['budget', '--config', site.config]);
}

/** A privacy spec as a coordinator would put it in a task (any minSites it likes: it is the attacker). */
export function privacySpecFor(metricSpec: Record<string, unknown>, privacy: { epsilon: number; minSites: number; mechanism?: string }): Record<string, unknown> {
  const layout = createStatisticsLayout(resolveMetricSpec(metricSpec));
  const spec = resolvePrivacySpec({ delta: 1e-6, layout: { kind: 'flat', bins: 20 }, ...privacy } as never, { layout });
  return JSON.parse(JSON.stringify(spec)) as Record<string, unknown>;
}

/** A task as the attacker's coordinator sends it. */
/**
 * A task as a hostile coordinator words it. `secureAggregation` asks for a securely aggregated round (what a site's
 * default policy.require_secure_aggregation needs of every bfv task); the scripted coordinator runs none of its phases, so
 * only checks made before the key exchange can be observed with it.
 */
export function hostileTask(
  roundId: string,
  fields: { metricSpec: Record<string, unknown>; privacy?: Record<string, unknown>; contribution?: Record<string, unknown>; deadlineMs?: number; secureAggregation?: { threshold: number }; scorer?: Record<string, unknown> },
): Message {
  return createMessage('task', {
    studyId: 'study-hostile',
    roundId,
    metricSpec: fields.metricSpec,
    scorer: fields.scorer ?? { kind: 'score_column', columns: ['score'] },
    contribution: fields.contribution ?? { kind: 'plaintext' },
    ...(fields.privacy ? { privacy: fields.privacy } : {}),
    deadline: Date.now() + (fields.deadlineMs ?? 60_000),
    ...(fields.secureAggregation ? { secureAggregation: fields.secureAggregation } : {}),
  } as never);
}

/** Sends a task (to `siteId`'s agent, or the last one connected) and returns the refusal code, or 'contributed' with the result message. */
export async function answerTo(coordinator: ScriptedCoordinator, task: Message, siteId?: string): Promise<{ outcome: string; reply: Message }> {
  coordinator.send(task, siteId);
  const roundId = task.type === 'task' ? task.content.roundId : '';
  const reply = await coordinator.next((m) => (m.type === 'task.refuse' || m.type === 'task.result') && m.content.roundId === roundId);
  return { outcome: reply.type === 'task.refuse' ? reply.content.reason.code : 'contributed', reply };
}

/** `n` rows of `score,status` (a third positive), scores spread over [0, 1). */
export function scoredRows(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `${((i * 37) % 100) / 100},${i % 3 === 0 ? 1 : 0}`);
}

/** A BFV plan and key pair as a coordinator (honest or not) would make them for `metricSpec`, sized for `patients` per site. */
export async function bfvKeysFor(
  metricSpec: Record<string, unknown>,
  privacy: Record<string, unknown> | undefined,
  patients: number,
): Promise<{ plan: BfvPlan; publicKey: Uint8Array; secretKey: Uint8Array; context: HeContext }> {
  const release = createRelease(createStatisticsLayout(resolveMetricSpec(metricSpec)), privacy as never);
  const bounds = release.entryMaxAbsPerSite(patients);
  const plan = planBfvParameters({ vectorLength: release.length, maxSites: 3, maxAbsPerSite: bounds.reduce((m, b) => Math.max(m, b), 1), entryMaxAbs: bounds });
  const context = await createHeContext(plan);
  const keys = generateKeyPair(context);
  return { plan, publicKey: new Uint8Array(keys.publicKey), secretKey: new Uint8Array(keys.secretKey), context };
}

/**
 * The parties of a key-substitution attack on `metricSpec`: the privacy officer's key holder signing key (pinned by the
 * site), the coordinator operator's own Ed25519 key, the honest study keys and the attacker's, and a site `site-a` with
 * `patients` scored rows that pins the key holder and allows unmasked encrypted contributions without DP (the scripted
 * coordinator runs no secure-aggregation phases, and the key checks come before any masking; unmasked is where a
 * substituted key would leak most: the site's vector itself). Resolves once the site said hello.
 */
export async function keySubstitutionParties(fixture: ReturnType<typeof hostileFixture>, metricSpec: Record<string, unknown>, patients: number) {
  const keyHolder = generateSiteIdentity();
  const operator = generateSiteIdentity();
  const honest = await bfvKeysFor(metricSpec, undefined, 100_000);
  const attacker = await bfvKeysFor(metricSpec, undefined, 100_000);
  fixture.contexts.push(honest.context, attacker.context);
  const site = startHostileSite(fixture.coordinator, 'site-a', {
    csv: `score,status\n${scoredRows(patients).join('\n')}\n`,
    policy: `require_dp: false, key_holder_keys: [${keyHolder.fingerprint}], require_secure_aggregation: false`,
  });
  fixture.sites.push(site);
  await fixture.coordinator.next((m) => m.type === 'hello');
  return { keyHolder, operator, honest, attacker, site };
}

/** The sites the attacks' key statements roster by default (sorted, as a statement requires). */
const HOSTILE_SITE_IDS = ['site-a', 'site-b', 'site-c', 'site-default', 'site-large', 'site-opted-out', 'site-small', 'site-unpinned'];

/** The study key statement a key holder signs with `signingKey` for `keys` (the study of hostileTask). */
export function keyStatementFor(signingKey: string, keys: { plan: BfvPlan; publicKey: Uint8Array }, fields: { minSites?: number; publicKeySha256?: string; studyId?: string; version?: number; roster?: { siteId: string; fingerprint: string }[] } = {}): SignedStudyKeyStatement {
  return signStudyKeyStatement(signingKey, {
    studyId: fields.studyId ?? 'study-hostile',
    planSha256: planSha256(keys.plan),
    publicKeySha256: fields.publicKeySha256 ?? createHash('sha256').update(keys.publicKey).digest('hex'),
    minSites: fields.minSites ?? 3,
    // Hostile sites authenticate by token (no enrolled key): they are on the roster by site id.
    roster: fields.roster ?? HOSTILE_SITE_IDS.map((siteId) => ({ siteId, fingerprint: 'a'.repeat(64) })),
    rosterSha256: 'b'.repeat(64),
    issuedAt: Date.now(),
    version: fields.version ?? 1,
  });
}

/** A task's BFV contribution request, as JSON-safe fields (the plan as it travels). */
export function bfvRequest(keys: { plan: BfvPlan; publicKey: Uint8Array }, keyStatement?: SignedStudyKeyStatement): Record<string, unknown> {
  return { kind: 'bfv', plan: JSON.parse(JSON.stringify(keys.plan)), publicKey: keys.publicKey, ...(keyStatement ? { keyStatement } : {}) };
}

/** What enrolledSiteFixture's startWithParties makes. */
export interface SecaggParties {
  identities: ReturnType<typeof generateSiteIdentity>[];
  keys: Awaited<ReturnType<typeof bfvKeysFor>>;
  roster: { siteId: string; fingerprint: string }[];
  keyStatement: SignedStudyKeyStatement;
  /** A new task message of `roundId`: score column `score`, bfv under these keys and statement, threshold 2, deadline 2 min after the round's first task. */
  task(roundId: string): Message;
}

/**
 * What the secure-aggregation attacks share: an enrolled site-a (its own Ed25519 key, 150 scored rows) run as a real
 * agent against a scripted coordinator that sends every connection the challenge an enrolled agent signs. The agent,
 * the HE contexts the test makes and the coordinator are torn down after the file.
 */
export function enrolledSiteFixture(): {
  coordinator: ScriptedCoordinator;
  contexts: { dispose(): void }[];
  /** Writes site-a's directory (`policy`: flow-style YAML pairs) and starts its agent; resolves on its hello. */
  start(options: { siteKeyPem: string; policy: string }): Promise<void>;
  /** Kills the agent (SIGKILL) and starts it again on the same directory; resolves on its hello. */
  restart(): Promise<void>;
  /** Sends `message` and waits for the agent's answer to it: the expected type, or a coded error. */
  ask(message: Message, expected: Message['type']): Promise<Message>;
  /**
   * The parties of a securely aggregated study whose first site is site-a: a key for each of `sites`, the key holder,
   * BFV keys for `metricSpec`, the statement the key holder signs (release minimum 2, the sites as roster) and the
   * study's tasks; starts site-a's agent with min_sites 2 and the key holder pinned.
   */
  startWithParties(sites: string[], studyId: string, metricSpec: Record<string, unknown>): Promise<SecaggParties>;
} {
  const coordinator: ScriptedCoordinator = new ScriptedCoordinator(0, (socket) => {
    socket.send(encodeMessage(createMessage('challenge', { ...createChallenge({ audience: `ws://127.0.0.1:${coordinator.port}/ws` }) })));
  });
  const contexts: { dispose(): void }[] = [];
  let agent: ChildProcess | undefined;
  let config = '';
  const kill = async (): Promise<void> => {
    if (agent && agent.exitCode === null && agent.signalCode === null) {
      const exited = once(agent, 'exit');
      agent.kill('SIGKILL');
      await exited;
    }
  };
  const launch = async (): Promise<void> => {
    agent = spawn(process.execPath, ['site-agent/src/main.ts', 'start', '--config', config], { cwd: REPO_ROOT, stdio: 'ignore' });
    await coordinator.next((m) => m.type === 'hello', 30_000);
  };
  afterAll(async () => {
    for (const context of contexts) context.dispose();
    await kill();
    await coordinator.close();
  });
  const start = async ({ siteKeyPem, policy }: { siteKeyPem: string; policy: string }): Promise<void> => {
    if (coordinator.server.address() === null) await once(coordinator.server, 'listening');
    const dir = mkdtempSync(join(tmpdir(), 'fedval-adversarial-secagg-'));
    mkdirSync(join(dir, 'state'), { recursive: true, mode: 0o700 });
    writeFileSync(join(dir, 'state', 'site.key'), siteKeyPem, { mode: 0o600 });
    writeFileSync(join(dir, 'data.csv'), `score,status\n${scoredRows(150).join('\n')}\n`);
    config = join(dir, 'site.yaml');
    writeFileSync(
      config,
      [
        `coordinator: ws://127.0.0.1:${coordinator.port}/ws`,
        'site_id: site-a',
        'data: { path: ./data.csv, label: { column: status } }',
        'data_dir: ./state',
        `policy: { ${policy} }`,
        'limits: { reconnect_initial_ms: 100, reconnect_max_ms: 400 }',
        'log_level: warn',
      ].join('\n'),
    );
    await launch();
  };
  return {
    coordinator,
    contexts,
    start,
    async restart() {
      await kill();
      await launch();
    },
    async startWithParties(sites, studyId, metricSpec) {
      const keyHolder = generateSiteIdentity();
      const identities = sites.map(() => generateSiteIdentity());
      const keys = await bfvKeysFor(metricSpec, undefined, 100_000);
      contexts.push(keys.context);
      // site-a: a real agent with an enrolled key (data_dir/site.key) that pins the key holder's key.
      await start({ siteKeyPem: identities[0]!.privateKeyPem, policy: `require_dp: false, min_sites: 2, key_holder_keys: [${keyHolder.fingerprint}]` });
      const roster = sites.map((siteId, i) => ({ siteId, fingerprint: identities[i]!.fingerprint }));
      const keyStatement = keyStatementFor(keyHolder.privateKeyPem, keys, { studyId, minSites: 2, roster });
      // One deadline per round, fixed at its first task, as the coordinator keeps it: a site refuses a round's task
      // with another deadline (FEDVAL_ERR_AGENT_SECAGG_CHANGED).
      const deadlines = new Map<string, number>();
      const deadlineOf = (roundId: string): number => deadlines.get(roundId) ?? deadlines.set(roundId, Date.now() + 120_000).get(roundId)!;
      const task = (roundId: string): Message =>
        createMessage('task', {
          studyId,
          roundId,
          metricSpec,
          scorer: { kind: 'score_column', columns: ['score'] },
          contribution: { kind: 'bfv', plan: keys.plan, publicKey: keys.publicKey, keyStatement },
          deadline: deadlineOf(roundId),
          secureAggregation: { threshold: 2 },
        } as never);
      return { identities, keys, roster, keyStatement, task };
    },
    async ask(message, expected) {
      coordinator.send(message);
      return coordinator.next((m) => (m.type === expected || m.type === 'error') && m.replyTo === message.id, 60_000);
    },
  };
}

#!/usr/bin/env node
// main.ts — `fedval-agent`: run the site agent, evaluate a file locally, list subgroup levels.
import { mkdirSync, readFileSync, unlinkSync } from 'node:fs';
import { userInfo } from 'node:os';
import { basename, join } from 'node:path';
import { Option } from '@fedval/command-line';
import { finalizeMetrics, formatMetricsTable, resolveMetricSpec } from '@fedval/metrics';
import type { EvaluationCommandOptions, GroupSpec } from '@fedval/metrics';
import { collect, createProgram, logLineOptions, packageVersion, metricSpecOrUsageError, outcomeColumnsOrUsageError, runProgram, withEvaluationOptions } from '@fedval/command-line';
import { pino } from 'pino';
import { budgetFromEpsilon } from '@fedval/dp';
import { SiteAgent } from './agent.ts';
import { AgentMetrics } from './agent-metrics.ts';
import { enrollmentUrl, postEnrollment } from './enrollment.ts';
import type { EnrollmentAnswer } from './enrollment.ts';
import { loadAgentTls } from './tls.ts';
import {
  conflictingAnchors, formatAuditEntry, generateSiteIdentity, hashToken, isRoundEntry, parseAuditAnchor, parseAuditAnchors, readAuditLog,
  recordedAuditHeads, savePrivateKey, signEnrollment, verifyAuditLog, verifyCommitment,
} from '@fedval/trust';
import type { AuditVerification } from '@fedval/trust';
import { auditLogPath } from './audit-trail.ts';
import { PrivacyLedger } from './privacy-ledger.ts';
import { loadAgentConfig, SITE_KEY_FILE } from './config.ts';
import type { AgentConfig } from './config.ts';
import { decideModelRun } from './model-registry.ts';
import { openSiteState } from './site-state.ts';
import { AgentError } from './errors.ts';
import { agentExitStatus } from './connection-failures.ts';
import { LogDestination } from './log-destination.ts';
import { DEFAULT_MAX_CLOCK_SKEW_MS, formatCheckLines, runAgentChecks } from './agent-check.ts';
import { createParquetSource } from './data-sources/parquet-source.ts';
import { dataSourceName, openDataFile, openDataSource } from './data-sources/open-data-source.ts';
import type { DataSource } from './data-sources/data-source.ts';
import { evaluateDataset } from './evaluation.ts';
import { discoverGroupLevels, parseGroupArgument } from './group-levels.ts';
import { loadLocalModelScorer } from './model-scorer.ts';
import { scoreColumnScorer, withScorer } from './scorers.ts';

/** ms a stopping agent (SIGTERM, SIGINT, or a permanent connection error) has to close before it exits regardless. */
const STOP_TIMEOUT_MS = 5_000;

// Log lines never block the event loop, whatever the reader of stderr does (stalled, dead): SIGTERM is always handled.
const logDestination = new LogDestination(2);
process.stderr.on('error', () => undefined);
// JSON lines of the documented schema (README "Log lines", @fedval/command-line log-line.schema.json).
const logger = pino({ ...logLineOptions('fedval-agent'), level: process.env.FEDVAL_LOG_LEVEL ?? 'info' }, logDestination);

const program = createProgram({
  name: 'fedval-agent',
  description: 'fedval site agent: evaluates models on this site\'s data; only protected aggregate statistics leave the site',
  usageCode: 'FEDVAL_ERR_AGENT_USAGE',
  version: packageVersion(new URL('../package.json', import.meta.url)),
  internalCode: 'FEDVAL_ERR_AGENT_INTERNAL',
});

program
  .command('start')
  .description('connect to the coordinator and run evaluation tasks under this site\'s policy')
  .requiredOption('--config <file>', 'site configuration (YAML)')
  .action(async (options: { config: string }) => {
    const config = loadAgentConfig(options.config);
    logger.level = config.log_level;
    const log = logger.child({ siteId: config.site_id }); // every line of a running agent names its site
    const agent = new SiteAgent(config, log);
    const metrics = config.metrics ? new AgentMetrics(agent) : undefined;
    if (metrics && config.metrics) {
      const url = await metrics.listen(config.metrics.port, config.metrics.host);
      log.info({ event: 'metrics.listening', url }, 'metrics listening');
    }
    let stopping = false;
    const stopAndExit = (status: number): void => {
      stopping = true;
      // Bounded: whatever the socket, the database or the pipes do, the process ends within STOP_TIMEOUT_MS.
      const deadline = Date.now() + STOP_TIMEOUT_MS;
      setTimeout(() => process.exit(status), STOP_TIMEOUT_MS);
      const exit = (): void => void logDestination.drain(Math.max(0, deadline - Date.now() - 100)).then(() => process.exit(status));
      agent.stop().then(() => metrics?.close()).then(exit, exit);
    };
    agent.on('fatal', (error) => {
      const status = agentExitStatus(error.code);
      // One JSON line says why the agent stops (code, exit status, what to check): no plain-text line for a SIEM to trip on.
      log.error({ code: error.code, exitStatus: status }, error.message);
      stopAndExit(status);
    });
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      // process.on, not once: a handler that failed must not leave the next signal to the default (or to nothing).
      process.on(signal, () => {
        // A second signal while stopping exits at once; the first stops within STOP_TIMEOUT_MS.
        if (stopping) process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
        log.info({ signal }, 'stopping');
        stopAndExit(0);
      });
    }
    agent.start();
  });

program
  .command('check')
  .description('check the configuration, the data (columns, rows, missing values per column: counts only), the received models, then the coordinator: reachable, TLS, identity and clock; one line per check, exit 1 on a failure')
  .requiredOption('--config <file>', 'site configuration (YAML)')
  .option('--max-clock-skew-ms <ms>', 'largest tolerated clock difference with the coordinator', (value) => positiveInteger(value, '--max-clock-skew-ms'), DEFAULT_MAX_CLOCK_SKEW_MS)
  .option('--json', 'print one JSON document on stdout')
  .action(async (options: { config: string; maxClockSkewMs: number; json?: boolean }) => {
    const lines = await runAgentChecks(options.config, { log: logger, maxClockSkewMs: options.maxClockSkewMs });
    const failed = lines.filter((line) => line.status === 'fail');
    if (options.json) process.stdout.write(`${JSON.stringify({ ok: failed.length === 0, checks: lines }, null, 2)}\n`);
    else process.stdout.write(formatCheckLines(lines));
    if (failed.length > 0) {
      if (options.json) process.exitCode = 1;
      else throw new AgentError('FEDVAL_ERR_AGENT_CHECK', `${failed.length} of ${lines.length} checks failed: ${failed.map((line) => line.check).join(', ')}`);
    }
  });

program
  .command('enroll')
  .description('create this site\'s Ed25519 key (data_dir/site.key, never sent) and register its public key with the coordinator, using a one-time enrollment token')
  .requiredOption('--config <file>', 'site configuration (YAML) without token or token_file')
  .addOption(
    new Option('--token <token>', 'one-time enrollment token issued by the coordinator admin (prefer the environment variable: arguments are visible to other users)')
      .env('FEDVAL_ENROLLMENT_TOKEN')
      .makeOptionMandatory(),
  )
  .action(async (options: { config: string; token: string }) => {
    const config = loadAgentConfig(options.config, { enrolling: true });
    if (config.token !== null) {
      throw new AgentError('FEDVAL_ERR_AGENT_USAGE', 'remove token / token_file from the configuration: an enrolled site authenticates with its key');
    }
    const tls = loadAgentTls(config.tls); // before any key exists, so a TLS mistake leaves nothing behind
    const keyPath = join(config.data_dir, SITE_KEY_FILE);
    const identity = generateSiteIdentity();
    try {
      mkdirSync(config.data_dir, { recursive: true, mode: 0o700 });
      savePrivateKey(keyPath, identity.privateKeyPem); // refuses to overwrite an existing key
    } catch (cause) {
      throw new AgentError('FEDVAL_ERR_AGENT_SITE_KEY', `${(cause as { code?: string }).code ?? 'write failed'}: ${(cause as Error).message}`, { cause });
    }
    const url = enrollmentUrl(config.coordinator);
    // Proof that this site holds the key it registers, bound to this token.
    const proof = signEnrollment(identity.privateKeyPem, { siteId: config.site_id, publicKey: identity.publicKey, enrollmentTokenSha256: hashToken(options.token) });
    const body = { site_id: config.site_id, enrollment_token: options.token, public_key: identity.publicKey, signature: Buffer.from(proof).toString('base64') };
    const unsure = `the coordinator may have enrolled this key: compare ${identity.fingerprint} with key_fingerprint in its GET /api/sites; if it differs, move ${keyPath} away and enroll again with a new token`;
    let answer: EnrollmentAnswer;
    try {
      answer = await postEnrollment(url, body, tls);
    } catch (cause) {
      const code = (cause as { code?: unknown }).code;
      // Refused before anything was sent (no route, no such host, an untrusted certificate): nothing was enrolled.
      if (typeof code === 'string' && /^(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH)$|CERT|SELF_SIGNED|UNABLE_TO/.test(code)) {
        unlinkSync(keyPath);
        throw new AgentError('FEDVAL_ERR_AGENT_ENROLLMENT', `cannot reach ${url}: ${code}`, { cause });
      }
      throw new AgentError('FEDVAL_ERR_AGENT_ENROLLMENT', `no answer from ${url} (${(cause as Error).message}); ${unsure}`, { cause });
    }
    if (answer.status >= 400 && answer.status < 500) {
      unlinkSync(keyPath); // refused: nothing was enrolled, leave no key behind
      throw new AgentError('FEDVAL_ERR_AGENT_ENROLLMENT', `${answer.status} ${answer.body.error?.code ?? ''} ${answer.body.error?.message ?? ''}`.trim());
    }
    if (answer.status !== 201 || answer.body.fingerprint !== identity.fingerprint) {
      throw new AgentError('FEDVAL_ERR_AGENT_ENROLLMENT', `unexpected answer ${answer.status}; ${unsure}`);
    }
    const state = openSiteState(config.data_dir);
    try {
      state.audit.record({
        actor: `site:${config.site_id}`,
        action: 'site.enrolled',
        object: `coordinator:${config.coordinator}`,
        details: { site: config.site_id, fingerprint: identity.fingerprint, key_file: SITE_KEY_FILE },
      });
    } finally {
      state.close();
    }
    process.stdout.write(
      `enrolled ${config.site_id} with ${config.coordinator}\n` +
        `  key fingerprint ${identity.fingerprint}  (SHA-256 of the public key: compare it with the coordinator admin out of band)\n` +
        `  private key     ${keyPath}  (mode 0600; it never leaves this site)\n`,
    );
  });

withEvaluationOptions(
  program
    .command('eval-local')
    .description('compute the metrics on one local file; nothing is sent anywhere')
    .option('--data <file>', 'CSV file with a header row (a .parquet file is read as Parquet)')
    .option('--parquet <file>', 'Parquet file')
    .option('--config <file>', "a site configuration (YAML): its data section (data.path, data.parquet or data.postgres) is read"),
)
  .option('--json', 'print one JSON document on stdout')
  .option('--model-threads <n>', 'worker threads that run --model (0: the main thread; default: ONNX on the available cores up to 4, TF.js on the main thread)', parseModelThreads)
  .action(async (options: EvalLocalOptions) => {
    const requested = metricSpecOrUsageError(options, (message) => new AgentError('FEDVAL_ERR_AGENT_USAGE', message));
    const { source, name: file } = evalLocalSource(options);
    const spec = { ...resolveMetricSpec({ ...requested, groups: [] }), groups: options.group.map(parseGroupArgument) };
    const label = outcomeColumnsOrUsageError(options, (message) => new AgentError('FEDVAL_ERR_AGENT_USAGE', message));
    const scorer = options.model ? await loadLocalModelScorer(options.model, logger, { threads: options.modelThreads }) : scoreColumnScorer(options.score!.split(','));
    let lastShown = -1;
    const outcome = await withScorer(scorer, () => evaluateDataset({
      source,
      spec,
      label,
      scorer,
      onProgress: (percent) => {
        if (percent - lastShown >= 10 || percent === 100) {
          lastShown = percent;
          logger.info({ percent: Math.round(percent) }, 'evaluating');
        }
      },
    }));
    const metrics = finalizeMetrics(outcome.layout, outcome.vector);
    if (options.json) {
      process.stdout.write(`${JSON.stringify({ metrics, source: { file, scorer: scorer.description } }, null, 2)}\n`);
    } else {
      process.stdout.write(`${formatMetricsTable(metrics)}\n`);
    }
  });

program
  .command('levels')
  .description('list the distinct values of subgroup columns in a local file (names only, never counts)')
  .option('--data <file>', 'CSV file with a header row (a .parquet file is read as Parquet)')
  .option('--parquet <file>', 'Parquet file')
  .option('--config <file>', "a site configuration (YAML): its data section (data.path, data.parquet or data.postgres) is read")
  .requiredOption('--group <column>', 'column, repeatable', collect, [])
  .action(async (options: { data?: string; parquet?: string; config?: string; group: string[] }) => {
    const groups = await discoverGroupLevels(evalLocalSource(options).source, options.group.map(parseGroupArgument));
    process.stdout.write(`${JSON.stringify({ groups })}\n`);
  });

program
  .command('budget')
  .description('show this site\'s privacy budget: ε spent per round and left, from the agent\'s own ledger')
  .requiredOption('--config <file>', 'site configuration (YAML)')
  .option('--json', 'print one JSON document on stdout')
  .action((options: { config: string; json?: boolean }) => {
    const config = loadAgentConfig(options.config);
    const datasetId = config.privacy.dataset_id ?? `${config.site_id}:${dataSourceName(config.data)}`;
    const budget = budgetFromEpsilon({ totalEpsilon: config.privacy.total_epsilon, perRoundEpsilon: config.privacy.per_round_epsilon, delta: config.privacy.delta });
    const ledger = PrivacyLedger.open(config.data_dir);
    try {
      const status = ledger.status(datasetId, budget);
      const records = ledger.records(datasetId);
      const document = {
        dataset_id: datasetId,
        budget: { total_epsilon: config.privacy.total_epsilon, per_round_epsilon: config.privacy.per_round_epsilon, delta: config.privacy.delta, total_rho: budget.totalRho },
        spent: { rho: status.spentRho, epsilon: status.spentEpsilon },
        remaining: { rho: status.remainingRho },
        // epsilon: the round's guarantee when the other sites' noise shares are honest; own_share_epsilon: what this
        // site's own share alone gives if every other party colludes (null for rounds charged before it was recorded).
        // refund: a securely aggregated round that can never be unmasked costs nothing (reason and time), else null.
        rounds: records.map((r) => ({ at: r.at, study_id: r.studyId, round_id: r.roundId, rho: r.rho, epsilon: r.epsilon, own_share_epsilon: r.ownShareEpsilon, delta: r.delta, refund: r.refund })),
      };
      if (options.json) process.stdout.write(`${JSON.stringify(document, null, 2)}\n`);
      else {
        process.stdout.write(
          `dataset ${datasetId}: spent ε = ${status.spentEpsilon.toFixed(3)} of ${config.privacy.total_epsilon} at δ = ${config.privacy.delta} ` +
            `(ρ ${status.spentRho.toFixed(5)} of ${budget.totalRho.toFixed(5)}); ${records.length} round(s)\n`,
        );
        for (const r of records) {
          const refund = r.refund ? `  refunded ${r.refund.at} (${r.refund.reason})` : '';
          process.stdout.write(`  ${r.at}  study ${r.studyId}  round ${r.roundId}  ε ${r.epsilon.toFixed(2)}  own-share ε ${r.ownShareEpsilon === null ? '?' : r.ownShareEpsilon.toFixed(2)}  ρ ${r.rho.toFixed(5)}${refund}\n`);
        }
      }
    } finally {
      ledger.close();
    }
  });

const audit = program.command('audit').description('the site\'s own audit trail (data_dir/audit.jsonl): verify it, read it, open a dataset commitment');

audit
  .command('verify')
  .description('check the hash chain of the audit log: exit 0 when intact, 1 naming the first broken entry')
  .option('--config <file>', 'site configuration (YAML)')
  .option('--dir <data_dir>', 'the agent\'s data directory, instead of --config')
  .option('--anchor <seq:hash>', 'a head of this log another party kept (the coordinator records one with each result), repeatable', collect, [])
  .option('--anchors <file>', 'heads in a JSON file, as `fedval audit anchors --party site:ID --json` prints them from the coordinator\'s trail')
  .option('--json', 'print one JSON document on stdout')
  .action((options: { config?: string; dir?: string; anchor: string[]; anchors?: string; json?: boolean }) => {
    const path = auditLogPath(dataDirOf(options));
    const anchors = guardAudit(() => [
      ...options.anchor.map(parseAuditAnchor),
      ...(options.anchors ? parseAuditAnchors(readFileSync(options.anchors, 'utf8')) : []),
    ]);
    const verification = guardAudit(() => verifyAuditLog(path, { anchors }));
    if (options.json) {
      process.stdout.write(`${JSON.stringify({ path, ...verification }, null, 2)}\n`);
      if (!verification.ok) process.exitCode = 1;
      return;
    }
    if (!verification.ok) throw new AgentError('FEDVAL_ERR_AGENT_AUDIT', describeBreak(path, verification));
    process.stdout.write(`${path}: intact, ${verification.entries} entries, head ${verification.head}\n`);
  });

audit
  .command('anchors')
  .description("the coordinator's audit trail heads this site kept (sent with each welcome and task): anchors for `fedval audit verify --anchors`")
  .option('--config <file>', 'site configuration (YAML)')
  .option('--dir <data_dir>', 'the agent\'s data directory, instead of --config')
  .option('--json', 'print one JSON document on stdout')
  .action((options: { config?: string; dir?: string; json?: boolean }) => {
    const path = auditLogPath(dataDirOf(options));
    const { verification, entries } = guardAudit(() => readAuditLog(path));
    const anchors = recordedAuditHeads(entries, 'coordinator');
    const conflicts = conflictingAnchors(anchors);
    if (options.json) process.stdout.write(`${JSON.stringify({ party: 'coordinator', file: path, verification, anchors, conflicts }, null, 2)}\n`);
    else for (const anchor of anchors) process.stdout.write(`${anchor.seq}:${anchor.hash}\n`);
    if (conflicts.length > 0) {
      process.stderr.write(`fedval-agent: the coordinator sent two different heads for seq ${conflicts.join(', ')}: it showed two histories\n`);
      process.exitCode = 1;
    }
    if (!verification.ok) {
      process.stderr.write(`fedval-agent: heads read up to the break: ${describeBreak(path, verification)}\n`);
      process.exitCode = 1;
    }
  });

audit
  .command('show')
  .description('print the audit log (verified first) in plain text')
  .requiredOption('--config <file>', 'site configuration (YAML)')
  .option('--round <id>', 'only the entries of this round')
  .option('--json', 'print the entries as one JSON document')
  .action((options: { config: string; round?: string; json?: boolean }) => {
    const path = auditLogPath(loadAgentConfig(options.config).data_dir);
    const { verification, entries } = guardAudit(() =>
      readAuditLog(path, options.round ? { select: (entry) => isRoundEntry(entry, options.round!) } : {}),
    );
    if (options.json) process.stdout.write(`${JSON.stringify({ path, verification, entries }, null, 2)}\n`);
    else for (const entry of entries) process.stdout.write(`${formatAuditEntry(entry)}\n`);
    if (!verification.ok) {
      if (!options.json) process.stderr.write(`fedval-agent: the log breaks after these entries: ${describeBreak(path, verification)}\n`);
      process.exitCode = 1;
    }
  });

audit
  .command('prove')
  .description('for an inspector: the data file fingerprint and salt behind the dataset commitment this site sent for a round')
  .requiredOption('--config <file>', 'site configuration (YAML)')
  .requiredOption('--round <id>', 'round id')
  .option('--json', 'print one JSON document on stdout')
  .action((options: { config: string; round: string; json?: boolean }) => {
    const config = loadAgentConfig(options.config);
    const state = openSiteState(config.data_dir);
    try {
      const records = state.commitments.forRound(options.round);
      if (records.length === 0) throw new AgentError('FEDVAL_ERR_AGENT_ROUND_UNKNOWN', options.round);
      const proofs = records.map((record) => ({ ...record, verified: verifyCommitment(record.commitment, record.salt, record.fingerprint) }));
      if (options.json) {
        process.stdout.write(`${JSON.stringify({ round: options.round, commitments: proofs }, null, 2)}\n`);
        return;
      }
      for (const proof of proofs) {
        process.stdout.write(
          [
            `round ${proof.roundId} (study ${proof.studyId}), dataset ${proof.datasetId}, file ${proof.dataFile}, committed ${proof.at}`,
            proof.dataFile.startsWith('postgres:')
              ? `  fingerprint  ${proof.fingerprint}   (SHA-256 of the SQL executed and every cell read: site-agent README, "Data sources")`
              : `  fingerprint  ${proof.fingerprint}   (SHA-256 of the data file's bytes)`,
            `  salt         ${proof.salt}`,
            `  commitment   ${proof.commitment}   (SHA-256 of salt ‖ fingerprint, as raw bytes; sent to the coordinator)`,
            `  check: ${proof.dataFile.startsWith('postgres:') ? 'the same query over the locked snapshot gives the fingerprint' : 'sha256sum <locked data file> prints the fingerprint'}; SHA-256(salt ‖ fingerprint) ${proof.verified ? 'equals' : 'DOES NOT equal'} the commitment`,
          ].join('\n') + '\n',
        );
      }
    } finally {
      state.close();
    }
  });

program
  .command('models')
  .description('list the model bundles this site has received: signer, inputs, and whether they may run')
  .requiredOption('--config <file>', 'site configuration (YAML)')
  .option('--pending', 'only bundles waiting for approval')
  .option('--json', 'print one JSON document on stdout')
  .action((options: { config: string; pending?: boolean; json?: boolean }) => {
    const config = loadAgentConfig(options.config);
    const state = openSiteState(config.data_dir);
    try {
      const models = state.models
        .list()
        .map((model) => ({ ...model, status: modelStatus(config, model.signerFingerprint, model.approval !== null) }))
        .filter((model) => !options.pending || model.status === 'pending approval');
      if (options.json) {
        process.stdout.write(`${JSON.stringify({ models }, null, 2)}\n`);
        return;
      }
      if (models.length === 0) process.stdout.write(options.pending ? 'no bundle is waiting for approval\n' : 'no model bundle received yet\n');
      for (const model of models) {
        process.stdout.write(
          [
            `${model.bundleSha256}  ${model.name} ${model.version}  [${model.status}]`,
            `  signer   ${model.signerFingerprint ?? 'unsigned'}`,
            `  inputs   ${model.inputs.join(', ')}`,
            `  received ${model.receivedAt}${model.approval ? `; approved ${model.approval.at} by ${model.approval.by}` : ''}`,
            `  files    ${config.data_dir}/models/${model.bundleSha256}/`,
          ].join('\n') + '\n',
        );
      }
    } finally {
      state.close();
    }
  });

program
  .command('approve')
  .description('approve a received model bundle (by its SHA-256, from `fedval-agent models`) so this site runs it')
  .argument('<bundle-sha256>', 'SHA-256 of the bundle\'s manifest.json')
  .requiredOption('--config <file>', 'site configuration (YAML)')
  .option('--note <text>', 'why it was approved, recorded in the audit log')
  .action((sha: string, options: { config: string; note?: string }) => {
    if (!/^[0-9a-f]{64}$/.test(sha)) throw new AgentError('FEDVAL_ERR_AGENT_USAGE', 'the bundle id is 64 lowercase hex digits');
    const config = loadAgentConfig(options.config);
    const state = openSiteState(config.data_dir);
    try {
      const model = state.models.get(sha);
      if (!model) throw new AgentError('FEDVAL_ERR_AGENT_MODEL_UNKNOWN', 'see `fedval-agent models` for the bundles received');
      if (model.signerFingerprint === null) {
        throw new AgentError('FEDVAL_ERR_AGENT_MODEL_SIGNATURE', 'an unsigned bundle cannot be approved; ask the sponsor for a signed one');
      }
      const user = userInfo().username;
      state.audit.record(
        {
          actor: 'site_admin',
          action: 'model.approved',
          object: `model:${sha}`,
          reason: options.note ?? null,
          details: { bundle_sha256: sha, name: model.name, version: model.version, signer: model.signerFingerprint, user },
        },
        () => state.models.approve(sha, user, options.note ?? null),
      );
      process.stdout.write(`approved ${model.name} ${model.version} (${sha}), signed by ${model.signerFingerprint}\n`);
    } finally {
      state.close();
    }
  });

function positiveInteger(value: string, option: string): number {
  if (!/^[1-9]\d{0,9}$/.test(value)) throw new AgentError('FEDVAL_ERR_AGENT_USAGE', `${option}: a positive whole number of milliseconds`);
  return Number(value);
}

function dataDirOf(options: { config?: string; dir?: string }): string {
  if (Boolean(options.config) === Boolean(options.dir)) throw new AgentError('FEDVAL_ERR_AGENT_USAGE', 'give exactly one of --config or --dir');
  return options.dir ?? loadAgentConfig(options.config!).data_dir;
}

/** Reading errors of @fedval/trust (unreadable log, bad anchors) as this program's coded error. */
function guardAudit<T>(read: () => T): T {
  try {
    return read();
  } catch (cause) {
    throw new AgentError('FEDVAL_ERR_AGENT_AUDIT', `${(cause as { code?: string }).code ?? 'read failed'}: ${(cause as Error).message}`, { cause });
  }
}

function describeBreak(path: string, verification: Extract<AuditVerification, { ok: false }>): string {
  const seq = verification.seq === undefined ? '' : ` (seq ${verification.seq})`;
  return `${path} line ${verification.line}${seq}: ${verification.reason}: ${verification.detail}; the ${verification.intactEntries} entries before it are intact`;
}

/** What policy.model_approval makes of a received bundle now, in the words of `fedval-agent models`. */
function modelStatus(config: AgentConfig, signer: string | null, approved: boolean): string {
  try {
    return `runs: ${decideModelRun(config.policy, signer, approved).replace('_', ' ')}`;
  } catch (error) {
    const code = (error as AgentError).code;
    return code === 'FEDVAL_ERR_AGENT_MODEL_NOT_APPROVED' ? 'pending approval' : `refused: ${code}`;
  }
}

interface EvalLocalOptions extends EvaluationCommandOptions {
  data?: string;
  parquet?: string;
  config?: string;
  json?: boolean;
  modelThreads?: number;
}

/** --model-threads: a whole number of worker threads, 0 to 64. */
function parseModelThreads(text: string): number {
  const threads = Number(text);
  if (!/^\d+$/.test(text) || threads > 64) throw new AgentError('FEDVAL_ERR_AGENT_USAGE', `--model-threads takes a whole number from 0 to 64, not ${JSON.stringify(text)}`);
  return threads;
}

/** eval-local's data: a file named by --data or --parquet, or the data section of a site configuration (--config). */
function evalLocalSource(options: { data?: string | undefined; parquet?: string | undefined; config?: string | undefined }): { source: DataSource; name: string } {
  if (options.config === undefined) return { source: localDataSource(options), name: basename(localDataFile(options)) };
  if (options.data !== undefined || options.parquet !== undefined) throw new AgentError('FEDVAL_ERR_AGENT_USAGE', 'give exactly one of --data FILE, --parquet FILE or --config FILE');
  // Only the data section is used: the site need not be enrolled or hold a token to evaluate locally.
  const config = loadAgentConfig(options.config, { enrolling: true });
  const source = openDataSource(config.data, {
    batchRows: config.limits.batch_rows,
    maxRows: config.limits.max_rows,
    threads: config.limits.engine_threads,
    streamThreads: config.limits.engine_stream_threads,
    memoryLimit: config.limits.engine_memory_limit,
  });
  return { source, name: dataSourceName(config.data) };
}

/** The file named by exactly one of --data and --parquet. */
function localDataFile(options: { data?: string | undefined; parquet?: string | undefined }): string {
  if ((options.data === undefined) === (options.parquet === undefined)) throw new AgentError('FEDVAL_ERR_AGENT_USAGE', 'give exactly one of --data FILE or --parquet FILE');
  return (options.data ?? options.parquet)!;
}

function localDataSource(options: { data?: string | undefined; parquet?: string | undefined }): DataSource {
  const file = localDataFile(options);
  return options.parquet !== undefined ? createParquetSource({ path: file }) : openDataFile(file);
}

await runProgram(program);

// agent.ts — the site agent daemon: connects outbound, authenticates, runs tasks under site policy, sends protected results.
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { basename } from 'node:path';
import { budgetFromEpsilon, createPrivateRelease, cryptoRandomSource, DpError, resolvePrivacySpec } from '@fedval/dp';
import type { PrivacyBudget } from '@fedval/dp';
import { createHeContext, encryptVector } from '@fedval/he';
import { attestationSha256, commitToFingerprint, createNonce, loadPrivateKey, signChallenge, signResult } from '@fedval/trust';
import type { PrivacyAttestation, ResultAttestation } from '@fedval/trust';
import type { KeyObject } from 'node:crypto';
import type { AuditEntry, AuditEvent } from '@fedval/trust';
import { resolveMetricSpec } from '@fedval/metrics';
import type { MetricSpec, StatisticsLayout } from '@fedval/metrics';
import { createErrorMessage, createMessage, decodeMessage, encodeMessage, toWireError } from '@fedval/protocol';
import type { ChallengeContent, Contribution, Message, ResultSignature, TaskContent } from '@fedval/protocol';
import type { Logger } from 'pino';
import WebSocket from 'ws';
import type { AgentConfig } from './config.ts';
import { loadAgentTls } from './tls.ts';
import type { SentContribution } from './sent-contributions.ts';
import type { AgentTlsOptions } from './tls.ts';
import { AgentError } from './errors.ts';
import { evaluateDataset } from './evaluation.ts';
import { decideModelRun } from './model-registry.ts';
import type { ModelRunBasis } from './model-registry.ts';
import { loadLocalModelScorer, receiveModelBundle } from './model-scorer.ts';
import type { ReceivedBundle } from './model-scorer.ts';
import { scoreColumnScorer } from './scorers.ts';
import { openSiteState } from './site-state.ts';
import type { SiteState } from './site-state.ts';

export const AGENT_VERSION = '0.1.0';

export interface SiteAgentEvents {
  connected: [];
  disconnected: [code: number];
  'task-finished': [roundId: string, outcome: 'contributed' | 'refused', code?: string];
  'fatal': [error: AgentError];
}

/** Runs one site's agent until stopped. Emits events for supervision and tests; logs carry no data values. */
export class SiteAgent extends EventEmitter<SiteAgentEvents> {
  readonly #config: AgentConfig;
  readonly #log: Logger;
  #socket: WebSocket | undefined;
  #stopped = false;
  #attempt = 0;
  #reconnectTimer: NodeJS.Timeout | undefined;
  #running: { roundId: string; abort: AbortController } | undefined;
  #state: SiteState | undefined;
  /** The enrolled site's private key (config.site_key), loaded at start; undefined for a token-configured site. */
  #siteKey: KeyObject | undefined;
  /** CA and client certificate for a wss:// coordinator (config.tls), read at start. */
  #tls: AgentTlsOptions = {};

  constructor(config: AgentConfig, logger: Logger) {
    super();
    this.#config = config;
    this.#log = logger;
  }

  /**
   * Opens the site's state (agent.sqlite, audit.jsonl: a broken audit chain stops the agent here with
   * FEDVAL_ERR_AGENT_AUDIT), records `config.loaded`, and connects.
   */
  start(): void {
    this.#stopped = false;
    if (this.#config.site_key !== null && !this.#siteKey) {
      try {
        this.#siteKey = loadPrivateKey(this.#config.site_key);
      } catch (cause) {
        throw new AgentError('FEDVAL_ERR_AGENT_SITE_KEY', `${(cause as { code?: string }).code ?? 'unreadable'}: ${(cause as Error).message}`, { cause });
      }
    }
    this.#tls = loadAgentTls(this.#config.tls);
    this.#state ??= openSiteState(this.#config.data_dir);
    const source = this.#config.source;
    this.#record({
      action: 'config.loaded',
      object: `config:${source ? basename(source.path) : 'inline'}`,
      details: {
        sha256: source?.sha256 ?? null,
        agent_version: AGENT_VERSION,
        model_approval: this.#config.policy.model_approval,
        trusted_sponsor_keys: [...this.#config.policy.trusted_sponsor_keys],
      },
    });
    this.#connect();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#reconnectTimer);
    this.#running?.abort.abort();
    const socket = this.#socket;
    if (socket && socket.readyState !== WebSocket.CLOSED) {
      await new Promise<void>((resolve) => {
        socket.once('close', () => resolve());
        socket.close(1000, 'agent stopping');
        setTimeout(() => {
          socket.terminate();
          resolve();
        }, 2000).unref();
      });
    }
    this.#state?.close();
    this.#state = undefined;
  }

  #connect(): void {
    const socket = new WebSocket(this.#config.coordinator, { maxPayload: this.#config.limits.max_message_bytes, handshakeTimeout: 10_000, ...this.#tls });
    this.#socket = socket;
    socket.binaryType = 'nodebuffer';
    socket.on('open', () => {
      this.#log.info({ coordinator: this.#config.coordinator }, 'connected; authenticating');
      // A token site says hello at once (and ignores the challenge); an enrolled site answers the challenge.
      if (this.#config.token !== null) this.#sendHello({ token: this.#config.token });
    });
    socket.on('message', (data, isBinary) => {
      if (!isBinary) {
        this.#log.warn('ignored a text frame from the coordinator');
        return;
      }
      void this.#onFrame(data as Buffer);
    });
    socket.on('error', (error) => this.#log.warn({ err: { message: error.message } }, 'connection error'));
    socket.on('close', (code) => {
      this.emit('disconnected', code);
      if (this.#socket === socket) this.#socket = undefined;
      if (code === 4401 || code === 4409) {
        const error =
          code === 4401
            ? new AgentError('FEDVAL_ERR_AGENT_UNAUTHORIZED', this.#siteKey ? 'check site_id and that this site key is the enrolled one' : 'check site_id and token')
            : new AgentError('FEDVAL_ERR_AGENT_REPLACED', 'another agent connected with this site id');
        this.#log.error({ code: error.code }, error.message);
        this.#recordQuietly({ action: 'connection.refused', object: `coordinator:${this.#config.coordinator}`, reason: error.code, details: { close_code: code } });
        this.emit('fatal', error);
        this.#stopped = true;
        return;
      }
      if (!this.#stopped) this.#scheduleReconnect();
    });
  }

  #sendHello(credential: { token: string } | { signature: Uint8Array }): void {
    this.#send(
      createMessage('hello', {
        siteId: this.#config.site_id,
        ...('token' in credential ? { token: credential.token } : { signature: new Uint8Array(credential.signature) }),
        agentVersion: AGENT_VERSION,
        capabilities: { tasks: [...this.#config.policy.allowed_tasks], contributions: [...this.#config.policy.allowed_contributions] },
      }),
    );
  }

  /** Signs the connection challenge, only if it names the coordinator this site is configured for (@fedval/trust signChallenge). */
  #answerChallenge(challenge: ChallengeContent): void {
    if (!this.#siteKey) return;
    let signature: Uint8Array;
    try {
      signature = signChallenge(this.#siteKey, challenge, { siteId: this.#config.site_id, purpose: 'connect', expectedAudience: normalizedCoordinatorUrl(this.#config.coordinator) });
    } catch (cause) {
      const error = new AgentError('FEDVAL_ERR_AGENT_CHALLENGE', `expected ${normalizedCoordinatorUrl(this.#config.coordinator)}`, { cause });
      this.#log.error({ code: error.code }, error.message);
      this.#recordQuietly({ action: 'connection.refused', object: `coordinator:${this.#config.coordinator}`, reason: error.code, details: { code: error.code } });
      this.#stopped = true;
      this.emit('fatal', error);
      this.#socket?.close(1008, error.code);
      return;
    }
    this.#sendHello({ signature });
  }

  /** An enrolled site's signature over the result (@fedval/trust signResult); none for a token site. */
  #signResult(roundId: string, contributionSha256: string, attestation: ResultAttestation): ResultSignature | undefined {
    if (!this.#siteKey) return undefined;
    // The attestation (privacy spent, dataset commitment, audit head) is signed too, through its canonical SHA-256.
    const fields = {
      roundId,
      siteId: this.#config.site_id,
      contributionSha256,
      nonce: createNonce(),
      sentAt: Date.now(),
      attestationSha256: attestationSha256(attestation),
    };
    return { nonce: fields.nonce, sentAt: fields.sentAt, signature: new Uint8Array(signResult(this.#siteKey, fields)) };
  }

  #scheduleReconnect(): void {
    const { reconnect_initial_ms: initial, reconnect_max_ms: max } = this.#config.limits;
    const ceiling = Math.min(max, initial * 2 ** this.#attempt);
    const delay = Math.round(ceiling / 2 + Math.random() * (ceiling / 2)); // exponential backoff, equal jitter
    this.#attempt += 1;
    this.#log.info({ delayMs: delay, attempt: this.#attempt }, 'reconnecting');
    this.#reconnectTimer = setTimeout(() => this.#connect(), delay);
  }

  async #onFrame(data: Buffer): Promise<void> {
    let message: Message;
    try {
      message = decodeMessage(data, { maxMessageBytes: this.#config.limits.max_message_bytes });
    } catch (error) {
      this.#log.warn({ code: toWireError(error).code }, 'refused a malformed message from the coordinator');
      this.#send(createErrorMessage(toWireError(error)));
      return;
    }
    switch (message.type) {
      case 'challenge':
        this.#answerChallenge(message.content);
        return;
      case 'welcome':
        this.#attempt = 0;
        this.#log.info('authenticated');
        this.#recordQuietly({ action: 'connection.established', object: `coordinator:${this.#config.coordinator}`, details: {} });
        this.emit('connected');
        return;
      case 'heartbeat':
        if (!message.replyTo) this.#send(createMessage('heartbeat', {}, message.id));
        return;
      case 'task':
        await this.#onTask(message.id, message.content);
        return;
      case 'task.cancel':
        if (this.#running?.roundId === message.content.roundId) {
          this.#log.info({ roundId: message.content.roundId, code: message.content.reason.code }, 'task cancelled by coordinator');
          this.#running.abort.abort(new AgentError('FEDVAL_ERR_AGENT_CANCELLED'));
        }
        return;
      case 'error':
        this.#log.warn({ code: message.error.code, message: message.error.message }, 'coordinator reported an error');
        return;
      default:
        this.#log.warn({ type: message.type }, 'ignored a message type the coordinator does not send');
    }
  }

  async #onTask(requestId: string, task: TaskContent): Promise<void> {
    const { roundId } = task;
    const object = `round:${roundId}`;
    const log = this.#log.child({ roundId, studyId: task.studyId });
    if (this.#running?.roundId === roundId) {
      // The coordinator lost our connection while this task ran: the result will go out on the new one.
      log.info('task sent again while it runs; its result will follow on this connection');
      this.#send(createMessage('task.accept', { roundId }, requestId));
      return;
    }
    // A task this site already answered (the connection dropped, or the agent restarted): the same bytes again.
    let earlier: SentContribution | undefined;
    try {
      earlier = this.#siteState().sent.find(roundId);
    } catch (error) {
      log.error({ code: toWireError(error).code }, 'cannot read the contributions already sent; the ledger decides');
    }
    if (earlier) return this.#resendContribution(requestId, earlier, log);
    const refuse = (error: unknown): void => {
      const reason = toWireError(error, 'FEDVAL_ERR_AGENT_INVALID_TASK');
      this.#recordQuietly({ action: 'task.refused', object, reason: reason.code, details: { study: task.studyId, code: reason.code } });
      log.warn({ code: reason.code, reason: reason.message }, 'task refused');
      this.#send(createMessage('task.refuse', { roundId, reason }, requestId));
      this.emit('task-finished', roundId, 'refused', reason.code);
    };
    let spec: MetricSpec;
    try {
      this.#record({
        action: 'task.received',
        object,
        details: {
          study: task.studyId,
          scorer: task.scorer.kind,
          bundle_sha256: task.scorer.kind === 'model' ? task.scorer.bundleSha256 : null,
          contribution: task.contribution.kind,
          dp: Boolean(task.privacy),
        },
      });
      if (this.#running) throw new AgentError('FEDVAL_ERR_AGENT_BUSY');
      // Charged before, and the contribution made then is no longer held (its deadline passed): a second noisy release
      // of the same round would spend the budget twice for one result.
      if (this.#ledger().hasCharged(roundId)) throw new AgentError('FEDVAL_ERR_AGENT_ROUND_REPEATED', roundId);
      spec = resolveMetricSpec(task.metricSpec as Partial<MetricSpec>);
      this.#checkPolicy(spec, task);
    } catch (error) {
      return refuse(error);
    }
    const abort = new AbortController();
    const deadlineTimer = setTimeout(() => abort.abort(new AgentError('FEDVAL_ERR_AGENT_DEADLINE')), Math.max(0, task.deadline - Date.now()));
    this.#running = { roundId, abort };
    try {
      const bundle = task.scorer.kind === 'model' ? await this.#admitModel(task.scorer, roundId) : undefined;
      abort.signal.throwIfAborted();
      this.#record({
        action: 'task.accepted',
        object,
        details: {
          study: task.studyId,
          task: spec.task,
          contribution: task.contribution.kind,
          bundle_sha256: bundle?.bundleSha256 ?? null,
          model_basis: bundle?.basis ?? null,
        },
      });
      this.#send(createMessage('task.accept', { roundId }, requestId));
      log.info({ task: spec.task, scorer: task.scorer.kind, contribution: task.contribution.kind }, 'task accepted');
      const progress = this.#progressReporter(roundId);
      progress('loading_model', 0);
      const scorer = bundle
        ? await loadLocalModelScorer(bundle.dir, this.#log, this.#config.limits.batch_rows, bundle.bundleSha256)
        : scoreColumnScorer(task.scorer.kind === 'score_column' ? task.scorer.columns : []);
      const dataFingerprint = createHash('sha256');
      const outcome = await evaluateDataset({
        source: {
          path: this.#config.data.path,
          delimiter: this.#config.data.delimiter,
          columns: this.#config.data.columns,
          chunkRows: this.#config.limits.batch_rows,
          maxRows: this.#config.limits.max_rows,
          onBytes: (bytes) => dataFingerprint.update(bytes),
        },
        spec,
        label: this.#config.data.label,
        scorer,
        onProgress: (percent) => progress('evaluating', percent),
        signal: abort.signal,
      });
      abort.signal.throwIfAborted();
      if (outcome.included < this.#config.policy.min_cohort) {
        throw new AgentError('FEDVAL_ERR_AGENT_POLICY_MIN_COHORT', `site minimum is ${this.#config.policy.min_cohort}`);
      }
      progress('protecting', 100);
      const { vector: released, privacy } = this.#applyPrivacy(outcome.layout, outcome.vector, task);
      const datasetCommitment = this.#commitToDataset(task, dataFingerprint.digest('hex'));
      const contribution = await this.#protect(released, task);
      abort.signal.throwIfAborted();
      progress('sending', 100);
      const contributionSha256 = hashContribution(contribution);
      // Written and fsynced before the message leaves: a crash can lose a contribution, never hide one.
      const sent = this.#record({
        action: 'contribution.sent',
        object,
        details: {
          site: this.#config.site_id,
          round: roundId,
          study: task.studyId,
          sha256: contributionSha256,
          bytes: contributionBytes(contribution),
          kind: contribution.kind,
          epsilon: privacy?.epsilon ?? null,
          dataset_commitment: datasetCommitment,
        },
      });
      const attestation = {
        ...(privacy ? { privacy } : {}),
        dataset_commitment: datasetCommitment,
        audit_head: { seq: sent.seq, hash: sent.hash },
      };
      this.#siteState().sent.keep({ roundId, studyId: task.studyId, deadline: task.deadline, contribution, contributionSha256, attestation });
      const signature = this.#signResult(roundId, contributionSha256, attestation);
      this.#send(createMessage('task.result', { roundId, contribution, contributionSha256, attestation, ...(signature ? { signature } : {}) }, requestId));
      log.info({ contributionSha256, kind: contribution.kind, entries: released.length, scorer: scorer.description, privacy }, 'contribution sent');
      this.emit('task-finished', roundId, 'contributed');
    } catch (error) {
      refuse(abort.signal.aborted && abort.signal.reason instanceof AgentError ? abort.signal.reason : error);
    } finally {
      clearTimeout(deadlineTimer);
      this.#running = undefined;
    }
  }

  /**
   * Answers a repeated task with the contribution already made for its round, byte for byte (freshly signed when the
   * site is enrolled); audited as `contribution.resent` before it leaves. No data is read and no privacy is charged.
   */
  #resendContribution(requestId: string, sent: SentContribution, log: Logger): void {
    const { roundId, contribution, contributionSha256, attestation } = sent;
    try {
      this.#record({
        action: 'contribution.resent',
        object: `round:${roundId}`,
        details: { site: this.#config.site_id, round: roundId, study: sent.studyId, sha256: contributionSha256, bytes: contributionBytes(contribution), kind: contribution.kind },
      });
    } catch (error) {
      log.error({ code: toWireError(error).code }, 'cannot record the re-sent contribution; not sending it');
      return;
    }
    const signature = this.#signResult(roundId, contributionSha256, attestation);
    this.#send(createMessage('task.accept', { roundId }, requestId));
    this.#send(createMessage('task.result', { roundId, contribution, contributionSha256, attestation, ...(signature ? { signature } : {}) }, requestId));
    log.info({ contributionSha256 }, 'task sent again after a lost connection: the same contribution re-sent, nothing recomputed or charged');
    this.emit('task-finished', roundId, 'contributed');
  }

  #checkPolicy(spec: MetricSpec, task: TaskContent): void {
    const { policy } = this.#config;
    if (!policy.allowed_tasks.includes(spec.task)) throw new AgentError('FEDVAL_ERR_AGENT_POLICY_TASK', spec.task);
    if (!policy.allowed_contributions.includes(task.contribution.kind)) {
      throw new AgentError('FEDVAL_ERR_AGENT_POLICY_CONTRIBUTION', task.contribution.kind);
    }
    if (policy.allowed_group_columns) {
      const refused = spec.groups.map((group) => group.column).filter((column) => !policy.allowed_group_columns!.includes(column));
      if (refused.length > 0) throw new AgentError('FEDVAL_ERR_AGENT_POLICY_GROUPS', `not in policy.allowed_group_columns: ${refused.join(', ')}`);
    }
    if (task.deadline <= Date.now()) throw new AgentError('FEDVAL_ERR_AGENT_DEADLINE');
    if (!task.privacy && policy.require_dp) throw new AgentError('FEDVAL_ERR_AGENT_POLICY_REQUIRES_DP', 'set policy.require_dp: false to allow exact releases');
  }

  /**
   * Receives a task's model bundle (manifest hash and sponsor signature checked, cached for review), records it in the
   * site's registry, and applies policy.model_approval: returns the bundle to run, or throws the coded refusal. A
   * bundle that is refused for want of approval stays in the cache and the registry for `fedval-agent models`.
   */
  async #admitModel(scorer: Extract<TaskContent['scorer'], { kind: 'model' }>, roundId: string): Promise<ReceivedBundle & { basis: ModelRunBasis }> {
    const bundle = await receiveModelBundle(scorer, this.#config.data_dir);
    const state = this.#siteState();
    const received = state.models.recordReceived({
      bundleSha256: bundle.bundleSha256,
      name: bundle.manifest.name,
      version: bundle.manifest.version,
      inputs: bundle.manifest.inputs.map((input) => input.column),
      signerFingerprint: bundle.signerFingerprint,
    });
    this.#record({
      action: 'model.verified',
      object: `model:${bundle.bundleSha256}`,
      details: { round: roundId, bundle_sha256: bundle.bundleSha256, signer: bundle.signerFingerprint, approved_by_site_admin: received.approval !== null },
    });
    return { ...bundle, basis: decideModelRun(this.#config.policy, bundle.signerFingerprint, received.approval !== null) };
  }

  /** Commits to the exact bytes evaluated: keeps fingerprint and salt at the site (database, audit), returns the commitment to send. */
  #commitToDataset(task: TaskContent, fingerprint: string): string {
    const { commitment, salt } = commitToFingerprint(fingerprint);
    const record = { studyId: task.studyId, roundId: task.roundId, datasetId: this.#datasetId(), dataFile: basename(this.#config.data.path), fingerprint, salt, commitment };
    const state = this.#siteState();
    this.#record(
      {
        action: 'dataset.committed',
        object: `round:${task.roundId}`,
        details: { dataset_id: record.datasetId, data_file: record.dataFile, fingerprint, salt, commitment },
      },
      () => state.commitments.record(record),
    );
    return commitment;
  }

  /**
   * Under DP: checks the study's privacy spec, charges this round's ρ to the site's ledger (written
   * before anything leaves; refused with the ledger's code when the site budget would be exceeded,
   * whatever the coordinator says), and returns the release vector with this site's noise share.
   */
  #applyPrivacy(layout: StatisticsLayout, vector: Float64Array, task: TaskContent): { vector: Float64Array; privacy: PrivacyAttestation | null } {
    if (!task.privacy) return { vector, privacy: null };
    const spec = resolvePrivacySpec(task.privacy, { layout });
    const release = createPrivateRelease(layout, spec);
    const budget = this.#budget();
    const datasetId = this.#datasetId();
    const decision = this.#ledger().charge(
      { datasetId, studyId: task.studyId, roundId: task.roundId, rho: release.rho, epsilon: release.epsilon, delta: release.delta },
      budget,
    );
    if (!decision.allowed) throw new DpError(decision.code, decision.detail);
    const after = decision.after;
    const privacy = {
      rho: release.rho,
      epsilon: release.epsilon,
      delta: release.delta,
      epsilon_spent: after.spentEpsilon,
      epsilon_remaining: Math.max(0, after.totalEpsilon - after.spentEpsilon),
      epsilon_total: after.totalEpsilon,
    };
    this.#record({ action: 'privacy.charged', object: `round:${task.roundId}`, details: { dataset_id: datasetId, study: task.studyId, ...privacy } });
    return { vector: release.protect(vector, cryptoRandomSource()), privacy };
  }

  #ledger() {
    return this.#siteState().ledger;
  }

  #siteState(): SiteState {
    if (!this.#state) throw new AgentError('FEDVAL_ERR_AGENT_LEDGER', 'the agent is stopped');
    return this.#state;
  }

  /** Appends an audit entry as this site (fsynced before returning); throws FEDVAL_ERR_AGENT_AUDIT. */
  #record(event: Omit<AuditEvent, 'actor'>, change?: () => void): AuditEntry {
    return this.#siteState().audit.record({ actor: `site:${this.#config.site_id}`, ...event }, change);
  }

  /** For events that release nothing (connections, refusals): a failed audit write is logged, not fatal. */
  #recordQuietly(event: Omit<AuditEvent, 'actor'>): void {
    try {
      this.#record(event);
    } catch (error) {
      this.#log.error({ code: (error as { code?: string }).code }, 'cannot write the audit log');
    }
  }

  #budget(): PrivacyBudget {
    const { total_epsilon, per_round_epsilon, delta } = this.#config.privacy;
    return budgetFromEpsilon({ totalEpsilon: total_epsilon, perRoundEpsilon: per_round_epsilon, delta });
  }

  #datasetId(): string {
    return this.#config.privacy.dataset_id ?? `${this.#config.site_id}:${basename(this.#config.data.path)}`;
  }

  /** Turns the statistics vector into what may leave the site: BFV ciphertexts (or, as a test seam, the vector itself). */
  async #protect(vector: Float64Array, task: TaskContent): Promise<Contribution> {
    const request = task.contribution;
    if (request.kind === 'plaintext') return { kind: 'plaintext', vector: new Float64Array(vector) };
    const context = await createHeContext(request.plan);
    try {
      if (context.plan.vectorLength !== vector.length) {
        throw new AgentError('FEDVAL_ERR_AGENT_INVALID_TASK', `the encryption plan carries ${context.plan.vectorLength} entries, the statistics have ${vector.length}`);
      }
      // Throws a coded @fedval/he error when a count exceeds the plan's bounds (e.g. more patients than planned).
      const encrypted = encryptVector(context, request.publicKey, vector);
      return { kind: 'bfv', ciphertexts: encrypted.ciphertexts.map((bytes) => new Uint8Array(bytes)) };
    } finally {
      context.dispose();
    }
  }

  #progressReporter(roundId: string): (phase: 'loading_model' | 'evaluating' | 'protecting' | 'sending', percent: number) => void {
    let last = 0;
    return (phase, percent) => {
      const now = Date.now();
      if (phase === 'evaluating' && percent < 100 && now - last < 1000) return;
      last = now;
      this.#send(createMessage('task.progress', { roundId, phase, percent: Math.round(percent * 10) / 10 }));
    };
  }

  #send(message: Message): void {
    const socket = this.#socket;
    if (socket?.readyState === WebSocket.OPEN) socket.send(encodeMessage(message), { binary: true });
  }
}

/** The coordinator URL as challenges name it: parsed and serialized by the WHATWG URL parser, as the coordinator does. */
export function normalizedCoordinatorUrl(url: string): string {
  try {
    return new URL(url).href;
  } catch {
    return url;
  }
}

/** Payload bytes of a contribution (the bytes hashContribution hashes). */
export function contributionBytes(contribution: Contribution): number {
  if (contribution.kind === 'plaintext') return contribution.vector.byteLength;
  return contribution.ciphertexts.reduce((total, ciphertext) => total + ciphertext.byteLength, 0);
}

/** SHA-256 of a contribution's payload bytes, as recorded in the audit log and sent with it. */
export function hashContribution(contribution: Contribution): string {
  const hash = createHash('sha256');
  if (contribution.kind === 'plaintext') hash.update(new Uint8Array(contribution.vector.buffer, contribution.vector.byteOffset, contribution.vector.byteLength));
  else for (const ciphertext of contribution.ciphertexts) hash.update(ciphertext);
  return hash.digest('hex');
}

// agent.ts — the site agent daemon: connects outbound, authenticates, runs tasks under site policy, sends protected results.
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { basename } from 'node:path';
import { budgetFromEpsilon, createPrivateRelease, cryptoRandomSource, DpError, resolvePrivacySpec } from '@fedval/dp';
import type { PrivacyBudget } from '@fedval/dp';
import { createHeContext, encryptVector } from '@fedval/he';
import { resolveMetricSpec } from '@fedval/metrics';
import type { MetricSpec, StatisticsLayout } from '@fedval/metrics';
import { createErrorMessage, createMessage, decodeMessage, encodeMessage, toWireError } from '@fedval/protocol';
import type { Contribution, Message, TaskContent } from '@fedval/protocol';
import type { Logger } from 'pino';
import WebSocket from 'ws';
import type { AgentConfig } from './config.ts';
import { AgentError } from './errors.ts';
import { evaluateDataset } from './evaluation.ts';
import { materializeModelScorer } from './model-scorer.ts';
import { PrivacyLedger } from './privacy-ledger.ts';
import { scoreColumnScorer } from './scorers.ts';
import type { RowScorer } from './scorers.ts';

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
  #ledgerInstance: PrivacyLedger | undefined;

  constructor(config: AgentConfig, logger: Logger) {
    super();
    this.#config = config;
    this.#log = logger;
  }

  start(): void {
    this.#stopped = false;
    this.#connect();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#ledgerInstance?.close();
    this.#ledgerInstance = undefined;
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
  }

  #connect(): void {
    const socket = new WebSocket(this.#config.coordinator, { maxPayload: this.#config.limits.max_message_bytes, handshakeTimeout: 10_000 });
    this.#socket = socket;
    socket.binaryType = 'nodebuffer';
    socket.on('open', () => {
      this.#log.info({ coordinator: this.#config.coordinator }, 'connected; authenticating');
      this.#send(
        createMessage('hello', {
          siteId: this.#config.site_id,
          token: this.#config.token,
          agentVersion: AGENT_VERSION,
          capabilities: { tasks: [...this.#config.policy.allowed_tasks], contributions: [...this.#config.policy.allowed_contributions] },
        }),
      );
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
            ? new AgentError('FEDVAL_ERR_AGENT_UNAUTHORIZED', 'check site_id and token')
            : new AgentError('FEDVAL_ERR_AGENT_REPLACED', 'another agent connected with this site id');
        this.#log.error({ code: error.code }, error.message);
        this.emit('fatal', error);
        this.#stopped = true;
        return;
      }
      if (!this.#stopped) this.#scheduleReconnect();
    });
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
      case 'welcome':
        this.#attempt = 0;
        this.#log.info({ siteId: message.content.siteId }, 'authenticated');
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
    const log = this.#log.child({ roundId, studyId: task.studyId });
    const refuse = (error: unknown): void => {
      const reason = toWireError(error, 'FEDVAL_ERR_AGENT_INVALID_TASK');
      log.warn({ code: reason.code, reason: reason.message }, 'task refused');
      this.#send(createMessage('task.refuse', { roundId, reason }, requestId));
      this.emit('task-finished', roundId, 'refused', reason.code);
    };
    if (this.#running) return refuse(new AgentError('FEDVAL_ERR_AGENT_BUSY'));
    let spec: MetricSpec;
    try {
      spec = resolveMetricSpec(task.metricSpec as Partial<MetricSpec>);
      this.#checkPolicy(spec, task);
    } catch (error) {
      return refuse(error);
    }
    const abort = new AbortController();
    const deadlineTimer = setTimeout(() => abort.abort(new AgentError('FEDVAL_ERR_AGENT_DEADLINE')), Math.max(0, task.deadline - Date.now()));
    this.#running = { roundId, abort };
    try {
      this.#send(createMessage('task.accept', { roundId }, requestId));
      log.info({ task: spec.task, scorer: task.scorer.kind, contribution: task.contribution.kind }, 'task accepted');
      const progress = this.#progressReporter(roundId);
      progress('loading_model', 0);
      const scorer = await this.#scorerFor(task);
      const outcome = await evaluateDataset({
        source: {
          path: this.#config.data.path,
          delimiter: this.#config.data.delimiter,
          columns: this.#config.data.columns,
          chunkRows: this.#config.limits.batch_rows,
          maxRows: this.#config.limits.max_rows,
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
      const contribution = await this.#protect(released, task);
      progress('sending', 100);
      const contributionSha256 = hashContribution(contribution);
      const attestation = privacy ? { privacy } : undefined;
      this.#send(createMessage('task.result', { roundId, contribution, contributionSha256, ...(attestation ? { attestation } : {}) }, requestId));
      log.info({ contributionSha256, kind: contribution.kind, entries: released.length, scorer: scorer.description, privacy }, 'contribution sent');
      this.emit('task-finished', roundId, 'contributed');
    } catch (error) {
      refuse(abort.signal.aborted && abort.signal.reason instanceof AgentError ? abort.signal.reason : error);
    } finally {
      clearTimeout(deadlineTimer);
      this.#running = undefined;
    }
  }

  #checkPolicy(spec: MetricSpec, task: TaskContent): void {
    const { policy } = this.#config;
    if (!policy.allowed_tasks.includes(spec.task)) throw new AgentError('FEDVAL_ERR_AGENT_POLICY_TASK', spec.task);
    if (!policy.allowed_contributions.includes(task.contribution.kind)) {
      throw new AgentError('FEDVAL_ERR_AGENT_POLICY_CONTRIBUTION', task.contribution.kind);
    }
    if (task.deadline <= Date.now()) throw new AgentError('FEDVAL_ERR_AGENT_DEADLINE');
    if (!task.privacy && policy.require_dp) throw new AgentError('FEDVAL_ERR_AGENT_POLICY_REQUIRES_DP', 'set policy.require_dp: false to allow exact releases');
  }

  async #scorerFor(task: TaskContent): Promise<RowScorer> {
    if (task.scorer.kind === 'score_column') return scoreColumnScorer(task.scorer.columns);
    return materializeModelScorer(task.scorer, this.#config.data_dir, this.#log, this.#config.limits.batch_rows);
  }

  /**
   * Under DP: checks the study's privacy spec, charges this round's ρ to the site's ledger (written
   * before anything leaves; refused with the ledger's code when the site budget would be exceeded,
   * whatever the coordinator says), and returns the release vector with this site's noise share.
   */
  #applyPrivacy(layout: StatisticsLayout, vector: Float64Array, task: TaskContent): { vector: Float64Array; privacy: Record<string, number> | null } {
    if (!task.privacy) return { vector, privacy: null };
    const spec = resolvePrivacySpec(task.privacy as never, { layout });
    const release = createPrivateRelease(layout, spec);
    const budget = this.#budget();
    const datasetId = this.#datasetId();
    const decision = this.#ledger().charge(
      { datasetId, studyId: task.studyId, roundId: task.roundId, rho: release.rho, epsilon: release.epsilon, delta: release.delta },
      budget,
    );
    if (!decision.allowed) throw new DpError(decision.code, decision.detail);
    const noisy = release.protect(vector, cryptoRandomSource());
    const after = decision.after;
    return {
      vector: noisy,
      privacy: {
        rho: release.rho,
        epsilon: release.epsilon,
        delta: release.delta,
        epsilon_spent: after.spentEpsilon,
        epsilon_remaining: Math.max(0, after.totalEpsilon - after.spentEpsilon),
        epsilon_total: after.totalEpsilon,
      },
    };
  }

  #ledger(): PrivacyLedger {
    this.#ledgerInstance ??= PrivacyLedger.open(this.#config.data_dir);
    return this.#ledgerInstance;
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

/** SHA-256 of a contribution's payload bytes, as recorded in the audit log and sent with it. */
export function hashContribution(contribution: Contribution): string {
  const hash = createHash('sha256');
  if (contribution.kind === 'plaintext') hash.update(new Uint8Array(contribution.vector.buffer, contribution.vector.byteOffset, contribution.vector.byteLength));
  else for (const ciphertext of contribution.ciphertexts) hash.update(ciphertext);
  return hash.digest('hex');
}

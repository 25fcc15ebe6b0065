// agent.ts — the site agent daemon: opens the site's state, connects outbound (coordinator-connection.ts) and runs the
// coordinator's tasks under site policy (task-pipeline.ts); emits events for supervision and tests.
import type { KeyObject } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { basename } from 'node:path';
import { loadPrivateKey } from '@fedval/trust';
import type { AuditEntry, AuditEvent } from '@fedval/trust';
import type { Logger } from 'pino';
import type { AgentConfig } from './config.ts';
import { AGENT_VERSION, CoordinatorConnection } from './coordinator-connection.ts';
import { AgentError } from './errors.ts';
import { closeDuckDbEngines } from './data-sources/duckdb-table-reader.ts';
import { openSiteState } from './site-state.ts';
import type { SiteState } from './site-state.ts';
import { TaskPipeline } from './task-pipeline.ts';
import type { TaskOutcome } from './task-pipeline.ts';
import { loadAgentTls } from './tls.ts';

export { AGENT_VERSION };

export interface SiteAgentEvents {
  connected: [];
  disconnected: [code: number];
  'task-finished': [roundId: string, outcome: TaskOutcome, code?: string];
  'fatal': [error: AgentError];
}

/** Runs one site's agent until stopped. Emits events for supervision and tests; logs carry no data values. */
export class SiteAgent extends EventEmitter<SiteAgentEvents> {
  readonly #config: AgentConfig;
  readonly #log: Logger;
  #connection: CoordinatorConnection | undefined;
  #tasks: TaskPipeline | undefined;
  #state: SiteState | undefined;
  /** The enrolled site's private key (config.site_key), loaded at start; undefined for a token-configured site. */
  #siteKey: KeyObject | undefined;

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
    if (this.#config.site_key !== null && !this.#siteKey) {
      try {
        this.#siteKey = loadPrivateKey(this.#config.site_key);
      } catch (cause) {
        throw new AgentError('FEDVAL_ERR_AGENT_SITE_KEY', `${(cause as { code?: string }).code ?? 'unreadable'}: ${(cause as Error).message}`, { cause });
      }
    }
    const tls = loadAgentTls(this.#config.tls);
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
    if (this.#config.policy.min_cohort !== undefined) {
      this.#log.warn('policy.min_cohort is ignored: a refusal on the exact cohort size revealed it (see README, "Small cohorts")');
    }
    const tasks = new TaskPipeline({
      config: this.#config,
      log: this.#log,
      siteKey: this.#siteKey,
      state: () => this.#siteState(),
      send: (message) => this.#connection?.send(message),
      record: (event, change) => this.#record(event, change),
      recordQuietly: (event) => this.#recordQuietly(event),
      finished: (roundId, outcome, code) => this.emit('task-finished', roundId, outcome, ...(code === undefined ? [] : [code])),
      dropOut: () => void this.stop(),
    });
    tasks.refundExpired();
    this.#tasks = tasks;
    this.#connection = new CoordinatorConnection({
      config: this.#config,
      siteKey: this.#siteKey,
      tls,
      log: this.#log,
      handlers: {
        authenticated: () => this.emit('connected'),
        task: (requestId, task) => tasks.run(requestId, task),
        cancel: (roundId, reason) => tasks.cancel(roundId, reason),
        keyStatement: (content) => tasks.onKeyStatement(content),
        errorReply: (replyTo, error) => tasks.onErrorReply(replyTo, error),
        secagg: (requestId, message) => tasks.onSecagg(requestId, message),
        disconnected: (code) => this.emit('disconnected', code),
        fatal: (error) => this.emit('fatal', error),
        audit: (event) => this.#recordQuietly(event),
      },
    });
    this.#connection.open();
  }

  async stop(): Promise<void> {
    this.#tasks?.abort();
    await this.#connection?.close();
    this.#state?.close();
    this.#state = undefined;
    await closeDuckDbEngines();
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
}

// key-statement-source.ts — where a BFV task's key holder statement comes from: inline in the task, or named by its SHA-256 and then this agent's copy of it or one fetched once from the coordinator.
import { createMessage } from '@fedval/protocol';
import type { ContentOf, Message, TaskContent, WireError } from '@fedval/protocol';
import { studyKeyStatementSha256 } from '@fedval/trust';
import { AgentError } from './errors.ts';

interface Pending {
  readonly sha256: string;
  /** The ids of the key_statement.request messages sent for it (one per connection it was asked on). */
  readonly requestIds: Set<string>;
  readonly promise: Promise<unknown>;
  resolve(statement: unknown): void;
  reject(error: unknown): void;
  timer: NodeJS.Timeout;
}

/**
 * The statements a task may name by digest. Nothing here is trusted: what it returns is verified by checkStudyKey (the
 * signature under a pinned key holder key, the study, plan and key, the roster, the version), and only a statement that
 * passed is remembered (`remember`), per study, so the next round naming the same digest needs no fetch. A fetched
 * statement whose SHA-256 is not the one the task names is refused here (FEDVAL_ERR_AGENT_KEY_UNAUTHENTICATED): the
 * coordinator cannot answer a task's digest with another statement.
 */
export class KeyStatementSource {
  readonly #send: (message: Message) => void;
  readonly #timeoutMs: number;
  /** Per study: the digest and signed document of the statement this agent last verified. */
  readonly #verified = new Map<string, { sha256: string; signed: unknown }>();
  /** Per round: the statement asked of the coordinator and not yet received. */
  readonly #pending = new Map<string, Pending>();

  /**
   * `timeoutMs`: how long a fetch waits for the coordinator's answer (limits.key_statement_timeout_ms), capped by the
   * task's deadline.
   */
  constructor(send: (message: Message) => void, timeoutMs: number) {
    this.#send = send;
    this.#timeoutMs = timeoutMs;
  }

  /**
   * The signed statement `task` comes with: undefined for a plaintext task or a bfv task that names none (checkStudyKey
   * refuses it); its inline statement (which must have the SHA-256 the task names, if it names one); this agent's
   * verified copy of the statement of that digest; or the coordinator's answer to key_statement.request, if its digest
   * is the task's. Throws FEDVAL_ERR_AGENT_KEY_UNAUTHENTICATED.
   */
  async statementFor(task: TaskContent): Promise<unknown> {
    const request = task.contribution;
    if (request.kind !== 'bfv') return undefined;
    const named = request.keyStatementSha256;
    if (request.keyStatement !== undefined) {
      if (named !== undefined) this.#requireDigest(request.keyStatement, named, 'the statement in the task');
      return request.keyStatement;
    }
    if (named === undefined) return undefined;
    const known = this.#verified.get(task.studyId);
    if (known?.sha256 === named) return known.signed;
    const fetched = await this.#fetch(task.roundId, named, task.deadline);
    this.#requireDigest(fetched, named, 'the statement the coordinator sent');
    return fetched;
  }

  /**
   * Keeps a statement checkStudyKey verified for `studyId`, under `sha256`: the digest the task names, which
   * `statementFor` already required the statement to have (not hashed again each round).
   */
  remember(studyId: string, sha256: string, signed: unknown): void {
    this.#verified.set(studyId, { sha256, signed });
  }

  /** A `key_statement` message: answers the fetch of its round, if one waits (anything else is ignored). */
  received(content: ContentOf<'key_statement'>): void {
    const pending = this.#pending.get(content.roundId);
    if (!pending) return;
    this.#pending.delete(content.roundId);
    clearTimeout(pending.timer);
    pending.resolve(content.keyStatement);
  }

  /**
   * The coordinator's error reply to a message: if it answers a key_statement.request of a fetch that waits, that fetch
   * fails now (FEDVAL_ERR_AGENT_KEY_UNAUTHENTICATED, naming the coordinator's code) instead of at its timeout. Returns
   * whether it answered one.
   */
  refused(replyTo: string | undefined, error: WireError): boolean {
    if (replyTo === undefined) return false;
    for (const [roundId, pending] of this.#pending) {
      if (!pending.requestIds.has(replyTo)) continue;
      this.#end(roundId, new AgentError('FEDVAL_ERR_AGENT_KEY_UNAUTHENTICATED', `the coordinator refused to send the key statement (${error.code})`));
      return true;
    }
    return false;
  }

  /** The round was cancelled: its fetch, if one waits, fails now with FEDVAL_ERR_AGENT_CANCELLED. */
  cancel(roundId: string): void {
    this.#end(roundId, new AgentError('FEDVAL_ERR_AGENT_CANCELLED'));
  }

  /** Ends every fetch that waits (the agent stops). */
  abort(): void {
    for (const roundId of [...this.#pending.keys()]) {
      this.#end(roundId, new AgentError('FEDVAL_ERR_AGENT_KEY_UNAUTHENTICATED', 'the agent stopped before the key statement arrived'));
    }
  }

  #end(roundId: string, error: AgentError): void {
    const pending = this.#pending.get(roundId);
    if (!pending) return;
    this.#pending.delete(roundId);
    clearTimeout(pending.timer);
    pending.reject(error);
  }

  #requireDigest(signed: unknown, sha256: string, what: string): void {
    let actual: string;
    try {
      actual = studyKeyStatementSha256(signed);
    } catch (cause) {
      throw new AgentError('FEDVAL_ERR_AGENT_KEY_UNAUTHENTICATED', `${what} is not a signed key statement`, { cause });
    }
    if (actual !== sha256) {
      throw new AgentError('FEDVAL_ERR_AGENT_KEY_UNAUTHENTICATED', `${what} has SHA-256 ${actual.slice(0, 16)}…, the task names ${sha256.slice(0, 16)}…`);
    }
  }

  /**
   * Asks the coordinator for the statement of `sha256` (again, if a fetch for this round already waits: the connection
   * may have been replaced). Waits at most the timeout, and never past the task's `deadline` (epoch ms).
   */
  #fetch(roundId: string, sha256: string, deadline: number): Promise<unknown> {
    let pending = this.#pending.get(roundId);
    if (pending?.sha256 !== sha256) {
      if (pending) {
        clearTimeout(pending.timer);
        pending.reject(new AgentError('FEDVAL_ERR_AGENT_KEY_UNAUTHENTICATED', 'the round now names another key statement'));
      }
      let resolve!: (statement: unknown) => void;
      let reject!: (error: unknown) => void;
      const promise = new Promise<unknown>((resolved, rejected) => {
        resolve = resolved;
        reject = rejected;
      });
      const untilDeadline = Math.max(0, deadline - Date.now());
      const timer = setTimeout(() => {
        this.#pending.delete(roundId);
        reject(untilDeadline < this.#timeoutMs
          ? new AgentError('FEDVAL_ERR_AGENT_DEADLINE', 'the task deadline passed before the key statement arrived')
          : new AgentError('FEDVAL_ERR_AGENT_KEY_UNAUTHENTICATED', `the coordinator sent no key statement within ${this.#timeoutMs} ms`));
      }, Math.min(this.#timeoutMs, untilDeadline));
      timer.unref();
      pending = { sha256, requestIds: new Set(), promise, resolve, reject, timer };
      this.#pending.set(roundId, pending);
    }
    const message = createMessage('key_statement.request', { roundId, sha256 });
    pending.requestIds.add(message.id);
    this.#send(message);
    return pending.promise;
  }
}

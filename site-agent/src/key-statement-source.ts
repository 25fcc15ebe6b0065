// key-statement-source.ts — where a BFV task's key holder statement comes from: inline in the task, or named by its SHA-256 and then this agent's copy of it or one fetched once from the coordinator.
import { createMessage } from '@fedval/protocol';
import type { ContentOf, Message, TaskContent } from '@fedval/protocol';
import { studyKeyStatementSha256 } from '@fedval/trust';
import { AgentError } from './errors.ts';

interface Pending {
  readonly sha256: string;
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

  /** `timeoutMs`: how long a fetch waits for the coordinator's answer (limits.key_statement_timeout_ms). */
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
    const fetched = await this.#fetch(task.roundId, named);
    this.#requireDigest(fetched, named, 'the statement the coordinator sent');
    return fetched;
  }

  /** Keeps a statement checkStudyKey verified for `studyId`, under its digest. */
  remember(studyId: string, signed: unknown): void {
    this.#verified.set(studyId, { sha256: studyKeyStatementSha256(signed), signed });
  }

  /** A `key_statement` message: answers the fetch of its round, if one waits (anything else is ignored). */
  received(content: ContentOf<'key_statement'>): void {
    const pending = this.#pending.get(content.roundId);
    if (!pending) return;
    this.#pending.delete(content.roundId);
    clearTimeout(pending.timer);
    pending.resolve(content.keyStatement);
  }

  /** Ends every fetch that waits (the agent stops). */
  abort(): void {
    for (const [roundId, pending] of this.#pending) {
      clearTimeout(pending.timer);
      pending.reject(new AgentError('FEDVAL_ERR_AGENT_KEY_UNAUTHENTICATED', 'the agent stopped before the key statement arrived'));
      this.#pending.delete(roundId);
    }
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

  /** Asks the coordinator for the statement of `sha256` (again, if a fetch for this round already waits: the connection may have been replaced). */
  #fetch(roundId: string, sha256: string): Promise<unknown> {
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
      const timer = setTimeout(() => {
        this.#pending.delete(roundId);
        reject(new AgentError('FEDVAL_ERR_AGENT_KEY_UNAUTHENTICATED', `the coordinator sent no key statement within ${this.#timeoutMs} ms`));
      }, this.#timeoutMs);
      timer.unref();
      pending = { sha256, promise, resolve, reject, timer };
      this.#pending.set(roundId, pending);
    }
    this.#send(createMessage('key_statement.request', { roundId, sha256 }));
    return pending.promise;
  }
}

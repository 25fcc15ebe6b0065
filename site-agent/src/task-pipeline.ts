// task-pipeline.ts — one task at the site: policy checks (the site's own floor on the release: minimum sites, own-share
// ε, minimum cell, subgroup levels), the model admitted, the data evaluated, the release protected and encrypted, then
// privacy charged to the ledger and the contribution kept in one transaction, audited, signed and sent. Nothing
// row-level leaves.
import { createHash } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { budgetFromEpsilon, createRelease, cryptoRandomSource, DpError } from '@fedval/dp';
import { planSha256 } from '@fedval/he';
import type { ExactRelease, PrivacyBudget, PrivateRelease } from '@fedval/dp';
import { createStatisticsLayout, resolveMetricSpec } from '@fedval/metrics';
import type { MetricSpec } from '@fedval/metrics';
import { contributionDigest, createErrorMessage, createMessage } from '@fedval/protocol';
import type { ContentOf, Message, MessageOf, ResultSignature, TaskContent, WireError } from '@fedval/protocol';
import { attestationSha256, auditHeadDetails, commitToFingerprint, createNonce, publicKeyFingerprint, publicKeyOf, signResult } from '@fedval/trust';
import type { AuditEntry, AuditEvent, PrivacyAttestation, ResultAttestation } from '@fedval/trust';
import type { Logger } from 'pino';
import type { AgentConfig } from './config.ts';
import { encryptContribution } from './contribution-encryption.ts';
import { SecureAggregationSession, secaggThresholdFloor } from './secure-aggregation-session.ts';
import type { KeptSessionOptions } from './secure-aggregation-sessions.ts';
import { SecaggRoundTable } from './secure-aggregation-round-table.ts';
import type { KeyAdvertisement } from '@fedval/trust';
import { AgentError, agentWireError } from './errors.ts';
import { dataSourceName, openDataSource } from './data-sources/open-data-source.ts';
import { evaluateDataset } from './evaluation.ts';
import { decideModelRun } from './model-registry.ts';
import type { ModelRunBasis } from './model-registry.ts';
import { loadLocalModelScorer, receiveModelBundle } from './model-scorer.ts';
import type { ReceivedBundle } from './model-scorer.ts';
import { scoreColumnScorer, withScorer } from './scorers.ts';
import type { SentContribution } from './sent-contributions.ts';
import type { SiteState } from './site-state.ts';
import { checkReleasePolicy, checkTaskPolicy } from './task-policy.ts';
import { checkPlanBounds } from './plan-bounds.ts';
import { KeyStatementSource } from './key-statement-source.ts';
import { checkStudyKey } from './study-key-check.ts';
import type { SiteIdentity } from './study-key-check.ts';

/**
 * Test seam for the crash tests (tests/adversarial): with `crash-after-charge`, the agent kills itself (SIGKILL) after
 * charging its ledger and before keeping the contribution, inside the transaction that does both.
 */
const FAULT_ENV = 'FEDVAL_AGENT_TEST_FAULT';
/**
 * `fedval simulate --drop-site` / `--stall-site` only: with `after_share_keys`, the agent stops (closes its connection)
 * once the share exchange of a securely aggregated round is complete, before it reads data or sends its masked input;
 * with `stall_after_share_keys` it stays connected and sends nothing more for that round until it is cancelled.
 */
export const SIMULATE_DROP_ENV = 'FEDVAL_AGENT_SIMULATE_DROP';

/**
 * When a wipe of expired secure-aggregation secrets failed, or the truncation of agent.sqlite's write-ahead log after it
 * was blocked by another connection (the site admin's CLI reading), it is tried again after this long, ms.
 */
export const WIPE_RETRY_MS = 5_000;

/** A value a later coordinator message delivers, or the task's abort. */
interface Awaited<T> {
  promise: Promise<T>;
  resolve: (value: T) => void;
}
function awaited<T>(): Awaited<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then((value) => {
      signal.removeEventListener('abort', onAbort);
      resolve(value);
    }, reject);
  });
}

/** A securely aggregated round this agent takes part in, until its deadline. */
interface SecaggRound {
  session: SecureAggregationSession;
  keys: Awaited<KeyAdvertisement[]>;
  inbox: Awaited<{ from: string; sealed: Uint8Array }[]>;
  studyId: string;
  /** The round's one deadline, epoch ms (its first task's): after it the session signs and reveals nothing. */
  deadline: number;
  /** The advertisement was sent: a task sent again while this round runs is answered with it again. */
  advertised: boolean;
  /** ShareKeys done: the keys list shared with (its fingerprint) and the sealed shares sent, re-sent only for the same keys. */
  shared?: { keys: string; sent: { to: string; sealed: Uint8Array }[] };
  /** The inbox received (its fingerprint): another one for the round is refused. */
  received?: string;
}

/** A keys list's fingerprint, order aside: the same advertisements give the same text. */
const keysFingerprint = (advertisements: readonly KeyAdvertisement[]): string =>
  JSON.stringify([...advertisements].sort((a, b) => (a.site_id < b.site_id ? -1 : a.site_id > b.site_id ? 1 : 0)));
/** An inbox's fingerprint, order aside. */
const inboxFingerprint = (inbox: readonly { from: string; sealed: Uint8Array }[]): string =>
  JSON.stringify(inbox.map((share) => [share.from, Buffer.from(share.sealed).toString('base64')]).sort());

/** How a task ended, for supervision and tests. */
export type TaskOutcome = 'contributed' | 'refused';

export interface TaskPipelineOptions {
  config: AgentConfig;
  log: Logger;
  /** The enrolled site's private key: results are signed with it. Undefined for a token-configured site. */
  siteKey: KeyObject | undefined;
  /** The site's open state; throws FEDVAL_ERR_AGENT_LEDGER when the agent is stopped. */
  state: () => SiteState;
  /** Sends a message to the coordinator (dropped while disconnected). */
  send: (message: Message) => void;
  /** Appends an audit entry as this site, fsynced before returning; with `change`, in the same transaction. */
  record: (event: Omit<AuditEvent, 'actor'>, change?: () => void) => AuditEntry;
  /** Audits an event that releases nothing; a failed write is logged, not thrown. */
  recordQuietly: (event: Omit<AuditEvent, 'actor'>) => void;
  finished: (roundId: string, outcome: TaskOutcome, code?: string) => void;
  /** Stops the agent (the simulate --drop-site seam). */
  dropOut?: () => void;
}

/** Runs the coordinator's tasks, one at a time, under the site's policy, noise floor and privacy budget. */
export class TaskPipeline {
  readonly #config: AgentConfig;
  readonly #log: Logger;
  readonly #siteKey: KeyObject | undefined;
  readonly #state: () => SiteState;
  readonly #send: (message: Message) => void;
  readonly #record: TaskPipelineOptions['record'];
  readonly #recordQuietly: TaskPipelineOptions['recordQuietly'];
  readonly #finished: TaskPipelineOptions['finished'];
  #running: { roundId: string; abort: AbortController } | undefined;
  /** The round whose task waits for the key holder statement it names (before it runs), and whether it was cancelled meanwhile. */
  #admitting: { roundId: string; cancelled: boolean } | undefined;
  readonly #keyStatements: KeyStatementSource;
  readonly #secagg = new SecaggRoundTable<SecaggRound>(() => this.refundExpired());
  /** The next wipe of kept secure-aggregation secrets (the earliest deadline still ahead), also after a restart. */
  #wipeTimer: NodeJS.Timeout | undefined;
  /** abort() ran: no wipe timer is armed any more. */
  #stopped = false;
  readonly #dropOut: (() => void) | undefined;

  constructor(options: TaskPipelineOptions) {
    this.#dropOut = options.dropOut;
    this.#config = options.config;
    this.#log = options.log;
    this.#siteKey = options.siteKey;
    this.#state = options.state;
    this.#send = options.send;
    this.#record = options.record;
    this.#recordQuietly = options.recordQuietly;
    this.#finished = options.finished;
    this.#keyStatements = new KeyStatementSource(options.send, options.config.limits.key_statement_timeout_ms);
  }

  /** The coordinator's answer to this site's key_statement.request. */
  onKeyStatement(content: ContentOf<'key_statement'>): void {
    this.#keyStatements.received(content);
  }

  /** The coordinator's error reply: a refused key_statement.request ends the wait of its task at once. */
  onErrorReply(replyTo: string | undefined, error: WireError): void {
    this.#keyStatements.refused(replyTo, error);
  }

  /** The coordinator cancelled a round: the task running for it, if any, stops with FEDVAL_ERR_AGENT_CANCELLED. */
  cancel(roundId: string, reason: WireError): void {
    this.#refundIfUnsigned(roundId, `round closed: ${reason.code}`);
    if (this.#admitting?.roundId === roundId) {
      this.#admitting.cancelled = true;
      this.#keyStatements.cancel(roundId);
    }
    if (this.#running?.roundId !== roundId) return;
    this.#log.info({ roundId, code: reason.code }, 'task cancelled by coordinator');
    this.#running.abort.abort(new AgentError('FEDVAL_ERR_AGENT_CANCELLED'));
  }

  /** Stops the running task, if any (the agent is stopping). */
  abort(): void {
    this.#keyStatements.abort();
    this.#running?.abort.abort();
    this.#secagg.clearAll();
    this.#stopped = true;
    clearTimeout(this.#wipeTimer);
  }

  /**
   * Refunds the charge of every securely aggregated round whose deadline passed while this site had sent its masked
   * input but signed no survivor set, and wipes the secrets of every round past its deadline (at start, and at each
   * such deadline).
   */
  refundExpired(now = Date.now()): void {
    let state: SiteState;
    try {
      state = this.#state();
    } catch (error) {
      this.#log.error({ code: agentWireError(error).code }, 'cannot read the securely aggregated rounds');
      return;
    }
    let refundsRead = true;
    try {
      for (const round of state.secagg.unsignedBefore(now)) this.#refundIfUnsigned(round.roundId, 'deadline passed before this site signed a survivor set');
    } catch (error) {
      refundsRead = false;
      this.#log.error({ code: agentWireError(error).code, retryMs: WIPE_RETRY_MS }, 'cannot read the securely aggregated rounds; tried again later');
    }
    const sessions = state.secaggSessions;
    let retry = true;
    try {
      const wiped = sessions.wipeExpired(now);
      if (wiped.length > 0) this.#log.info({ rounds: wiped.length }, 'secure-aggregation secrets of rounds past their deadline wiped');
      retry = !refundsRead || sessions.logPending;
      if (sessions.logPending) this.#log.warn({ retryMs: WIPE_RETRY_MS }, 'the write-ahead log of agent.sqlite could not be truncated (another connection reads it); tried again later');
    } catch (error) {
      this.#log.error({ code: agentWireError(error).code, retryMs: WIPE_RETRY_MS }, 'cannot wipe the secure-aggregation secrets of expired rounds; tried again later');
    } finally {
      // Kept secrets are wiped at their deadline even when no attempt of their round runs any more (refused, restarted),
      // and a wipe or truncation that failed is tried again: the timer is re-armed whatever happened above.
      this.#armWipe(sessions, now, retry);
    }
  }

  /** Arms the one wipe timer: at the earliest deadline still ahead, or in WIPE_RETRY_MS when `retry` (or that deadline is unreadable). */
  #armWipe(sessions: SiteState['secaggSessions'], now: number, retry: boolean): void {
    clearTimeout(this.#wipeTimer);
    this.#wipeTimer = undefined;
    if (this.#stopped) return;
    let next = retry ? now + WIPE_RETRY_MS : undefined;
    try {
      const due = sessions.nextDeadline(now);
      if (due !== undefined) next = Math.min(next ?? due, due);
    } catch (error) {
      this.#log.error({ code: agentWireError(error).code, retryMs: WIPE_RETRY_MS }, 'cannot read the next secure-aggregation deadline; tried again later');
      next = now + WIPE_RETRY_MS;
    }
    if (next === undefined) return;
    this.#wipeTimer = setTimeout(() => this.refundExpired(), Math.min(2 ** 31 - 1, Math.max(0, next - now)));
    this.#wipeTimer.unref();
  }

  /**
   * A securely aggregated round this site never signed a survivor set for cannot be unmasked by anyone: its self-mask
   * seed b_u is revealed only after that signature (Bonawitz et al. 2017, §4). Its charge is refunded, with the reason
   * in the ledger and the audit trail; later consistency or unmasking requests for it are refused.
   */
  #refundIfUnsigned(roundId: string, reason: string): void {
    try {
      const state = this.#state();
      const record = state.secagg.find(roundId);
      if (record?.state !== 'masked') return;
      state.audit.transaction((append) => {
        if (!state.secagg.markRefunded(roundId)) return;
        const refunded = state.ledger.refundInTransaction(roundId, reason);
        append(this.#asSite({ action: 'privacy.refunded', object: `round:${roundId}`, details: { study: record.studyId, round: roundId, reason, charge_refunded: refunded } }));
      });
      this.#log.info({ roundId, reason }, 'round refunded: this site signed no survivor set, so its masked input can never be unmasked');
    } catch (error) {
      this.#log.error({ roundId, code: agentWireError(error).code }, 'could not refund the round');
    }
  }

  /** The coordinator's secure-aggregation messages: keys, shares, survivor set, unmasking request. */
  onSecagg(requestId: string, message: MessageOf<'secagg.keys' | 'secagg.inbox' | 'secagg.survivors' | 'secagg.unmask'>): void {
    const { roundId } = message.content;
    const log = this.#log.child({ roundId });
    const refuse = (error: unknown): void => {
      const reason = agentWireError(error);
      this.#recordQuietly({ action: 'secagg.refused', object: `round:${roundId}`, reason: reason.code, details: { type: message.type, code: reason.code } });
      log.warn({ code: reason.code, reason: reason.message, type: message.type }, 'secure-aggregation request refused');
      this.#send(createErrorMessage(reason, requestId));
    };
    try {
      const held = this.#secagg.get(roundId) ?? this.#restoreSecagg(roundId);
      // Past the round's deadline (its secrets are being wiped), the session signs and reveals nothing.
      const round = held && held.deadline > Date.now() ? held : undefined;
      if (message.type === 'secagg.keys') {
        if (!round) throw new AgentError('FEDVAL_ERR_AGENT_SECAGG_REFUSED', 'keys for a round this site is not in');
        if (round.shared) {
          // Sent again (a restarted coordinator): the same keys get the same sealed shares; other keys get nothing.
          if (keysFingerprint(message.content.advertisements) !== round.shared.keys) throw new AgentError('FEDVAL_ERR_AGENT_SECAGG_CHANGED', 'another keys list than the one this site shared its keys with');
          log.info('keys sent again; the same sealed shares sent again');
          return this.#send(createMessage('secagg.shares', { roundId, shares: round.shared.sent.map((share) => ({ to: share.to, sealed: new Uint8Array(share.sealed) })) }, requestId));
        }
        return round.keys.resolve(message.content.advertisements);
      }
      if (message.type === 'secagg.inbox') {
        if (!round) throw new AgentError('FEDVAL_ERR_AGENT_SECAGG_REFUSED', 'shares for a round this site is not in');
        if (round.received !== undefined) {
          if (inboxFingerprint(message.content.shares) !== round.received) throw new AgentError('FEDVAL_ERR_AGENT_SECAGG_CHANGED', 'another inbox than the one this site received');
          return log.info('inbox sent again; already received');
        }
        return round.inbox.resolve(message.content.shares);
      }
      const state = this.#state();
      const record = state.secagg.find(roundId);
      if (record?.state === 'refunded') throw new AgentError('FEDVAL_ERR_AGENT_SECAGG_REFUNDED', roundId);
      if (!round || !record) throw new AgentError('FEDVAL_ERR_AGENT_SECAGG_REFUSED', 'this site sent no masked input to that round, or no longer holds its shares');
      if (message.type === 'secagg.survivors') {
        const { survivors } = message.content;
        if (record.survivors !== null && JSON.stringify(record.survivors) !== JSON.stringify(survivors)) {
          throw new AgentError('FEDVAL_ERR_AGENT_SECAGG_REFUSED', 'the survivor set differs from the one this site signed');
        }
        const signed = round.session.signSurvivors(survivors);
        // Recorded before it leaves: from now on the round is no longer refundable.
        this.#record({ action: 'secagg.survivors_signed', object: `round:${roundId}`, details: { study: round.studyId, survivors } }, () => state.secagg.markSigned(roundId, survivors));
        this.#send(createMessage('secagg.consistency', { roundId, signed }, requestId));
        return;
      }
      const { survivors, signatures } = message.content;
      const { reveal, memory } = round.session.reveal(survivors, signatures, record.memory);
      this.#record(
        { action: 'secagg.shares_revealed', object: `round:${roundId}`, details: { study: round.studyId, survivors, revealed: memory.revealed as Record<string, string> } },
        () => state.secagg.markRevealed(roundId, memory),
      );
      this.#send(createMessage('secagg.reveal', { roundId, reveal }, requestId));
    } catch (error) {
      refuse(error);
    }
  }

  /**
   * A round this agent took part in before it restarted, rebuilt from agent.sqlite once its masked input left (its keys,
   * the shares it kept and received, the survivor set it signed), so it can still sign and reveal for that round, only
   * as it would have. Undefined when there is nothing to rebuild.
   */
  #restoreSecagg(roundId: string): SecaggRound | undefined {
    const state = this.#state();
    const kept = state.secaggSessions.find(roundId);
    const record = state.secagg.find(roundId);
    const now = Date.now();
    if (!kept?.secrets || !kept.shared || !kept.inbox || !record || record.state === 'refunded' || !this.#siteKey) return undefined;
    // Past the deadline (the wipe failed, or has not run yet), nothing is restored: it would sign and reveal too late.
    if (kept.deadline <= now || record.deadline <= now) return undefined;
    const round = this.#secaggSession(kept.studyId, roundId, kept.deadline, kept.options);
    round.session.restoreShareKeys(kept.shared.advertisements, kept.shared.own);
    round.session.receiveShares(kept.inbox.map((share) => ({ from: share.site, sealed: share.sealed })));
    if (record.survivors !== null) round.session.restoreSignedSurvivors(record.survivors);
    round.advertised = true;
    round.shared = { keys: keysFingerprint(kept.shared.advertisements), sent: kept.shared.sent.map((share) => ({ to: share.site, sealed: share.sealed })) };
    round.received = inboxFingerprint(kept.inbox.map((share) => ({ from: share.site, sealed: share.sealed })));
    this.#secagg.set(roundId, round);
    this.#secagg.armDeadline(roundId, round, kept.deadline);
    this.#log.info({ roundId }, 'secure-aggregation session restored from agent.sqlite');
    return round;
  }

  /**
   * The round's session: restored from the secrets agent.sqlite keeps for it (an earlier task of the round, or an
   * earlier run of this agent, advertised them), else fresh, with its secrets kept before anything leaves. A round has
   * one deadline, its first task's: a task with another, a round past it or whose secrets were wiped is refused
   * (FEDVAL_ERR_AGENT_SECAGG_CHANGED); its keys never mask a second input.
   */
  #secaggSession(studyId: string, roundId: string, deadline: number, options: KeptSessionOptions, now = Date.now()): SecaggRound {
    const sessions = this.#state().secaggSessions;
    const kept = sessions.find(roundId);
    if (kept && kept.secrets === null) throw new AgentError('FEDVAL_ERR_AGENT_SECAGG_CHANGED', 'this round’s secure-aggregation keys were wiped at its deadline; a round is never keyed twice');
    if (kept && kept.deadline !== deadline) throw new AgentError('FEDVAL_ERR_AGENT_SECAGG_CHANGED', 'the task names another deadline than this round’s first task');
    if (deadline <= now) throw new AgentError('FEDVAL_ERR_AGENT_SECAGG_CHANGED', 'this round’s deadline has passed; its keys are never used after it');
    const sessionOptions = kept?.options ?? options;
    if (kept && (kept.studyId !== studyId || JSON.stringify(kept.options) !== JSON.stringify(options))) {
      throw new AgentError('FEDVAL_ERR_AGENT_SECAGG_CHANGED', 'the task names another study, threshold or roster than this round’s kept session');
    }
    const session = new SecureAggregationSession(
      {
        studyId,
        roundId,
        siteId: this.#config.site_id,
        threshold: sessionOptions.threshold,
        siteKey: this.#siteKey as KeyObject,
        minSites: sessionOptions.minSites,
        roster: new Map(sessionOptions.roster),
        // Pinned peers (optional) and the colluding sites assumed: a key holder's roster with Sybil keys, or a
        // threshold that k colluding sites could defeat, is refused here, before any share leaves.
        approvedPeers: this.#config.policy.peer_fingerprints === undefined ? undefined : new Set(this.#config.policy.peer_fingerprints),
        maxColluders: this.#config.policy.secagg_max_colluders,
      },
      kept?.secrets ?? undefined,
    );
    if (!kept && !sessions.create(roundId, studyId, deadline, options, session.secrets())) {
      throw new AgentError('FEDVAL_ERR_AGENT_SECAGG_CHANGED', 'another session of this round was kept meanwhile');
    }
    return { session, keys: awaited(), inbox: awaited(), studyId, deadline, advertised: false };
  }

  async run(requestId: string, task: TaskContent): Promise<void> {
    const { roundId } = task;
    const object = `round:${roundId}`;
    const log = this.#log.child({ roundId, studyId: task.studyId });
    if (this.#running?.roundId === roundId) {
      // The coordinator lost our connection while this task ran: the result will go out on the new one.
      log.info('task sent again while it runs; its result will follow on this connection');
      this.#send(createMessage('task.accept', { roundId }, requestId));
      // Securely aggregated: the advertisement again, the same bytes (the coordinator may have restarted and lost it).
      const secagg = this.#secagg.get(roundId);
      if (secagg?.advertised) this.#send(createMessage('secagg.advertise', { roundId, advertisement: secagg.session.advertisement() }));
      return;
    }
    if (this.#admitting?.roundId === roundId) {
      // Sent again (on a new connection) while the key statement it names is awaited: asked for again, on this connection.
      log.info('task sent again while its key statement is awaited; asked for it again');
      this.#keyStatements.statementFor(task).catch(() => {});
      return;
    }
    // A task this site already answered (the connection dropped, or the agent restarted): the same bytes again.
    let earlier: SentContribution | undefined;
    try {
      earlier = this.#state().sent.find(roundId);
    } catch (error) {
      log.error({ code: agentWireError(error).code }, 'cannot read the contributions already sent; the ledger decides');
    }
    if (earlier) return this.#resendContribution(requestId, earlier, task, log);
    const refuse = (error: unknown): void => {
      const reason = agentWireError(error);
      this.#recordQuietly({ action: 'task.refused', object, reason: reason.code, details: { study: task.studyId, code: reason.code } });
      // The site's own log keeps the full detail (a data file's line number stays here); the wire gets `reason`.
      log.warn({ code: reason.code, reason: error instanceof Error ? error.message : reason.message }, 'task refused');
      this.#send(createMessage('task.refuse', { roundId, reason }, requestId));
      this.#finished(roundId, 'refused', reason.code);
    };
    let spec: MetricSpec;
    let release: PrivateRelease | ExactRelease;
    /** This attempt's session, used throughout (never read back from the table a timer may clear). */
    let secagg: SecaggRound | undefined;
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
          // The coordinator's trail head it sent with the task: an anchor of the coordinator's trail.
          ...(task.coordinatorAuditHead ? auditHeadDetails('coordinator', task.coordinatorAuditHead) : {}),
        },
      });
      if (this.#running || this.#admitting !== undefined) throw new AgentError('FEDVAL_ERR_AGENT_BUSY');
      // Charged before, and the contribution made then is no longer held (its deadline passed): a second noisy release
      // of the same round would spend the budget twice for one result.
      if (this.#state().ledger.hasCharged(roundId)) throw new AgentError('FEDVAL_ERR_AGENT_ROUND_REPEATED', roundId);
      // A masked input left for the round and is no longer held: another one would be masked by the same keys (one-time
      // pad reuse: y1 − y2 = x1 − x2), so the round never runs again, whatever its privacy setting.
      if (this.#state().secagg.find(roundId)) throw new AgentError('FEDVAL_ERR_AGENT_ROUND_REPEATED', `${roundId}: its masked input was sent`);
      spec = resolveMetricSpec(task.metricSpec);
      checkTaskPolicy(this.#config.policy, spec, task);
      // A BFV task's public key must be vouched for by the privacy officer's key holder, whose statement also carries
      // the release minimum it enforces: a coordinator cannot substitute a key it holds the secret of.
      // Named by its digest, the statement is this site's verified copy, or asked of the coordinator once.
      const admitting = { roundId, cancelled: false };
      this.#admitting = admitting;
      let signed: unknown;
      try {
        signed = await this.#keyStatements.statementFor(task);
      } finally {
        this.#admitting = undefined;
      }
      // Cancelled while the statement was awaited: nothing was read or charged, and nothing will be.
      if (admitting.cancelled) throw new AgentError('FEDVAL_ERR_AGENT_CANCELLED');
      const statement = checkStudyKey(this.#config.policy, task, this.#identity(), this.#state().keyStatements, signed);
      if (statement && task.contribution.kind === 'bfv' && task.contribution.keyStatementSha256 !== undefined) {
        this.#keyStatements.remember(task.studyId, task.contribution.keyStatementSha256, signed);
      }
      if (statement && statement.minSites < this.#config.policy.min_sites) {
        throw new AgentError('FEDVAL_ERR_AGENT_POLICY_MIN_SITES', `the key holder releases sums of ${statement.minSites} sites, the site's minimum is ${this.#config.policy.min_sites}`);
      }
      // The release is fixed by the spec alone: its noise, own-share ε and cost are checked before any data is read.
      release = createRelease(createStatisticsLayout(spec), task.privacy);
      // Shares sized for m sites are the full noise only in a sum of at least m: the key holder, which decrypts sums of
      // statement.minSites, must never open a sum of fewer sites than this site's share was sized for.
      if (statement && release.kind === 'private' && release.noisePlan.minSites > statement.minSites) {
        throw new AgentError('FEDVAL_ERR_AGENT_NOISE_MIN_SITES', `noise shares sized for ${release.noisePlan.minSites} sites, the key holder decrypts sums of ${statement.minSites}`);
      }
      // The plan's per-entry bounds must hold whatever this site may send (plan-bounds.ts): decided before any read.
      if (task.contribution.kind === 'bfv') {
        checkPlanBounds(task.contribution.plan, release, Math.min(this.#config.policy.min_plan_patients, this.#config.limits.max_rows));
      }
      if (release.kind === 'private') {
        checkReleasePolicy(this.#config.policy, release);
        const decision = this.#state().ledger.decide({ datasetId: this.#datasetId(), roundId, rho: release.rho }, this.#budget());
        if (!decision.allowed) throw new DpError(decision.code, decision.detail);
      }
      if (task.secureAggregation) {
        if (!this.#siteKey || task.contribution.kind !== 'bfv' || !statement) {
          throw new AgentError('FEDVAL_ERR_AGENT_SECAGG_UNAVAILABLE', 'it needs an enrolled site key, bfv contributions and the key holder’s statement');
        }
        const kept = {
          threshold: task.secureAggregation.threshold,
          // A threshold below any release minimum would let t masked sites be unmasked where more are required.
          minSites: secaggThresholdFloor(this.#config.policy.min_sites, statement.minSites, release.kind === 'private' ? release.noisePlan.minSites : undefined),
          // Peers are authenticated by the roster the key holder signed (issue 12), never by the coordinator's word.
          roster: statement.roster.map((site): [string, string] => [site.siteId, site.fingerprint]),
        };
        // Made last, once every admission check passed: a refused task keeps no secrets.
        secagg = this.#secaggSession(task.studyId, roundId, task.deadline, kept);
        this.#secagg.set(roundId, secagg);
      }
    } catch (error) {
      return refuse(error);
    }
    // Fails closed: a task that asks for secure aggregation never runs without this attempt's own session.
    if (task.secureAggregation && !secagg) return refuse(new AgentError('FEDVAL_ERR_AGENT_SECAGG_UNAVAILABLE', 'no secure-aggregation session for the round'));
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
      if (secagg) {
        // AdvertiseKeys, then ShareKeys (Bonawitz et al. 2017, rounds 0 and 1), before any data is read. A step this
        // round already took (kept in agent.sqlite: the coordinator or this agent restarted) is not taken again: the
        // same keys, the same sealed shares, the same inbox.
        const sessions = this.#state().secaggSessions;
        const kept = sessions.find(roundId);
        // Wiped (or past the deadline) since admission: the secrets are never split or used again.
        if (!kept?.secrets || kept.deadline <= Date.now()) throw new AgentError('FEDVAL_ERR_AGENT_SECAGG_CHANGED', 'this round’s secure-aggregation keys were wiped at its deadline');
        this.#send(createMessage('secagg.advertise', { roundId, advertisement: secagg.session.advertisement() }));
        secagg.advertised = true;
        let sent: { to: string; sealed: Uint8Array }[];
        if (kept?.shared) {
          secagg.session.restoreShareKeys(kept.shared.advertisements, kept.shared.own);
          sent = kept.shared.sent.map((share) => ({ to: share.site, sealed: share.sealed }));
          secagg.shared = { keys: keysFingerprint(kept.shared.advertisements), sent };
        } else {
          const advertisements = await untilAborted(secagg.keys.promise, abort.signal);
          sent = secagg.session.shareKeys(advertisements);
          // Kept before the shares leave: new shares of the same secrets never follow them. Exactly the round's row,
          // secrets still kept and no shares recorded yet, or nothing leaves (a wipe meanwhile, or shares already made).
          if (!sessions.recordShared(roundId, advertisements, secagg.session.ownShares, sent.map((share) => ({ site: share.to, sealed: share.sealed })))) {
            throw new AgentError('FEDVAL_ERR_AGENT_SECAGG_CHANGED', 'this round’s secrets were wiped or already shared; they are never split twice');
          }
          secagg.shared = { keys: keysFingerprint(advertisements), sent };
        }
        this.#send(createMessage('secagg.shares', { roundId, shares: sent.map((share) => ({ to: share.to, sealed: new Uint8Array(share.sealed) })) }));
        const inbox = kept?.inbox ? kept.inbox.map((share) => ({ from: share.site, sealed: share.sealed })) : await untilAborted(secagg.inbox.promise, abort.signal);
        secagg.session.receiveShares(inbox);
        if (!kept?.inbox) sessions.recordInbox(roundId, inbox.map((share) => ({ site: share.from, sealed: share.sealed })));
        secagg.received = inboxFingerprint(inbox);
        this.#record({ action: 'secagg.keys_shared', object, details: { study: task.studyId, peers: secagg.session.peers, threshold: task.secureAggregation?.threshold ?? null } });
        if (process.env[SIMULATE_DROP_ENV] === 'after_share_keys' && this.#dropOut) {
          log.warn('simulated dropout: the agent stops after the share exchange, before sending its masked input');
          this.#dropOut();
          return;
        }
        if (process.env[SIMULATE_DROP_ENV] === 'stall_after_share_keys') {
          log.warn('simulated stall: the agent stays connected and sends nothing more for this round');
          await untilAborted(new Promise<never>(() => {}), abort.signal);
        }
      }
      const progress = this.#progressReporter(roundId);
      progress('loading_model', 0);
      const scorer = bundle
        ? await loadLocalModelScorer(bundle.dir, this.#log, { batchRows: this.#config.limits.batch_rows, threads: this.#config.limits.model_threads, expectedSha256: bundle.bundleSha256 })
        : scoreColumnScorer(task.scorer.kind === 'score_column' ? task.scorer.columns : []);
      const dataFingerprint = createHash('sha256');
      const outcome = await withScorer(scorer, () => evaluateDataset({
        source: openDataSource(this.#config.data, {
          batchRows: this.#config.limits.batch_rows,
          maxRows: this.#config.limits.max_rows,
          threads: this.#config.limits.engine_threads,
          streamThreads: this.#config.limits.engine_stream_threads,
          memoryLimit: this.#config.limits.engine_memory_limit,
        }),
        fingerprint: (bytes) => dataFingerprint.update(bytes),
        spec,
        label: this.#config.data.label,
        scorer,
        onProgress: (percent) => progress('evaluating', percent),
        signal: abort.signal,
      }));
      abort.signal.throwIfAborted();
      // No refusal on the cohort's size: deciding on the exact count would tell the coordinator that count for free.
      // Small cohorts are protected by suppression (min_cell) at release and by the noise (README, "Small cohorts").
      progress('protecting', 100);
      const released = release.protect(outcome.vector, cryptoRandomSource());
      const datasetCommitment = this.#commitToDataset(task, dataFingerprint.digest('hex'));
      const { contribution, saturated } = await encryptContribution(released, task.contribution, secagg ? (slots, t) => secagg.session.slotMask(slots, t) : undefined);
      // Known at the site only (its own log and audit trail): what leaves has the same shape either way.
      if (saturated > 0) log.warn({ saturated }, 'entries beyond the encryption plan bounds were saturated; the aggregate is biased (raise the study max_patients_per_site)');
      abort.signal.throwIfAborted();
      progress('sending', 100);
      const digest = contributionDigest(contribution);
      const contributionSha256 = digest.sha256;
      // One transaction: the charge, its audit entry, the contribution.sent entry and the contribution kept for the
      // round commit together before the message leaves. A crash before the commit burns no budget and leaves the
      // round answerable; a crash after it re-sends the same bytes. The entries are fsynced first: a crash can lose a
      // contribution, never hide one.
      const state = this.#state();
      const attestation = state.audit.transaction((append) => {
        const privacy = release.kind === 'private' ? this.#chargePrivacy(release, task, (event) => append(this.#asSite(event))) : null;
        if (process.env[FAULT_ENV] === 'crash-after-charge') process.kill(process.pid, 'SIGKILL');
        const sent = append(
          this.#asSite({
            action: 'contribution.sent',
            object,
            details: {
              site: this.#config.site_id,
              round: roundId,
              study: task.studyId,
              sha256: contributionSha256,
              bytes: digest.bytes,
              kind: contribution.kind,
              epsilon: privacy?.epsilon ?? null,
              own_share_epsilon: privacy?.own_share_epsilon ?? null,
              dataset_commitment: datasetCommitment,
              saturated_entries: saturated,
            },
          }),
        );
        const attested = {
          ...(privacy ? { privacy } : {}),
          dataset_commitment: datasetCommitment,
          audit_head: { seq: sent.seq, hash: sent.hash },
          ...(secagg && task.secureAggregation ? { secure_aggregation: { threshold: task.secureAggregation.threshold, peers: secagg.session.peers } } : {}),
        };
        if (secagg) state.secagg.recordMasked(roundId, task.studyId, task.deadline);
        state.sent.keep({ roundId, studyId: task.studyId, deadline: task.deadline, contribution, contributionSha256, attestation: attested, keyHashes: this.#keyHashes(task.contribution) });
        return attested;
      });
      const signature = this.#signResult({ studyId: task.studyId, roundId }, contributionSha256, attestation, this.#keyHashes(task.contribution));
      this.#send(createMessage('task.result', { roundId, contribution, contributionSha256, attestation, ...(signature ? { signature } : {}) }, requestId));
      log.info({ contributionSha256, kind: contribution.kind, entries: released.length, scorer: scorer.description, privacy: attestation.privacy ?? null }, 'contribution sent');
      // At the deadline, a round this site never signed a survivor set for is refunded, and its secrets are wiped.
      if (secagg) this.#secagg.armDeadline(roundId, secagg, task.deadline);
      this.#finished(roundId, 'contributed');
    } catch (error) {
      // The kept secrets of the round are wiped at its deadline all the same; only this attempt's session is forgotten.
      if (secagg) {
        this.#secagg.armDeadline(roundId, secagg, task.deadline);
        this.#secagg.release(roundId, secagg);
      }
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
  #resendContribution(requestId: string, sent: SentContribution, task: TaskContent, log: Logger): void {
    const { roundId, contribution, contributionSha256, attestation } = sent;
    const refuse = (code: 'FEDVAL_ERR_AGENT_RESEND_KEY_CHANGED' | 'FEDVAL_ERR_AGENT_SECAGG_CHANGED', detail: string): void => {
      const reason = agentWireError(new AgentError(code, detail));
      this.#recordQuietly({ action: 'task.refused', object: `round:${roundId}`, reason: reason.code, details: { study: sent.studyId, code: reason.code } });
      log.warn({ code: reason.code, reason: reason.message }, 'task sent again with other terms than the contribution kept for its round; refused');
      this.#send(createMessage('task.refuse', { roundId, reason }, requestId));
      this.#finished(roundId, 'refused', reason.code);
    };
    // The record is signed for the key and plan the ciphertexts were made under, never the repeated task's: a task that
    // names another key or plan (or a BFV round kept without them) is refused, and nothing is sent.
    const asked = this.#keyHashes(task.contribution);
    if (contribution.kind === 'bfv' && (sent.keyHashes === undefined || asked?.publicKeySha256 !== sent.keyHashes.publicKeySha256 || asked.planSha256 !== sent.keyHashes.planSha256)) {
      return refuse('FEDVAL_ERR_AGENT_RESEND_KEY_CHANGED', 'another public key or plan');
    }
    // A task that asks for secure aggregation is never answered with a contribution kept unmasked for its round.
    if (task.secureAggregation && !attestation.secure_aggregation) {
      return refuse('FEDVAL_ERR_AGENT_SECAGG_CHANGED', 'the task asks for secure aggregation; the contribution kept for its round is not masked');
    }
    try {
      this.#record({
        action: 'contribution.resent',
        object: `round:${roundId}`,
        details: { site: this.#config.site_id, round: roundId, study: sent.studyId, sha256: contributionSha256, bytes: contributionDigest(contribution).bytes, kind: contribution.kind },
      });
    } catch (error) {
      log.error({ code: agentWireError(error).code }, 'cannot record the re-sent contribution; not sending it');
      return;
    }
    const signature = this.#signResult({ studyId: sent.studyId, roundId }, contributionSha256, attestation, sent.keyHashes);
    this.#send(createMessage('task.accept', { roundId }, requestId));
    this.#send(createMessage('task.result', { roundId, contribution, contributionSha256, attestation, ...(signature ? { signature } : {}) }, requestId));
    log.info({ contributionSha256 }, 'task sent again after a lost connection: the same contribution re-sent, nothing recomputed or charged');
    this.#finished(roundId, 'contributed');
  }

  /**
   * An enrolled site's signature over its contribution record (@fedval/trust signResult: study, round, site, SHA-256 of
   * the ciphertexts, nonce, time, and for BFV the SHA-256 of the public key and plan it encrypted under); the key holder
   * checks it against its roster and refuses a record made under any other key than its own. None for a token site.
   */
  #signResult(
    task: Pick<TaskContent, 'studyId' | 'roundId'>,
    contributionSha256: string,
    attestation: ResultAttestation,
    keyHashes: { publicKeySha256: string; planSha256: string } | undefined,
  ): ResultSignature | undefined {
    if (!this.#siteKey) return undefined;
    // The attestation (privacy spent, dataset commitment, audit head) is signed too, through its canonical SHA-256.
    const fields = {
      studyId: task.studyId,
      roundId: task.roundId,
      siteId: this.#config.site_id,
      contributionSha256,
      nonce: createNonce(),
      sentAt: Date.now(),
      attestationSha256: attestationSha256(attestation),
      ...(keyHashes ?? {}),
    };
    return { nonce: fields.nonce, sentAt: fields.sentAt, ...(keyHashes ?? {}), signature: new Uint8Array(signResult(this.#siteKey, fields)) };
  }

  /**
   * Receives a task's model bundle (manifest hash and sponsor signature checked, cached for review), records it in the
   * site's registry, and applies policy.model_approval: returns the bundle to run, or throws the coded refusal. A
   * bundle that is refused for want of approval stays in the cache and the registry for `fedval-agent models`.
   */
  async #admitModel(scorer: Extract<TaskContent['scorer'], { kind: 'model' }>, roundId: string): Promise<ReceivedBundle & { basis: ModelRunBasis }> {
    const bundle = await receiveModelBundle(scorer, this.#config.data_dir);
    const received = this.#state().models.recordReceived({
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
    const record = { studyId: task.studyId, roundId: task.roundId, datasetId: this.#datasetId(), dataFile: dataSourceName(this.#config.data), fingerprint, salt, commitment };
    const state = this.#state();
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
   * Charges a private release's cost to the site's ledger inside the caller's write transaction (refused with the
   * ledger's code when the site budget would be exceeded, whatever the coordinator says) and audits it through
   * `append`; returns what the site reports it spent: `epsilon` assuming the other sites' noise shares are honest, and
   * `own_share_epsilon`, what its own share alone gives if every other party colludes.
   */
  #chargePrivacy(release: PrivateRelease, task: TaskContent, append: (event: Omit<AuditEvent, 'actor'>) => AuditEntry): PrivacyAttestation {
    const datasetId = this.#datasetId();
    const decision = this.#state().ledger.chargeInTransaction(
      { datasetId, studyId: task.studyId, roundId: task.roundId, rho: release.rho, epsilon: release.epsilon, delta: release.delta, ownShareEpsilon: release.ownShareEpsilon },
      this.#budget(),
    );
    if (!decision.allowed) throw new DpError(decision.code, decision.detail);
    const after = decision.after;
    const privacy = {
      rho: release.rho,
      epsilon: release.epsilon,
      own_share_epsilon: release.ownShareEpsilon,
      min_sites: release.noisePlan.minSites,
      delta: release.delta,
      epsilon_spent: after.spentEpsilon,
      epsilon_remaining: Math.max(0, after.totalEpsilon - after.spentEpsilon),
      epsilon_total: after.totalEpsilon,
    };
    append({ action: 'privacy.charged', object: `round:${task.roundId}`, details: { dataset_id: datasetId, study: task.studyId, ...privacy } });
    return privacy;
  }

  /** A BFV request's SHA-256 of its public key bytes and of its canonical plan (@fedval/he planSha256); undefined otherwise. */
  #keyHashes(request: TaskContent['contribution']): { publicKeySha256: string; planSha256: string } | undefined {
    return request.kind === 'bfv' ? { publicKeySha256: createHash('sha256').update(request.publicKey).digest('hex'), planSha256: planSha256(request.plan) } : undefined;
  }

  /** This site as the key holder's roster names it: its id and, when enrolled, its key's fingerprint. */
  #identity(): SiteIdentity {
    return { siteId: this.#config.site_id, fingerprint: this.#siteKey ? publicKeyFingerprint(publicKeyOf(this.#siteKey)) : undefined };
  }

  #asSite(event: Omit<AuditEvent, 'actor'>): AuditEvent {
    return { actor: `site:${this.#config.site_id}`, ...event };
  }

  #budget(): PrivacyBudget {
    const { total_epsilon, per_round_epsilon, delta } = this.#config.privacy;
    return budgetFromEpsilon({ totalEpsilon: total_epsilon, perRoundEpsilon: per_round_epsilon, delta });
  }

  #datasetId(): string {
    return this.#config.privacy.dataset_id ?? `${this.#config.site_id}:${dataSourceName(this.#config.data)}`;
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
}

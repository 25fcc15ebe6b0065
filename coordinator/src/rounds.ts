// rounds.ts — the round state machine: dispatch, accept/refuse/result handling, quorum, deadline, aggregation, close.
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { createStatisticsLayout } from '@fedval/metrics';
import type { MetricSpec } from '@fedval/metrics';
import { contributionDigest, createMessage, encodeMessage } from '@fedval/protocol';
import { attestationSha256, CONTRIBUTION_RECEIVED, studyKeyStatementSha256 } from '@fedval/trust';
import type { PrivacyAttestation, ResultAttestation } from '@fedval/trust';
import type { ContentOf, Contribution, Message, MessageOf, Scorer, TaskContent } from '@fedval/protocol';
import type { FastifyBaseLogger } from 'fastify';
import type { ContributionAggregator } from './aggregation/contribution-aggregator.ts';
import { PlaintextAggregator } from './aggregation/plaintext-aggregator.ts';
import { BfvAggregator } from './aggregation/bfv-aggregator.ts';
import { createRelease, finalizeRelease } from '@fedval/dp';
import type { StatisticsRelease } from '@fedval/dp';
import { createHeContext } from '@fedval/he';
import type { HeContext } from '@fedval/he';
import type { AuditRecorder, BatchedAuditRecorder } from './coordinator-audit.ts';
import { SecureAggregationRound } from './secure-aggregation.ts';
import type { SecaggOutbox, SecaggPhaseOutbox } from './secure-aggregation.ts';
import { SiteIdentities } from './site-identities.ts';
import { CoordinatorError, coordinatorWireError } from './errors.ts';
import type { CoordinatorErrorCode } from './errors.ts';
import { modelScorer } from './model-bundles.ts';
import { crashPoint } from './test-fault.ts';
import type { BundleFileStore } from './storage/bundle-files.ts';
import type { CoordinatorStore, RoundRecord, RoundResult, RoundSiteRecord, RoundSiteStatus, RoundState, SecaggEvent, StudyRecord } from './storage/store.ts';

/** Why a round failed, as stored and reported in `reason`. */
export const ROUND_FAILURE_REASONS = ['quorum_not_met', 'coordinator_restarted', 'coordinator_stopped', 'finalization_failed', 'secure_aggregation_incomplete'] as const;
export type RoundFailureReason = (typeof ROUND_FAILURE_REASONS)[number];

/** How the hub delivers messages to connected sites. */
export interface SiteChannel {
  isConnected(siteId: string): boolean;
  /** Sends if the site is connected; returns whether it was sent. */
  send(siteId: string, message: Message): boolean;
  /** Sends an already encoded message (one frame shared by many sites) if the site is connected; returns whether it was sent. */
  sendEncoded(siteId: string, frame: Uint8Array): boolean;
}

export interface RoundRunnerEvents {
  closed: [roundId: string, state: RoundState, reason: string | null];
}

interface OpenRound {
  id: string;
  study: StudyRecord;
  state: RoundState;
  deadlineAt: number;
  timer: NodeJS.Timeout;
  /** How the vector sites send maps back to the statistics layout (exact, or under DP noised and coarsened). */
  release: StatisticsRelease;
  aggregator: ContributionAggregator;
  /** The HE context of a bfv round, disposed when the round closes. */
  he: HeContext | null;
  task: TaskContent;
  /** Each site's status; `sha256` names what a contributed site sent, so the same bytes sent again are recognised. */
  sites: Map<string, RoundSite>;
  /** Secure aggregation's phases, for a round that uses it. */
  secagg: SecureAggregationRound | null;
  /** Fires when the current secure-aggregation phase has waited `secaggPhaseTimeoutMs`; null without secure aggregation. */
  phaseTimer: NodeJS.Timeout | null;
  /** The `key_statement` message sites of this round ask for, encoded once and sent as the same bytes to each. */
  keyStatementFrame?: Uint8Array;
}

interface RoundSite {
  status: RoundSiteStatus;
  code: string | null;
  sha256: string | null;
}

const TERMINAL_SITE_STATUSES: readonly RoundSiteStatus[] = ['contributed', 'refused', 'invalid'];
const OUTSTANDING_SITE_STATUSES: readonly RoundSiteStatus[] = ['dispatched', 'accepted'];

export interface RoundRunnerOptions {
  store: CoordinatorStore;
  bundles: BundleFileStore;
  channel: SiteChannel;
  log: FastifyBaseLogger;
  /** The audit trail: every transition is recorded before it is acted on. */
  audit: AuditRecorder;
  /**
   * The same trail with group commit, for the per-site entries of a round (dispatched, accepted, contribution
   * received): hundreds of sites cost one fsync per event-loop turn. Default: `audit`, one fsync each.
   */
  auditBatched?: BatchedAuditRecorder;
  /** Enrolled sites' keys: their results must carry a valid, fresh signature. Default: no site is enrolled. */
  identities?: SiteIdentities;
  /**
   * How long a secure-aggregation phase waits for the sites still in it, in milliseconds; then they are dropped and the
   * round goes on if at least the threshold remain, else fails. Default 60000 ms (`limits.secagg_phase_timeout_ms`).
   */
  secaggPhaseTimeoutMs?: number;
}

/** Default of `secaggPhaseTimeoutMs` (and of the coordinator's `limits.secagg_phase_timeout_ms`). */
export const DEFAULT_SECAGG_PHASE_TIMEOUT_MS = 60_000; // 1 min

/**
 * Runs every open round of this process. In-memory state is authoritative while a round is open;
 * each transition is written to the store in order through one write queue.
 */
export class RoundRunner extends EventEmitter<RoundRunnerEvents> {
  readonly #store: CoordinatorStore;
  readonly #bundles: BundleFileStore;
  readonly #channel: SiteChannel;
  readonly #log: FastifyBaseLogger;
  readonly #audit: AuditRecorder;
  readonly #auditBatched: BatchedAuditRecorder;
  readonly #identities: SiteIdentities;
  readonly #secaggPhaseTimeoutMs: number;
  readonly #open = new Map<string, OpenRound>();
  /** Rounds failed at start because they could not resume: sites still to be told, until the round's deadline. */
  readonly #interrupted = new Map<string, { sites: Set<string>; deadlineAt: number }>();
  #writes: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(options: RoundRunnerOptions) {
    super();
    this.#store = options.store;
    this.#bundles = options.bundles;
    this.#channel = options.channel;
    this.#log = options.log;
    this.#audit = options.audit;
    this.#auditBatched = options.auditBatched ?? ((event) => ({ entry: options.audit(event), durable: Promise.resolve() }));
    this.#identities = options.identities ?? new SiteIdentities();
    this.#secaggPhaseTimeoutMs = options.secaggPhaseTimeoutMs ?? DEFAULT_SECAGG_PHASE_TIMEOUT_MS;
  }

  /** Opens a round of a study and dispatches its task to every study site that is connected. `actor` is who started it, for the audit trail. */
  async startRound(study: StudyRecord, options: { actor?: string; now?: number } = {}): Promise<{ roundId: string; state: RoundState }> {
    const now = options.now ?? Date.now();
    if (this.#closed) throw new CoordinatorError('FEDVAL_ERR_COORD_SHUTTING_DOWN');
    const layout = createStatisticsLayout(study.metricSpec);
    const release = createRelease(layout, study.protection.privacy);
    const scorer = await this.#scorerFor(study);
    for (const round of this.#open.values()) {
      if (round.study.id === study.id) throw new CoordinatorError('FEDVAL_ERR_COORD_ROUND_IN_PROGRESS', `round ${round.id}`);
    }
    let he: HeContext | null = null;
    if (study.contribution === 'bfv') {
      if (!study.publicKey || !study.protection.encryption) throw new CoordinatorError('FEDVAL_ERR_COORD_NO_PUBLIC_KEY', study.id);
      he = await createHeContext(study.protection.encryption);
    }
    const id = randomUUID();
    const deadlineAt = now + study.deadlineSeconds * 1000;
    const sites = new Map(study.sites.map((siteId): [string, RoundSite] => [siteId, { status: 'pending', code: null, sha256: null }]));
    const round = this.#openRound(study, { id, state: 'dispatched', deadlineAt, release, scorer, he, sites }, now);
    this.#open.set(id, round);
    try {
      await this.#write(() =>
        this.#store.createRound({
          id,
          studyId: study.id,
          state: 'dispatched',
          createdAt: now,
          deadlineAt,
          sites: study.sites.map((siteId): RoundSiteRecord => ({ siteId, status: 'pending', code: null, contributionBytes: null, contributionSha256: null, updatedAt: now })),
        }),
      );
    } catch (error) {
      clearTimeout(round.timer);
      this.#open.delete(id);
      he?.dispose();
      throw error;
    }
    try {
      this.#audit({
        actor: options.actor ?? 'coordinator',
        action: 'round.started',
        object: `round:${id}`,
        details: { study: study.id, sites: study.sites.length, quorum: study.quorum, deadline_at: new Date(deadlineAt).toISOString() },
      });
    } catch (error) {
      this.#close(round, 'coordinator_stopped');
      throw error;
    }
    this.#log.info({ roundId: id, studyId: study.id, sites: study.sites.length, quorum: study.quorum, deadlineAt }, 'round opened');
    for (const siteId of study.sites) this.#dispatch(round, siteId);
    void this.#enqueue(async () => crashPoint('crash-after-dispatch'));
    this.#armPhaseTimer(round);
    return { roundId: id, state: round.state };
  }

  /** The in-memory state of an open round: its task, an empty aggregator, its deadline timer and secure aggregation. */
  #openRound(study: StudyRecord, parts: Pick<OpenRound, 'id' | 'state' | 'deadlineAt' | 'release' | 'he' | 'sites'> & { scorer: Scorer }, now: number): OpenRound {
    const { id, state, deadlineAt, release, scorer, he, sites } = parts;
    const secureAggregation = study.contribution === 'bfv' && study.protection.secureAggregation ? { threshold: study.protection.secureAggregation.threshold } : null;
    const task: TaskContent = {
      studyId: study.id,
      roundId: id,
      metricSpec: study.metricSpec,
      scorer,
      contribution:
        study.contribution === 'bfv'
          ? {
              kind: 'bfv',
              plan: study.protection.encryption as NonNullable<typeof study.protection.encryption>,
              publicKey: new Uint8Array(study.publicKey as Uint8Array),
              // The key holder's statement, by its digest: a site that has not verified it asks for it once
              // (key_statement.request) and refuses the key without it (the coordinator cannot forge it). Not inline: its
              // roster grows with the network, and N sites each receiving N entries per round grew the coordinator's
              // memory and every site's traffic with N (tests/bench/scale.ts).
              ...(study.keyStatement ? { keyStatementSha256: studyKeyStatementSha256(study.keyStatement) } : {}),
            }
          : { kind: 'plaintext' },
      ...(study.protection.privacy ? { privacy: study.protection.privacy } : {}),
      deadline: deadlineAt,
      ...(secureAggregation ? { secureAggregation } : {}),
    };
    const timer = setTimeout(() => this.#onDeadline(id), Math.max(0, deadlineAt - now));
    timer.unref();
    return {
      id,
      study,
      state,
      deadlineAt,
      timer,
      release,
      aggregator: he ? new BfvAggregator(he) : new PlaintextAggregator(release.length),
      he,
      task,
      sites,
      secagg: secureAggregation ? new SecureAggregationRound({ threshold: secureAggregation.threshold, studyId: study.id, roundId: id, sites: study.sites }) : null,
      phaseTimer: null,
    };
  }

  /**
   * Resumes the rounds a previous run of the coordinator left open (it was killed or stopped mid-round), before sites
   * connect. A round continues to its stored, absolute deadline (one already past closes at once) with what it had
   * received durably: the stored ciphertexts of a bfv round are added again, so their sites are not asked again; sites
   * that had not contributed get the task when they reconnect and re-send the bytes they kept (no second charge). The
   * plaintext seam stores no vectors: its contributors are asked again and re-send theirs. A securely aggregated round
   * is rebuilt in the phase it had reached from the steps the store kept (SecureAggregationRound.replay), and each site
   * that comes back is sent what that phase needs (onSiteConnected); the phase's timeout starts again. A round that
   * cannot be rebuilt fails with `coordinator_restarted`, and each of its sites is sent `task.cancel` when it reconnects.
   * Returns how many rounds resumed and how many failed.
   */
  async resumeOpenRounds(now = Date.now()): Promise<{ resumed: number; failed: number }> {
    let resumed = 0;
    let failed = 0;
    for (const record of await this.#store.listOpenRounds()) {
      const study = await this.#store.getStudy(record.studyId);
      if (!study) {
        await this.#failInterrupted(record, now);
        failed += 1;
        continue;
      }
      try {
        await this.#resume(study, record, now);
        resumed += 1;
      } catch (error) {
        // The study's model is gone, its plan no longer loads, or its secure-aggregation steps do not replay: the round cannot go on.
        this.#log.error({ roundId: record.id, code: coordinatorWireError(error).code }, 'cannot resume the round');
        await this.#failInterrupted(record, now);
        failed += 1;
      }
    }
    return { resumed, failed };
  }

  async #resume(study: StudyRecord, record: RoundRecord, now: number): Promise<void> {
    const release = createRelease(createStatisticsLayout(study.metricSpec), study.protection.privacy);
    const scorer = await this.#scorerFor(study);
    const he = study.contribution === 'bfv' ? await createHeContext(study.protection.encryption as NonNullable<typeof study.protection.encryption>) : null;
    const sites = new Map(record.sites.map((site): [string, RoundSite] => [site.siteId, { status: site.status, code: site.code, sha256: site.contributionSha256 }]));
    const round = this.#openRound(study, { id: record.id, state: record.state, deadlineAt: record.deadlineAt, release, scorer, he, sites }, now);
    // What counts is what was stored: each site's kept ciphertexts, added again in arrival order (BFV addition commutes).
    let ended: SecaggOutbox | undefined;
    let kept: { siteId: string; contribution: Contribution; privacy: PrivacyAttestation | null }[];
    try {
      kept = (he ? await this.#store.listRoundContributions(record.id) : []).map((stored) => ({
        siteId: stored.siteId,
        contribution: { kind: 'bfv', ciphertexts: stored.ciphertexts.map((ciphertext) => new Uint8Array(ciphertext)) },
        privacy: stored.attestation?.privacy ?? null,
      }));
      for (const { siteId, contribution } of kept) round.aggregator.add(siteId, contribution);
      ended = round.secagg ? await this.#replaySecagg(round, kept.map((contribution) => contribution.siteId)) : undefined;
    } catch (error) {
      clearTimeout(round.timer);
      he?.dispose();
      throw error;
    }
    for (const { siteId, contribution, privacy } of kept) {
      const { bytes, sha256 } = contributionDigest(contribution);
      // Killed between keeping the ciphertexts and recording the status: the status catches up.
      if (round.sites.get(siteId)?.status !== 'contributed') this.#setSite(round, siteId, { status: 'contributed', contributionBytes: bytes, contributionSha256: sha256, privacy });
      (round.sites.get(siteId) as RoundSite).sha256 = sha256;
    }
    const counted = new Set(kept.map((contribution) => contribution.siteId));
    for (const [siteId, site] of round.sites) {
      // A contribution whose content is not stored (the plaintext seam) is asked for again: the site re-sends the same bytes.
      if (site.status === 'contributed' && !counted.has(siteId)) this.#setSite(round, siteId, { status: 'dispatched' });
    }
    this.#open.set(round.id, round);
    const outstanding = [...round.sites.values()].filter((site) => !TERMINAL_SITE_STATUSES.includes(site.status)).length;
    this.#audit({
      actor: 'coordinator',
      action: 'round.resumed',
      object: `round:${round.id}`,
      details: {
        study: study.id,
        contributions: round.aggregator.count,
        outstanding,
        deadline_at: new Date(round.deadlineAt).toISOString(),
        ...(round.secagg ? { secure_aggregation: { phase: round.secagg.phase } } : {}),
      },
    });
    this.#log.info({ roundId: round.id, studyId: study.id, contributions: round.aggregator.count, outstanding, deadlineAt: round.deadlineAt, phase: round.secagg?.phase }, 'round resumed after a restart');
    if (round.deadlineAt <= now) this.#close(round, 'deadline');
    else if (ended?.kind === 'done') this.#close(round, 'settled');
    else if (ended?.kind === 'failed') this.#close(round, 'settled', ended.problem);
    else {
      this.#closeIfSettled(round);
      this.#armPhaseTimer(round);
    }
  }

  /**
   * Rebuilds a resumed round's secure aggregation from its kept steps; a masked input stored whose `input` step was not
   * (killed between the two writes) is counted as it would have been. Returns how the steps ended the round, if they did.
   */
  async #replaySecagg(round: OpenRound, stored: string[]): Promise<SecaggOutbox | undefined> {
    const previous = round.secagg as SecureAggregationRound;
    const events = await this.#store.listSecaggEvents(round.id);
    const options = { threshold: previous.threshold, studyId: round.study.id, roundId: round.id, sites: round.study.sites };
    const { round: secagg, ended } = SecureAggregationRound.replay(options, events, (siteId) => this.#identities.publicKey(siteId));
    round.secagg = secagg;
    const counted = new Set(events.filter((event) => event.kind === 'input').map((event) => event.site));
    for (const siteId of stored) {
      if (counted.has(siteId)) continue;
      if (ended) throw new CoordinatorError('FEDVAL_ERR_COORD_SECAGG_PHASE', `a masked input of ${siteId} stored after the round ended`);
      secagg.checkInput(siteId);
      secagg.addInput(siteId);
      this.#secaggStep(round, { kind: 'input', site: siteId });
    }
    return ended;
  }

  /** Keeps one step of a round's secure aggregation (durably, in order, through the write queue) for a restart to replay. */
  #secaggStep(round: OpenRound, event: SecaggEvent): void {
    void this.#enqueue(() => this.#store.appendSecaggEvent(round.id, event));
  }

  /** The site left a securely aggregated round (refused, invalid, disconnected, timed out): its phases stop waiting for it. */
  #secaggOut(round: OpenRound, siteId: string): void {
    if (!round.secagg || round.secagg.isOut(siteId)) return;
    round.secagg.markOut(siteId);
    this.#secaggStep(round, { kind: 'out', site: siteId });
  }

  /** Fails a round that cannot resume (its study no longer loads, or its secure-aggregation steps do not replay); its sites are told when they reconnect, until its deadline. */
  async #failInterrupted(record: RoundRecord, now: number): Promise<void> {
    const reason: RoundFailureReason = 'coordinator_restarted';
    await this.#write(() => this.#store.closeRound(record.id, { state: 'failed', reason, closedAt: now, contributions: 0, aggregate: null, result: null }));
    this.#audit({ actor: 'coordinator', action: 'round.closed', object: `round:${record.id}`, reason, details: { state: 'failed', cause: reason, contributions: 0 } });
    this.#log.warn({ roundId: record.id, reason }, 'a round left open by the previous run cannot resume; failed');
    const sites = record.sites.filter((site) => site.status !== 'pending' && site.status !== 'refused').map((site) => site.siteId);
    if (record.deadlineAt > now && sites.length > 0) this.#interrupted.set(record.id, { sites: new Set(sites), deadlineAt: record.deadlineAt });
  }

  /**
   * Sends a site that just authenticated the task of every open round it has not settled: pending ones, and again
   * those dispatched or accepted on an earlier connection (the task or the result may have been lost with it; the
   * agent answers a repeat by re-sending the contribution it already made, never by running the task twice).
   */
  onSiteConnected(siteId: string): void {
    const now = Date.now();
    for (const [roundId, interrupted] of this.#interrupted) {
      if (interrupted.deadlineAt <= now) this.#interrupted.delete(roundId);
      else if (interrupted.sites.delete(siteId)) {
        this.#channel.send(siteId, createMessage('task.cancel', { roundId, reason: coordinatorWireError(new CoordinatorError('FEDVAL_ERR_COORD_ROUND_CLOSED')) }));
      }
    }
    for (const round of this.#open.values()) {
      const status = round.sites.get(siteId)?.status;
      if (round.secagg) {
        // Under secure aggregation a site that lost its connection dropped out (it is out). One still in the round came
        // back after this coordinator restarted: it is sent the task again if it owes its masked input (it answers by
        // re-sending what it already sent, never with new keys), then what the current phase needs from it.
        if (round.secagg.isOut(siteId) || status === undefined) continue;
        round.secagg.connected(siteId);
        if (status === 'pending' ? round.secagg.phase === 'advertise' : OUTSTANDING_SITE_STATUSES.includes(status)) this.#dispatch(round, siteId, status !== 'pending');
        this.#sendCatchUp(round, siteId);
        continue;
      }
      if (status === 'pending' || status === 'dispatched' || status === 'accepted') this.#dispatch(round, siteId, status !== 'pending');
    }
  }

  /** Sends a site what the current secure-aggregation phase needs from it, if it is still in that phase (after a restart). */
  #sendCatchUp(round: OpenRound, siteId: string): void {
    const outbox = round.secagg?.catchUp(siteId);
    if (outbox) this.#sendSecagg(round.id, outbox);
  }

  /** A site's connection closed: in a securely aggregated round it dropped out, and the phase stops waiting for it. */
  onSiteDisconnected(siteId: string): void {
    for (const round of [...this.#open.values()]) {
      const secagg = round.secagg;
      const site = round.sites.get(siteId);
      if (!secagg || !site || secagg.isOut(siteId) || site.status === 'pending') continue;
      this.#secaggOut(round, siteId);
      this.#audit({ actor: 'coordinator', action: 'secagg.site_dropped', object: `round:${round.id}`, details: { site: siteId, phase: secagg.phase } });
      if (OUTSTANDING_SITE_STATUSES.includes(site.status)) this.#setSite(round, siteId, { status: 'invalid', code: 'FEDVAL_ERR_COORD_SITE_DROPPED' });
      this.#log.info({ roundId: round.id, siteId, phase: secagg.phase }, 'site dropped out of the securely aggregated round');
      this.#advanceSecagg(round);
    }
  }

  /** Handles a secagg.* message from an authenticated site; throws a CoordinatorError to be sent back as an error reply. */
  handleSecaggMessage(siteId: string, message: MessageOf<'secagg.advertise' | 'secagg.shares' | 'secagg.consistency' | 'secagg.reveal'>): void {
    const round = this.#openRoundOf(siteId, message.content.roundId);
    const secagg = round.secagg;
    if (!secagg) throw new CoordinatorError('FEDVAL_ERR_COORD_SECAGG_PHASE', 'the round is not securely aggregated');
    const enrolledKey = this.#identities.publicKey(siteId);
    const object = `round:${round.id}`;
    const repeat =
      message.type === 'secagg.advertise' ? { kind: 'advertisement' as const, advertisement: message.content.advertisement }
      : message.type === 'secagg.shares' ? { kind: 'shares' as const, shares: message.content.shares }
      : message.type === 'secagg.consistency' ? { kind: 'consistency' as const, signed: message.content.signed }
      : { kind: 'reveal' as const, reveal: message.content.reveal };
    if (secagg.isRepeat(siteId, repeat)) {
      // Sent again, the same (the site re-sends what this coordinator may have lost in a restart): nothing changes; a
      // repeated advertisement asks for what the current phase needs from the site (a site restarted mid-round), once
      // per phase and connection.
      this.#log.debug({ roundId: round.id, siteId, type: message.type }, 'secure-aggregation message repeated; already counted');
      if (message.type === 'secagg.advertise') {
        const outbox = secagg.catchUpOnRepeat(siteId);
        if (outbox) this.#sendSecagg(round.id, outbox);
      }
      return;
    }
    try {
      switch (message.type) {
        case 'secagg.advertise':
          if (round.sites.get(siteId)?.status !== 'accepted') throw new CoordinatorError('FEDVAL_ERR_COORD_SECAGG_PHASE', 'keys before accepting the task');
          secagg.addAdvertisement(siteId, message.content.advertisement, enrolledKey);
          this.#secaggStep(round, { kind: 'advertisement', site: siteId, advertisement: message.content.advertisement });
          this.#audit({ actor: `site:${siteId}`, action: 'secagg.keys_advertised', object, details: { site: siteId } });
          break;
        case 'secagg.shares':
          secagg.addShares(siteId, message.content.shares);
          this.#secaggStep(round, { kind: 'shares', site: siteId, shares: message.content.shares });
          this.#audit({ actor: `site:${siteId}`, action: 'secagg.shares_received', object, details: { site: siteId, shares: message.content.shares.length } });
          break;
        case 'secagg.consistency':
          secagg.addConsistency(siteId, message.content.signed, enrolledKey);
          this.#secaggStep(round, { kind: 'consistency', site: siteId, signed: message.content.signed });
          this.#audit({ actor: `site:${siteId}`, action: 'secagg.survivors_signed', object, details: { site: siteId } });
          break;
        case 'secagg.reveal':
          secagg.addReveal(siteId, message.content.reveal, enrolledKey);
          this.#secaggStep(round, { kind: 'reveal', site: siteId, reveal: message.content.reveal });
          this.#audit({ actor: `site:${siteId}`, action: 'secagg.shares_revealed', object, details: { site: siteId, shares: message.content.reveal.shares.length } });
          void this.#enqueue(async () => crashPoint('crash-after-secagg-reveal'));
          break;
      }
    } catch (error) {
      const code = coordinatorWireError(error).code;
      this.#audit({ actor: `site:${siteId}`, action: 'secagg.refused', object, reason: code, details: { site: siteId, type: message.type, code } });
      throw error;
    }
    this.#advanceSecagg(round);
  }

  /** Runs the secure-aggregation phases as far as the messages received allow; sends what a completed phase releases. */
  #advanceSecagg(round: OpenRound): void {
    const secagg = round.secagg as SecureAggregationRound;
    for (;;) {
      const outbox = secagg.advance();
      if (!outbox) return;
      const roundId = round.id;
      if (outbox.kind === 'done') return this.#close(round, 'settled');
      if (outbox.kind === 'failed') {
        this.#log.warn({ roundId, problem: outbox.problem }, 'secure aggregation cannot complete');
        return this.#close(round, 'settled', outbox.problem);
      }
      this.#audit({ actor: 'coordinator', action: `secagg.${outbox.kind}_sent`, object: `round:${roundId}`, details: { phase: secagg.phase } });
      // Sent once the steps that completed the phase are kept (the write queue is in order): a coordinator restarted
      // after this replays to the same phase and sends the same content again.
      void this.#enqueue(async () => {
        if (this.#open.get(roundId) !== round) return;
        this.#sendSecagg(roundId, outbox);
        crashPoint(`crash-after-secagg-${outbox.kind}`);
      });
      this.#armPhaseTimer(round);
    }
  }

  /** Sends a secure-aggregation phase's messages to the sites it names (those connected). */
  #sendSecagg(roundId: string, outbox: SecaggPhaseOutbox): void {
    switch (outbox.kind) {
      case 'keys':
        for (const to of outbox.to) this.#channel.send(to, createMessage('secagg.keys', { roundId, advertisements: outbox.advertisements }));
        return;
      case 'inbox':
        for (const [to, shares] of outbox.inboxes) this.#channel.send(to, createMessage('secagg.inbox', { roundId, shares: shares.map((share) => ({ from: share.from, sealed: new Uint8Array(share.sealed) })) }));
        return;
      case 'survivors':
        for (const to of outbox.to) this.#channel.send(to, createMessage('secagg.survivors', { roundId, survivors: outbox.survivors }));
        return;
      case 'unmask':
        for (const to of outbox.to) this.#channel.send(to, createMessage('secagg.unmask', { roundId, survivors: outbox.survivors, signatures: outbox.signatures }));
        return;
    }
  }

  /** Starts the clock of the round's current secure-aggregation phase (replacing the previous phase's). */
  #armPhaseTimer(round: OpenRound): void {
    if (!round.secagg) return;
    if (round.phaseTimer) clearTimeout(round.phaseTimer);
    const phase = round.secagg.phase;
    round.phaseTimer = setTimeout(() => this.#onPhaseTimeout(round.id, phase), this.#secaggPhaseTimeoutMs);
    round.phaseTimer.unref();
  }

  /**
   * A secure-aggregation phase waited its full timeout: every site it still waits for (never connected, stalled, or
   * silent) is dropped as if it had disconnected, and the round goes on with the rest, or fails below the threshold.
   */
  #onPhaseTimeout(roundId: string, phase: string): void {
    const round = this.#open.get(roundId);
    const secagg = round?.secagg;
    if (!round || !secagg || secagg.phase !== phase) return;
    for (const siteId of secagg.awaited()) {
      this.#secaggOut(round, siteId);
      this.#audit({ actor: 'coordinator', action: 'secagg.site_timed_out', object: `round:${round.id}`, details: { site: siteId, phase, timeout_ms: this.#secaggPhaseTimeoutMs } });
      const status = round.sites.get(siteId)?.status;
      if (status !== undefined && (status === 'pending' || OUTSTANDING_SITE_STATUSES.includes(status))) {
        // A site that has not sent its masked input is told to stop (its input would be refused now). One that did is
        // a survivor whose input stays in the sum: it is not cancelled.
        if (status !== 'pending') this.#channel.send(siteId, createMessage('task.cancel', { roundId: round.id, reason: coordinatorWireError(new CoordinatorError('FEDVAL_ERR_COORD_SECAGG_TIMEOUT')) }));
        this.#setSite(round, siteId, { status: 'invalid', code: 'FEDVAL_ERR_COORD_SECAGG_TIMEOUT' });
      }
      this.#log.info({ roundId: round.id, siteId, phase }, 'site timed out in a secure-aggregation phase; dropped from the round');
    }
    this.#advanceSecagg(round);
  }

  /**
   * Handles a task.* message from an authenticated site; throws a CoordinatorError to be sent back as an error reply.
   * For a result, returns a promise that settles once what it wrote (its ciphertexts, its status) is stored, for the
   * site hub's bound on results in flight (result-intake.ts); undefined otherwise.
   */
  handleSiteMessage(siteId: string, message: MessageOf<'task.accept' | 'task.refuse' | 'task.progress' | 'task.result'>): Promise<void> | undefined {
    switch (message.type) {
      case 'task.accept':
        this.#onAccept(siteId, message.content.roundId);
        return undefined;
      case 'task.refuse':
        this.#onRefuse(siteId, message.content.roundId, message.content.reason.code);
        return undefined;
      case 'task.progress': {
        const round = this.#openRoundOf(siteId, message.content.roundId);
        this.#log.debug({ roundId: round.id, siteId, phase: message.content.phase, percent: message.content.percent }, 'site progress');
        return undefined;
      }
      case 'task.result':
        if (this.#isResent(siteId, message.content)) return undefined;
        this.#openRoundOf(siteId, message.content.roundId).secagg?.checkInput(siteId);
        // The round must be open and the site still owe its result before a signature is checked and its nonce
        // remembered: a site cannot fill the replay guard with results for rounds it is not part of.
        if (this.#identities.isEnrolled(siteId)) this.#checkResultSignature(this.#awaitingResult(siteId, message.content.roundId), siteId, message.content);
        this.#onResult(siteId, message.content);
        return this.#enqueue(async () => undefined); // after every write the result queued
    }
  }

  /**
   * Answers a site of an open round that asks for the key holder's statement its task names: the study's statement, as
   * the key holder signed it (the site verifies it, and refuses it unless its digest is the task's). Throws
   * FEDVAL_ERR_COORD_ROUND_NOT_OPEN (no such open round for this site) or FEDVAL_ERR_COORD_NO_KEY_STATEMENT.
   */
  handleKeyStatementRequest(siteId: string, content: ContentOf<'key_statement.request'>): void {
    const round = this.#openRoundOf(siteId, content.roundId);
    const statement = round.study.keyStatement;
    if (!statement || round.task.contribution.kind !== 'bfv' || round.task.contribution.keyStatementSha256 !== content.sha256) {
      throw new CoordinatorError('FEDVAL_ERR_COORD_NO_KEY_STATEMENT', `round ${content.roundId} names no statement ${content.sha256.slice(0, 16)}…`);
    }
    round.keyStatementFrame ??= encodeMessage(createMessage('key_statement', { roundId: round.id, keyStatement: statement }));
    this.#channel.sendEncoded(siteId, round.keyStatementFrame);
    this.#log.debug({ roundId: round.id, siteId }, 'key statement sent');
  }

  /** Resolves once every queued store write has finished. */
  async flush(): Promise<void> {
    await this.#writes;
  }

  /**
   * Stops: every open round stays open in the store, as received so far (a securely aggregated one with its kept
   * steps), for the next start to resume (resumeOpenRounds); its sites are not told. Waits for the writes.
   */
  async close(): Promise<void> {
    this.#closed = true;
    for (const round of [...this.#open.values()]) {
      clearTimeout(round.timer);
      if (round.phaseTimer) clearTimeout(round.phaseTimer);
      this.#open.delete(round.id);
      round.he?.dispose();
      this.#log.info({ roundId: round.id, contributions: round.aggregator.count }, 'round left open for the next start to resume');
    }
    await this.flush();
  }

  #openRoundOf(siteId: string, roundId: string): OpenRound {
    const round = this.#open.get(roundId);
    if (!round) throw new CoordinatorError('FEDVAL_ERR_COORD_ROUND_NOT_OPEN', `round ${roundId} is not open`);
    if (!round.sites.has(siteId)) throw new CoordinatorError('FEDVAL_ERR_COORD_ROUND_NOT_OPEN', `site is not part of round ${roundId}`);
    return round;
  }

  #dispatch(round: OpenRound, siteId: string, again = false): void {
    if (!this.#channel.isConnected(siteId)) return;
    const { entry: dispatched, durable } = this.#auditBatched({ actor: 'coordinator', action: 'task.dispatched', object: `round:${round.id}`, details: { site: siteId, ...(again ? { again: true } : {}) } });
    // The trail's head, this entry: the site keeps it, so a trail cut back before this dispatch is caught. Sent once
    // the entry is on disk (one fsync for every site dispatched in this turn).
    durable.then(
      () => {
        if (this.#open.get(round.id) !== round) return;
        const sent = this.#channel.send(siteId, createMessage('task', { ...round.task, coordinatorAuditHead: { seq: dispatched.seq, hash: dispatched.hash } }));
        if (!sent) return;
        this.#setSite(round, siteId, { status: 'dispatched' });
        this.#log.info({ roundId: round.id, siteId, again }, again ? 'task dispatched again after the site reconnected' : 'task dispatched');
      },
      (error: unknown) => this.#log.error({ roundId: round.id, siteId, code: coordinatorWireError(error).code }, 'the dispatch could not be recorded; task not sent'),
    );
  }

  #onAccept(siteId: string, roundId: string): void {
    const round = this.#openRoundOf(siteId, roundId);
    const status = round.sites.get(siteId)?.status;
    if (status === 'accepted') return;
    if (status !== 'dispatched') throw new CoordinatorError('FEDVAL_ERR_COORD_ROUND_NOT_OPEN', `site is ${status} in round ${roundId}`);
    this.#recordQuietly({ actor: `site:${siteId}`, action: 'task.accepted', object: `round:${roundId}`, details: { site: siteId } });
    this.#setSite(round, siteId, { status: 'accepted' });
    this.#markCollecting(round);
  }

  #onRefuse(siteId: string, roundId: string, code: string): void {
    const round = this.#openRoundOf(siteId, roundId);
    const status = round.sites.get(siteId)?.status as RoundSiteStatus;
    if (!OUTSTANDING_SITE_STATUSES.includes(status)) throw new CoordinatorError('FEDVAL_ERR_COORD_ROUND_NOT_OPEN', `site is ${status} in round ${roundId}`);
    this.#audit({ actor: `site:${siteId}`, action: 'task.refused', object: `round:${roundId}`, reason: code, details: { site: siteId, code } });
    this.#setSite(round, siteId, { status: 'refused', code });
    this.#secaggOut(round, siteId);
    this.#log.info({ roundId, siteId, code }, 'site refused the task');
    this.#closeIfSettled(round);
  }

  /**
   * A result the round already counted, sent again byte for byte (the site lost its connection, or the coordinator
   * restarted, before the site learned it was received): ignored, never counted twice. Other bytes are refused
   * (FEDVAL_ERR_COORD_DUPLICATE_CONTRIBUTION, by #awaitingResult).
   */
  #isResent(siteId: string, content: MessageOf<'task.result'>['content']): boolean {
    const site = this.#openRoundOf(siteId, content.roundId).sites.get(siteId);
    if (site?.status !== 'contributed' || site.sha256 === null || site.sha256 !== content.contributionSha256) return false;
    if (contributionDigest(content.contribution).sha256 !== site.sha256) return false;
    this.#log.info({ roundId: content.roundId, siteId }, 'the same contribution sent again; already counted');
    return true;
  }

  /** The open round in which the site still owes its result: FEDVAL_ERR_COORD_DUPLICATE_CONTRIBUTION or …_ROUND_NOT_OPEN otherwise. */
  #awaitingResult(siteId: string, roundId: string): OpenRound {
    const round = this.#openRoundOf(siteId, roundId);
    const status = round.sites.get(siteId)?.status as RoundSiteStatus;
    if (status === 'contributed') throw new CoordinatorError('FEDVAL_ERR_COORD_DUPLICATE_CONTRIBUTION', `round ${roundId}`);
    if (!OUTSTANDING_SITE_STATUSES.includes(status)) throw new CoordinatorError('FEDVAL_ERR_COORD_ROUND_NOT_OPEN', `site is ${status} in round ${roundId}`);
    return round;
  }

  #onResult(siteId: string, content: MessageOf<'task.result'>['content']): void {
    const { roundId, contribution, contributionSha256: claimedSha256, attestation } = content;
    const round = this.#awaitingResult(siteId, roundId);
    const { bytes, sha256 } = contributionDigest(contribution);
    try {
      if (sha256 !== claimedSha256) throw new CoordinatorError('FEDVAL_ERR_COORD_CONTRIBUTION_HASH');
      round.aggregator.add(siteId, contribution);
    } catch (error) {
      const code = coordinatorWireError(error).code;
      this.#audit({ actor: `site:${siteId}`, action: 'contribution.invalid', object: `round:${roundId}`, reason: code, details: { site: siteId, sha256, bytes, code } });
      this.#setSite(round, siteId, { status: 'invalid', code, contributionBytes: bytes, contributionSha256: sha256 });
      this.#secaggOut(round, siteId);
      this.#log.warn({ roundId, siteId, code }, 'invalid contribution; the round continues without it');
      this.#markCollecting(round);
      this.#closeIfSettled(round);
      throw error;
    }
    if (contribution.kind === 'bfv') this.#keepContribution(round, siteId, contribution.ciphertexts, content);
    const privacy = attestation?.privacy ?? null;
    this.#recordQuietly({
      actor: `site:${siteId}`,
      action: CONTRIBUTION_RECEIVED,
      object: `round:${roundId}`,
      details: { site: siteId, sha256, bytes, kind: contribution.kind, ...siteEvidence(attestation), ...(privacy ? { privacy } : {}) },
    });
    this.#setSite(round, siteId, { status: 'contributed', contributionBytes: bytes, contributionSha256: sha256, privacy });
    if (round.secagg) {
      round.secagg.addInput(siteId);
      this.#secaggStep(round, { kind: 'input', site: siteId });
    }
    void this.#enqueue(async () => crashPoint('crash-after-contribution'));
    this.#log.info({ roundId, siteId, bytes, contributions: round.aggregator.count }, 'contribution added');
    this.#markCollecting(round);
    this.#closeIfSettled(round);
  }

  /**
   * Keeps a bfv contribution with its signed record in the store (written through the queue, not held in memory), for
   * the key holder, who verifies each record against its own roster and adds the ciphertexts itself.
   */
  #keepContribution(round: OpenRound, siteId: string, ciphertexts: Uint8Array[], content: MessageOf<'task.result'>['content']): void {
    const signed = content.signature;
    const attestation = content.attestation ?? null;
    const record = signed
      ? {
          study_id: round.study.id,
          round_id: round.id,
          site_id: siteId,
          contribution_sha256: content.contributionSha256,
          nonce: signed.nonce,
          sent_at: signed.sentAt,
          attestation_sha256: attestation === null ? null : attestationSha256(attestation),
          public_key_sha256: signed.publicKeySha256 ?? null,
          plan_sha256: signed.planSha256 ?? null,
          signature_base64: Buffer.from(signed.signature).toString('base64'),
        }
      : null;
    const kept = { roundId: round.id, siteId, ciphertexts, record, attestation, publicKey: this.#identities.publicKey(siteId) ?? null, receivedAt: Date.now() };
    void this.#enqueue(() => this.#store.putRoundContribution(kept));
  }

  /**
   * An enrolled site's result must be signed, its nonce new and its time within the window. A refusal is audited; the
   * site is marked invalid and the round goes on with the others.
   */
  #checkResultSignature(round: OpenRound, siteId: string, content: MessageOf<'task.result'>['content']): void {
    try {
      this.#identities.verifyResult(siteId, { ...content, studyId: round.study.id });
    } catch (error) {
      const code = coordinatorWireError(error).code;
      this.#audit({ actor: `site:${siteId}`, action: 'contribution.refused', object: `round:${round.id}`, reason: code, details: { site: siteId, code, sha256: content.contributionSha256 } });
      this.#setSite(round, siteId, { status: 'invalid', code });
      this.#secaggOut(round, siteId);
      this.#log.warn({ roundId: round.id, siteId, code }, 'result signature refused; the round continues without the site');
      this.#markCollecting(round);
      this.#closeIfSettled(round);
      throw error;
    }
  }

  #markCollecting(round: OpenRound): void {
    if (round.state !== 'dispatched') return;
    round.state = 'collecting';
    const now = Date.now();
    void this.#enqueue(() => this.#store.setRoundState(round.id, 'collecting', now));
  }

  #closeIfSettled(round: OpenRound): void {
    if (round.secagg) return this.#advanceSecagg(round);
    for (const site of round.sites.values()) if (!TERMINAL_SITE_STATUSES.includes(site.status)) return;
    this.#close(round, 'settled');
  }

  #onDeadline(roundId: string): void {
    const round = this.#open.get(roundId);
    if (round) this.#close(round, 'deadline');
  }

  /** `secaggProblem`: why secure aggregation could not complete (the round fails). */
  #close(round: OpenRound, cause: 'settled' | 'deadline' | 'coordinator_stopped', secaggProblem?: string): void {
    clearTimeout(round.timer);
    if (round.phaseTimer) clearTimeout(round.phaseTimer);
    this.#open.delete(round.id);
    const cancelCode: CoordinatorErrorCode = cause === 'deadline' ? 'FEDVAL_ERR_COORD_ROUND_DEADLINE' : 'FEDVAL_ERR_COORD_ROUND_CLOSED';
    const secaggFailed = round.secagg !== null && round.secagg.phase !== 'done';
    for (const [siteId, site] of round.sites) {
      // A securely aggregated round that fails tells its contributors too: a site that never signed the survivor set
      // can then refund its charge (its masked input can never be unmasked).
      if (!OUTSTANDING_SITE_STATUSES.includes(site.status) && !(secaggFailed && site.status === 'contributed')) continue;
      const reason = coordinatorWireError(new CoordinatorError(cancelCode));
      this.#channel.send(siteId, createMessage('task.cancel', { roundId: round.id, reason }));
    }
    let aggregate: ReturnType<ContributionAggregator['finish']>;
    try {
      aggregate = round.aggregator.finish();
    } finally {
      round.he?.dispose();
    }
    const closedAt = Date.now();
    let state: 'aggregated' | 'failed';
    let reason: RoundFailureReason | null = null;
    let result: RoundResult | null = null;
    if (cause === 'coordinator_stopped') {
      state = 'failed';
      reason = 'coordinator_stopped';
    } else if (secaggFailed) {
      state = 'failed';
      reason = 'secure_aggregation_incomplete';
    } else if (round.secagg === null && aggregate.contributions < round.study.quorum) {
      state = 'failed';
      reason = 'quorum_not_met';
    } else if (aggregate.kind === 'bfv') {
      // Only the key holder can decrypt; the result is released later, under the release policy.
      state = 'aggregated';
    } else {
      try {
        // The plaintext seam: the coordinator sees the (noised, under DP) sum and finalizes it itself.
        const { metrics, dp } = finalizeRelease(round.release, aggregate.vector, aggregate.contributions);
        result = {
          metrics,
          contributions: aggregate.contributions,
          sites: aggregate.sites,
          ...(dp ? { privacy: { dp, encryption: null } } : {}),
        };
        state = 'aggregated';
      } catch (error) {
        state = 'failed';
        reason = 'finalization_failed';
        const failure = new CoordinatorError('FEDVAL_ERR_COORD_FINALIZE', coordinatorWireError(error).code, { cause: error });
        this.#log.error({ roundId: round.id, code: failure.code, cause: coordinatorWireError(error).code }, failure.message);
      }
    }
    round.state = state;
    try {
      this.#audit({
        actor: 'coordinator',
        action: 'round.closed',
        object: `round:${round.id}`,
        reason,
        details: {
          state,
          cause,
          contributions: aggregate.contributions,
          quorum: round.study.quorum,
          sites: aggregate.sites,
          ...(round.secagg ? { secure_aggregation: { phase: round.secagg.phase, threshold: round.secagg.threshold, problem: secaggProblem ?? null } } : {}),
        },
      });
    } catch (error) {
      this.#log.error({ roundId: round.id, code: coordinatorWireError(error).code }, 'could not record the round closing in the audit trail');
    }
    this.#log.info({ roundId: round.id, state, reason, contributions: aggregate.contributions, quorum: round.study.quorum }, 'round closed');
    const closure = {
      state,
      reason,
      closedAt,
      contributions: aggregate.contributions,
      // A sum below quorum is never kept: it could be a single site's vector.
      aggregate: state === 'aggregated' && aggregate.kind === 'plaintext' ? aggregate.vector : null,
      encryptedAggregate: state === 'aggregated' && aggregate.kind === 'bfv' ? aggregate.ciphertexts : null,
      secureAggregation: round.secagg ? round.secagg.transcript() : null,
      result,
    };
    if (cause !== 'coordinator_stopped') void this.#enqueue(async () => crashPoint('crash-before-close'));
    void this.#enqueue(() => this.#store.closeRound(round.id, closure)).then(() => this.emit('closed', round.id, state, reason));
  }

  #setSite(
    round: OpenRound,
    siteId: string,
    update: { status: RoundSiteStatus; code?: string; contributionBytes?: number; contributionSha256?: string; privacy?: PrivacyAttestation | null },
  ): void {
    round.sites.set(siteId, { status: update.status, code: update.code ?? null, sha256: update.status === 'contributed' ? (update.contributionSha256 ?? null) : null });
    const now = Date.now();
    void this.#enqueue(() => this.#store.updateRoundSite(round.id, siteId, update, now));
  }

  async #scorerFor(study: StudyRecord): Promise<Scorer> {
    if (study.scoreColumn !== null) return { kind: 'score_column', columns: study.scoreColumn.split(',') };
    const model = await this.#store.getModel(study.modelId as string);
    if (!model) throw new CoordinatorError('FEDVAL_ERR_COORD_UNKNOWN_MODEL', study.modelId as string);
    return modelScorer(model, this.#bundles);
  }

  /** Records a per-site entry with group commit; nothing sent waits on it, and a failed fsync is logged (the trail then refuses the next entry). */
  #recordQuietly(event: Parameters<AuditRecorder>[0]): void {
    this.#auditBatched(event).durable.catch((error: unknown) => this.#log.error({ code: coordinatorWireError(error).code }, 'audit entries could not be fsynced'));
  }

  /** Queues a write whose failure is logged and not thrown, for socket handlers and timers. */
  #enqueue(work: () => Promise<void>): Promise<void> {
    return this.#write(work).catch(() => undefined);
  }

  /** Queues a store write after every earlier one; a failure is logged and returned to the caller. */
  #write(work: () => Promise<void>): Promise<void> {
    const next = this.#writes.then(work);
    this.#writes = next.catch((error: unknown) => {
      this.#log.error({ code: coordinatorWireError(error).code, err: { message: (error as Error).message } }, 'store write failed');
    });
    return next;
  }
}

/**
 * Evidence a site attaches to its result (its attestation, already parsed with @fedval/trust's schema), recorded so an
 * auditor can anchor the site's own log: its audit head and its dataset commitment.
 */
function siteEvidence(attestation: ResultAttestation | undefined): Record<string, string | number> {
  if (!attestation) return {};
  return { site_audit_seq: attestation.audit_head.seq, site_audit_hash: attestation.audit_head.hash, dataset_commitment: attestation.dataset_commitment };
}

// coordinator-metrics.ts — the coordinator's Prometheus series (prom-client): sites, rounds, contributions, latencies, traffic; no per-site value, no site label.
import type { Server, Socket } from 'node:net';
import { CONTRIBUTION_RECEIVED } from '@fedval/trust';
import type { AuditEntry, AuditEvent } from '@fedval/trust';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { AuditRecorder, BatchedAuditRecorder } from './coordinator-audit.ts';
import type { CoordinatorStore } from './storage/store.ts';

/** Round states as `fedval_coordinator_rounds{state}` reports them: REST `dispatched` and `collecting` are `open`; `released` is an encrypted round whose result the key holder released. */
export const METRIC_ROUND_STATES = ['open', 'aggregated', 'released', 'failed'] as const;
export type MetricRoundState = (typeof METRIC_ROUND_STATES)[number];

/** Most distinct `code` label values per counter; later codes count as `other`, so a site sending made-up codes cannot grow the scrape. */
export const MAX_CODE_LABELS = 64;
/** The label a refusal gets when its code is not a fedval code or the counter has MAX_CODE_LABELS codes already. */
export const OTHER_CODE = 'other';
const FEDVAL_CODE = /^FEDVAL_ERR_[A-Z0-9_]{1,80}$/;

/** Bucket bounds of `fedval_coordinator_round_dispatch_to_aggregated_seconds`, in seconds (0.5 s to 1 h). */
export const DISPATCH_TO_AGGREGATED_BUCKETS: readonly number[] = [0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];
/** Bucket bounds of `fedval_coordinator_round_aggregated_to_released_seconds`, in seconds (1 s to 7 days: a person releases). */
export const AGGREGATED_TO_RELEASED_BUCKETS: readonly number[] = [1, 10, 60, 300, 900, 3600, 4 * 3600, 12 * 3600, 86_400, 3 * 86_400, 7 * 86_400];

interface TrackedRound {
  state: MetricRoundState;
  /** When the round was dispatched (epoch ms). */
  startedAt: number;
  /** When it was aggregated (epoch ms), for the release latency. */
  aggregatedAt: number | null;
}

/**
 * The coordinator's metrics. Round and contribution series follow the audit trail (every transition is recorded there
 * first), so they count what the trail says happened; traffic is counted on the listener's TCP sockets.
 */
export class CoordinatorMetrics {
  readonly registry = new Registry();
  readonly #rounds = new Map<string, TrackedRound>();
  /** Rounds in a final state (failed, released, plaintext aggregated) are counted here and forgotten. */
  readonly #finalRounds = new Map<MetricRoundState, number>(METRIC_ROUND_STATES.map((state) => [state, 0]));
  readonly #startedRounds: Counter;
  readonly #accepted: Counter;
  readonly #refused: Counter<'code'>;
  readonly #tasksRefused: Counter<'code'>;
  readonly #codes = new Map<Counter<'code'>, Set<string>>();
  readonly #toAggregated: Histogram;
  readonly #toReleased: Histogram;
  readonly #sockets = new Set<Socket>();
  /** Bytes of the connections already closed, and the totals the last scrape reported, by direction. */
  readonly #closedBytes = { received: 0, sent: 0 };
  readonly #reportedBytes = { received: 0, sent: 0 };
  #connectedSites: () => number = () => 0;
  #backpressure: () => { readPauses: number; framesQueued: number } = () => ({ readPauses: 0, framesQueued: 0 });

  constructor(options: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });
    const self = this;
    new Gauge({
      name: 'fedval_coordinator_sites_connected',
      help: 'Sites with an authenticated, open WebSocket.',
      registers,
      collect() {
        this.set(self.#connectedSites());
      },
    });
    new Gauge({
      name: 'fedval_coordinator_rounds',
      help: 'Rounds by state: open (dispatched or collecting), aggregated (awaiting release, or a plaintext round), released, failed.',
      labelNames: ['state'],
      registers,
      collect() {
        const counts = new Map(self.#finalRounds);
        for (const round of self.#rounds.values()) counts.set(round.state, (counts.get(round.state) ?? 0) + 1);
        for (const state of METRIC_ROUND_STATES) this.set({ state }, counts.get(state) ?? 0);
      },
    });
    this.#startedRounds = new Counter({ name: 'fedval_coordinator_rounds_started_total', help: 'Rounds dispatched since the coordinator started.', registers });
    this.#accepted = new Counter({ name: 'fedval_coordinator_contributions_accepted_total', help: 'Site contributions accepted into a round aggregate.', registers });
    this.#refused = new Counter({ name: 'fedval_coordinator_contributions_refused_total', help: 'Site contributions the coordinator refused, by error code.', labelNames: ['code'], registers });
    this.#tasksRefused = new Counter({ name: 'fedval_coordinator_tasks_refused_total', help: 'Tasks sites declined under their policy, by the code they sent.', labelNames: ['code'], registers });
    this.#toAggregated = new Histogram({
      name: 'fedval_coordinator_round_dispatch_to_aggregated_seconds',
      help: 'Seconds from dispatching a round to its aggregate.',
      buckets: [...DISPATCH_TO_AGGREGATED_BUCKETS],
      registers,
    });
    this.#toReleased = new Histogram({
      name: 'fedval_coordinator_round_aggregated_to_released_seconds',
      help: 'Seconds from the aggregate of an encrypted round to the release of its result by the key holder.',
      buckets: [...AGGREGATED_TO_RELEASED_BUCKETS],
      registers,
    });
    // Running totals kept by the site connections (site-connections.ts), reported as counters.
    const totals = [
      ['fedval_coordinator_site_reads_paused_total', 'Times the coordinator stopped reading every site socket because limits.max_results_in_flight results were being stored (backpressure).', 'readPauses'],
      ['fedval_coordinator_frames_queued_total', 'Frames to sites that waited for room under limits.max_send_buffer_bytes before being sent.', 'framesQueued'],
    ] as const;
    for (const [name, help, key] of totals) {
      let reported = 0;
      new Counter({
        name,
        help,
        registers,
        collect() {
          const now = self.#backpressure()[key];
          this.inc(now - reported);
          reported = now;
        },
      });
    }
    for (const direction of ['received', 'sent'] as const) {
      new Counter({
        name: `fedval_coordinator_${direction}_bytes_total`,
        help: `Bytes ${direction} on the coordinator listener (TCP payload: HTTP, WebSocket and TLS framing included).`,
        registers,
        collect() {
          this.inc(self.#trafficSinceLastScrape(direction));
        },
      });
    }
  }

  /** How many sites are connected, read at each scrape. */
  countConnectedSites(count: () => number): void {
    this.#connectedSites = count;
  }

  /** The site connections' backpressure totals, read at each scrape. */
  countBackpressure(totals: () => { readPauses: number; framesQueued: number }): void {
    this.#backpressure = totals;
  }

  /** Counts the bytes of every connection the server accepts (the raw TCP socket, before TLS). */
  observeServer(server: Server): void {
    server.on('connection', (socket: Socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => {
        this.#sockets.delete(socket);
        this.#closedBytes.received += socket.bytesRead;
        this.#closedBytes.sent += socket.bytesWritten;
      });
    });
  }

  /** Takes the rounds the store holds (after startup recovery), so a restarted coordinator reports them too. */
  async loadRounds(store: CoordinatorStore): Promise<void> {
    for (const study of await store.listStudies()) {
      for (const round of await store.listRounds(study.id)) {
        if (round.state === 'dispatched' || round.state === 'collecting') this.#track(round.id, { state: 'open', startedAt: round.createdAt, aggregatedAt: null });
        else if (round.state === 'failed') this.#countFinal('failed');
        else if (study.contribution === 'plaintext') this.#countFinal('aggregated');
        else if (round.result !== null) this.#countFinal('released');
        else this.#track(round.id, { state: 'aggregated', startedAt: round.createdAt, aggregatedAt: round.closedAt ?? Date.now() });
      }
    }
  }

  /** Wraps the audit recorder: each event is counted once the trail has it (a failed write counts nothing). */
  observeAudit(record: AuditRecorder): AuditRecorder {
    return (event: AuditEvent): AuditEntry => {
      const entry = record(event);
      this.#onAudit(event, Date.now());
      return entry;
    };
  }

  /** The same for the trail's group-committed entries (per-site round events): counted once written, as the others. */
  observeBatchedAudit(record: BatchedAuditRecorder): BatchedAuditRecorder {
    return (event: AuditEvent) => {
      const written = record(event);
      this.#onAudit(event, Date.now());
      return written;
    };
  }

  /** The scrape body, in the Prometheus text format. */
  scrape(): Promise<string> {
    return this.registry.metrics();
  }

  /** Bytes moved in one direction since the previous scrape: closed connections plus the live ones' counts. */
  #trafficSinceLastScrape(direction: 'received' | 'sent'): number {
    let total = this.#closedBytes[direction];
    for (const socket of this.#sockets) total += direction === 'received' ? socket.bytesRead : socket.bytesWritten;
    const delta = total - this.#reportedBytes[direction];
    this.#reportedBytes[direction] = total;
    return delta;
  }

  #onAudit(event: AuditEvent, now: number): void {
    const roundId = event.object.startsWith('round:') ? event.object.slice('round:'.length) : null;
    switch (event.action) {
      case 'round.started':
        if (roundId !== null) this.#track(roundId, { state: 'open', startedAt: now, aggregatedAt: null });
        this.#startedRounds.inc();
        return;
      case CONTRIBUTION_RECEIVED:
        this.#accepted.inc();
        return;
      case 'contribution.invalid':
      case 'contribution.refused':
        this.#incCode(this.#refused, event.reason);
        return;
      case 'task.refused':
        this.#incCode(this.#tasksRefused, event.reason);
        return;
      case 'round.closed':
        if (roundId !== null) this.#onRoundClosed(roundId, event.details?.['state'], now);
        return;
      case 'result.released':
        if (roundId !== null) this.#onReleased(roundId, now);
        return;
      default:
    }
  }

  #onRoundClosed(roundId: string, state: unknown, now: number): void {
    const round = this.#rounds.get(roundId);
    if (round === undefined || round.state !== 'open') return;
    if (state === 'aggregated') {
      this.#toAggregated.observe(Math.max(0, now - round.startedAt) / 1000);
      round.state = 'aggregated';
      round.aggregatedAt = now;
    } else {
      this.#rounds.delete(roundId);
      this.#countFinal('failed');
    }
  }

  #onReleased(roundId: string, now: number): void {
    const round = this.#rounds.get(roundId);
    if (round === undefined || round.state !== 'aggregated') return;
    this.#toReleased.observe(Math.max(0, now - (round.aggregatedAt ?? now)) / 1000);
    this.#rounds.delete(roundId);
    this.#countFinal('released');
  }

  #track(roundId: string, round: TrackedRound): void {
    this.#rounds.set(roundId, round);
  }

  #countFinal(state: MetricRoundState): void {
    this.#finalRounds.set(state, (this.#finalRounds.get(state) ?? 0) + 1);
  }

  /** A bounded label: fedval codes only, at most MAX_CODE_LABELS of them per counter. */
  #incCode(counter: Counter<'code'>, reason: string | null | undefined): void {
    let seen = this.#codes.get(counter);
    if (!seen) this.#codes.set(counter, (seen = new Set()));
    let code = typeof reason === 'string' && FEDVAL_CODE.test(reason) ? reason : OTHER_CODE;
    if (code !== OTHER_CODE && !seen.has(code)) {
      if (seen.size >= MAX_CODE_LABELS) code = OTHER_CODE;
      else seen.add(code);
    }
    counter.inc({ code });
  }
}

// secure-aggregation-round-table.ts — the in-memory sessions of the securely aggregated rounds this agent is in, each
// with at most one deadline timer; a timer forgets only the session it was armed for, never a later attempt's.

/** Per round: the session of its current (or last) attempt and the one timer armed at its deadline. */
export class SecaggRoundTable<Round extends object> {
  readonly #rounds = new Map<string, Round>();
  readonly #timers = new Map<string, { round: Round; timer: NodeJS.Timeout }>();
  readonly #onDeadline: () => void;
  /** Added to each deadline before its timer fires, ms (default 1000: the wipe at the deadline has run). */
  readonly #graceMs: number;

  /** `onDeadline` runs when a round's timer fires (before its session is forgotten): refunds and wipes what expired. */
  constructor(onDeadline: () => void, graceMs = 1000) {
    this.#onDeadline = onDeadline;
    this.#graceMs = graceMs;
  }

  get(roundId: string): Round | undefined {
    return this.#rounds.get(roundId);
  }

  /** A new attempt's session: the round's earlier timer is cleared (the new attempt arms its own). */
  set(roundId: string, round: Round): void {
    const armed = this.#timers.get(roundId);
    if (armed) clearTimeout(armed.timer);
    this.#timers.delete(roundId);
    this.#rounds.set(roundId, round);
  }

  /** Forgets the round's session only if it is still `round` (a later attempt's session stays). */
  release(roundId: string, round: Round): void {
    if (this.#rounds.get(roundId) === round) this.#rounds.delete(roundId);
  }

  /** Arms the round's one timer at `deadline` (epoch ms) + the grace, replacing any earlier one; it forgets only `round`. */
  armDeadline(roundId: string, round: Round, deadline: number, now = Date.now()): void {
    const armed = this.#timers.get(roundId);
    if (armed) clearTimeout(armed.timer);
    // setTimeout's longest delay (2^31 − 1 ms, about 24.8 days); a later deadline fires then, and is wiped by its own check.
    const timer = setTimeout(() => {
      if (this.#timers.get(roundId)?.timer === timer) this.#timers.delete(roundId);
      this.#onDeadline();
      this.release(roundId, round);
    }, Math.min(2 ** 31 - 1, Math.max(0, deadline - now) + this.#graceMs));
    timer.unref();
    this.#timers.set(roundId, { round, timer });
  }

  /** Clears every timer (the agent is stopping). */
  clearAll(): void {
    for (const { timer } of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
  }
}

// result-intake.ts — the bound on site results being stored at once: at the limit the coordinator stops reading site sockets until the store catches up.

/** Default of the coordinator's `limits.max_results_in_flight`. */
export const DEFAULT_MAX_RESULTS_IN_FLIGHT = 16; // results received and not yet stored, all sites together

/** What the intake pauses: every site socket's reading (SiteConnections). */
export interface SiteReading {
  pauseReading(): void;
  resumeReading(): void;
}

/**
 * Counts the results received and not yet stored. At `max` in flight it pauses reading from every site socket (TCP then
 * slows the senders: backpressure, nothing dropped); when one is stored it resumes. A burst of a thousand sites' results
 * then holds at most about `max` contributions in memory (a few more: frames already read from a socket are still
 * delivered after the pause), however fast they come and however slow the store is.
 */
export class ResultIntake {
  readonly #reading: SiteReading;
  readonly #max: number;
  #inFlight = 0;

  constructor(reading: SiteReading, max = DEFAULT_MAX_RESULTS_IN_FLIGHT) {
    this.#reading = reading;
    this.#max = max;
  }

  /** Results received and not yet stored. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Counts one result until `stored` settles (fulfilled or rejected). */
  track(stored: Promise<unknown>): void {
    this.#inFlight += 1;
    if (this.#inFlight >= this.#max) this.#reading.pauseReading();
    const settled = (): void => {
      this.#inFlight -= 1;
      if (this.#inFlight < this.#max) this.#reading.resumeReading();
    };
    stored.then(settled, settled);
  }
}

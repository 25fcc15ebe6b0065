// replay-guard.ts — refusing a signed message seen before, or timestamped outside a window (cf. the Kerberos replay cache, RFC 4120 §3.2.3).
import { TrustError } from './errors.ts';
import { integerIn, isFunction, resolveOptions } from './options.ts';

export interface ReplayGuardOptions {
  /** How old a timestamp may be, in ms; each nonce is remembered until its timestamp is this old. Default 300,000 (5 min). */
  windowMs: number;
  /** How far ahead of this clock a timestamp may be, in ms (clock skew between machines). Default 30,000 (30 s). */
  maxClockSkewMs: number;
  /** Most nonces remembered at once. When full, new messages are refused (fail closed), never old nonces forgotten early. Default 100,000. */
  maxEntries: number;
  /** Clock in epoch ms. Default Date.now. */
  now: () => number;
}

export const DEFAULT_REPLAY_GUARD_OPTIONS: Readonly<ReplayGuardOptions> = Object.freeze({
  windowMs: 5 * 60 * 1000, // 5 min
  maxClockSkewMs: 30 * 1000, // 30 s
  maxEntries: 100_000, // nonces (about 10 MB)
  now: () => Date.now(),
});

const DAY_MS = 24 * 60 * 60 * 1000;
const MAX_NONCE_LENGTH = 256; // characters

/**
 * Remembers the nonces of accepted messages. A message is accepted once, and only while its timestamp lies in
 * [now − windowMs, now + maxClockSkewMs]; a nonce is forgotten only once its timestamp has left the window, so a
 * replay is refused by one check or the other. Memory is bounded by maxEntries.
 */
export class ReplayGuard {
  readonly #options: Readonly<ReplayGuardOptions>;
  readonly #expiries = new Map<string, number>();
  #nextPruneAt = 0;

  constructor(options?: Partial<ReplayGuardOptions>) {
    this.#options = resolveOptions('replay guard', DEFAULT_REPLAY_GUARD_OPTIONS, options, {
      windowMs: integerIn(1, DAY_MS),
      maxClockSkewMs: integerIn(0, DAY_MS),
      maxEntries: integerIn(1, 100_000_000),
      now: isFunction,
    });
  }

  /** Nonces currently remembered. */
  get size(): number {
    return this.#expiries.size;
  }

  /**
   * Accepts and remembers `nonce` with its `timestamp` (epoch ms), or throws: FEDVAL_ERR_TRUST_INVALID_PAYLOAD,
   * FEDVAL_ERR_TRUST_TIMESTAMP_OUTSIDE_WINDOW, FEDVAL_ERR_TRUST_REPLAYED, FEDVAL_ERR_TRUST_REPLAY_GUARD_FULL.
   * Call it only after the message's signature verified, so forgeries cannot fill the guard.
   */
  accept(nonce: string, timestamp: number): void {
    if (typeof nonce !== 'string' || nonce.length === 0 || nonce.length > MAX_NONCE_LENGTH) {
      throw new TrustError('FEDVAL_ERR_TRUST_INVALID_PAYLOAD', `nonce: expected 1-${MAX_NONCE_LENGTH} characters`);
    }
    if (!Number.isSafeInteger(timestamp)) throw new TrustError('FEDVAL_ERR_TRUST_INVALID_PAYLOAD', 'timestamp: expected epoch milliseconds');
    const now = this.#options.now();
    if (timestamp < now - this.#options.windowMs || timestamp > now + this.#options.maxClockSkewMs) {
      throw new TrustError('FEDVAL_ERR_TRUST_TIMESTAMP_OUTSIDE_WINDOW', `${now - timestamp} ms old`);
    }
    if (now >= this.#nextPruneAt || this.#expiries.size >= this.#options.maxEntries) this.#prune(now);
    const expiry = this.#expiries.get(nonce);
    if (expiry !== undefined && expiry >= now) throw new TrustError('FEDVAL_ERR_TRUST_REPLAYED');
    if (this.#expiries.size >= this.#options.maxEntries) throw new TrustError('FEDVAL_ERR_TRUST_REPLAY_GUARD_FULL', `${this.#options.maxEntries} nonces`);
    this.#expiries.set(nonce, timestamp + this.#options.windowMs);
  }

  #prune(now: number): void {
    for (const [nonce, expiry] of this.#expiries) if (expiry < now) this.#expiries.delete(nonce);
    this.#nextPruneAt = now + Math.max(1, Math.floor(this.#options.windowMs / 4));
  }
}

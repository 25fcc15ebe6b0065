// connection-limits.ts — token buckets for site sockets: per client address before authentication, per site after it.

/**
 * A token bucket per key (Turner, "New directions in communications", IEEE Commun. Mag. 24(10), 1986; the shaping of
 * RFC 2697 §3): each key holds up to `burst` tokens, refilled at `perSecond`; an attempt takes one token or is refused.
 * A full bucket is forgotten, so memory holds only keys seen within about `burst / perSecond` seconds, and at most
 * `maxKeys` of them: past it, an unknown key is refused until buckets refill (a flood of addresses cannot grow memory).
 */
export class TokenBuckets {
  readonly #burst: number;
  readonly #perMs: number;
  readonly #maxKeys: number;
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  #prunedAt = -Infinity;

  constructor(options: { burst: number; perSecond: number; maxKeys: number }) {
    this.#burst = options.burst;
    this.#perMs = options.perSecond / 1000;
    this.#maxKeys = options.maxKeys;
  }

  /** Takes a token for `key`: 0 when granted, else the wait in ms until one is available. */
  take(key: string, now = Date.now()): number {
    let bucket = this.#buckets.get(key);
    if (bucket) {
      bucket.tokens = Math.min(this.#burst, bucket.tokens + (now - bucket.at) * this.#perMs);
      bucket.at = now;
    } else {
      if (this.#buckets.size >= this.#maxKeys) this.#prune(now);
      if (this.#buckets.size >= this.#maxKeys) return Math.ceil(1 / this.#perMs);
      bucket = { tokens: this.#burst, at: now };
      this.#buckets.set(key, bucket);
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.ceil((1 - bucket.tokens) / this.#perMs);
  }

  /** Keys currently tracked. */
  get size(): number {
    return this.#buckets.size;
  }

  /** Forgets full buckets; at most once a second, so a flood of new keys does not make every attempt scan them all. */
  #prune(now: number): void {
    if (now - this.#prunedAt < 1000) return;
    this.#prunedAt = now;
    for (const [key, bucket] of this.#buckets) {
      if (bucket.tokens + (now - bucket.at) * this.#perMs >= this.#burst) this.#buckets.delete(key);
    }
  }
}

/** Most client addresses (or sites) tracked at once by one limiter. */
export const MAX_TRACKED_KEYS = 100_000;

// connection-limits.ts — token buckets for site sockets: per client address before authentication, per site after it.
import { isIPv4, isIPv6 } from 'node:net';

/**
 * A token bucket per key (Turner, "New directions in communications", IEEE Commun. Mag. 24(10), 1986; the shaping of
 * RFC 2697 §3): each key holds up to `burst` tokens, refilled at `perSecond`; an attempt takes one token or is refused.
 * A full bucket is forgotten, so memory holds only keys seen within about `burst / perSecond` seconds, and at most
 * `maxKeys` of them: past it the least recently used key is evicted (a flood of addresses cannot grow memory, nor lock
 * out addresses it has not seen).
 */
export class TokenBuckets {
  readonly #burst: number;
  readonly #perMs: number;
  readonly #maxKeys: number;
  /** In least-recently-used order: every take moves its key to the end. */
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
      this.#buckets.delete(key);
    } else {
      if (this.#buckets.size >= this.#maxKeys) this.#prune(now);
      // Still full of live buckets: evict the least recently used one.
      for (const oldest of this.#buckets.keys()) {
        if (this.#buckets.size < this.#maxKeys) break;
        this.#buckets.delete(oldest);
      }
      bucket = { tokens: this.#burst, at: now };
    }
    this.#buckets.set(key, bucket);
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

/**
 * The key a client address is limited under: an IPv4 address as is (also when IPv4-mapped, `::ffff:a.b.c.d`), an IPv6
 * address by its /64 — the smallest prefix routinely assigned to one subscriber (RFC 6177 §3), so one client cannot
 * take a fresh budget per address of its prefix. Anything else is kept as is.
 */
export function addressKey(address: string): string {
  if (isIPv4(address)) return address;
  if (!isIPv6(address)) return address;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped && isIPv4(mapped[1]!)) return mapped[1]!;
  const groups = expandIPv6(address.split('%')[0]!);
  return `${groups.slice(0, 4).join(':')}::/64`;
}

/** The eight 16-bit groups of a valid IPv6 address, lower-case hex without leading zeros. */
function expandIPv6(address: string): string[] {
  let text = address.toLowerCase();
  // A trailing dotted quad stands for the last two groups.
  const quad = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (quad) {
    const [a, b, c, d] = quad.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, quad.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const zeros = tail === undefined ? [] : Array.from({ length: 8 - left.length - right.length }, () => '0');
  return [...left, ...zeros, ...right].map((group) => parseInt(group, 16).toString(16));
}

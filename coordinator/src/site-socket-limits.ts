// site-socket-limits.ts — the site socket's connection limits: per address and in flight before authentication, per site after it.
import type { CoordinatorLimits } from './config.ts';
import type { CoordinatorErrorCode } from './errors.ts';
import { addressKey, MAX_TRACKED_KEYS, TokenBuckets } from './connection-limits.ts';

/** Why an upgrade is refused before it happens, and when to come back (ms). */
export interface SocketRefusal {
  code: Extract<CoordinatorErrorCode, 'FEDVAL_ERR_COORD_RATE_LIMITED' | 'FEDVAL_ERR_COORD_SOCKETS_BUSY'>;
  retryAfterMs: number;
}

/** What a newly accepted socket holds until it authenticates or closes: its place among the unauthenticated sockets. */
export interface UnauthenticatedSlot {
  /** Gives the place back; idempotent (called on the valid hello and on close). */
  end(): void;
}

type SocketLimitOptions = Pick<
  CoordinatorLimits,
  'ws_connects_per_minute' | 'ws_connect_burst' | 'ws_site_connects_per_minute' | 'ws_site_connect_burst' | 'max_unauthenticated_sockets' | 'max_unauthenticated_sockets_per_address'
>;

/** What `admit` decides: the refusal, or the place the new socket holds among the unauthenticated ones. */
export type Admission = { refused: SocketRefusal } | { slot: UnauthenticatedSlot };

/**
 * Limits that protect the coordinator without blocking a fleet behind one address: a generous token bucket per client
 * address (a hospital NAT or a reverse proxy carries many sites), caps on sockets not yet authenticated, per address
 * and in all (the memory an unauthenticated flood can hold, and no one address may hold it all), and after
 * authentication a bucket per site (a reconnect loop). Addresses are keyed by `addressKey` (IPv6 by its /64).
 */
export class SiteSocketLimits {
  readonly #perAddress: TokenBuckets;
  readonly #perSite: TokenBuckets;
  readonly #maxUnauthenticated: number;
  readonly #maxUnauthenticatedPerAddress: number;
  #unauthenticated = 0;
  /** Unauthenticated sockets per address key; a key leaves the map when its count drops to 0. */
  readonly #unauthenticatedByAddress = new Map<string, number>();

  constructor(limits: SocketLimitOptions) {
    this.#perAddress = new TokenBuckets({ burst: limits.ws_connect_burst, perSecond: limits.ws_connects_per_minute / 60, maxKeys: MAX_TRACKED_KEYS });
    this.#perSite = new TokenBuckets({ burst: limits.ws_site_connect_burst, perSecond: limits.ws_site_connects_per_minute / 60, maxKeys: MAX_TRACKED_KEYS });
    this.#maxUnauthenticated = limits.max_unauthenticated_sockets;
    this.#maxUnauthenticatedPerAddress = limits.max_unauthenticated_sockets_per_address;
  }

  /**
   * Before the upgrade: the refusal, or the slot the socket holds from now on — reserved here, before the upgrade
   * completes, so upgrades in flight cannot overshoot the caps. The caller must `end()` it on a valid hello and when
   * the connection closes (also when the upgrade fails). A refused attempt still spends its address's token.
   */
  admit(address: string, now = Date.now()): Admission {
    const key = addressKey(address);
    const wait = this.#perAddress.take(key, now);
    if (wait > 0) return { refused: { code: 'FEDVAL_ERR_COORD_RATE_LIMITED', retryAfterMs: wait } };
    const held = this.#unauthenticatedByAddress.get(key) ?? 0;
    if (this.#unauthenticated >= this.#maxUnauthenticated || held >= this.#maxUnauthenticatedPerAddress) {
      return { refused: { code: 'FEDVAL_ERR_COORD_SOCKETS_BUSY', retryAfterMs: 1000 } };
    }
    this.#unauthenticated += 1;
    this.#unauthenticatedByAddress.set(key, held + 1);
    let ended = false;
    return {
      slot: {
        end: () => {
          if (ended) return;
          ended = true;
          this.#unauthenticated -= 1;
          const left = (this.#unauthenticatedByAddress.get(key) ?? 1) - 1;
          if (left > 0) this.#unauthenticatedByAddress.set(key, left);
          else this.#unauthenticatedByAddress.delete(key);
        },
      },
    };
  }

  /** After a valid hello: 0 to accept the site's connection, else the wait in ms before it may connect again. */
  siteConnected(siteId: string, now = Date.now()): number {
    return this.#perSite.take(siteId, now);
  }

  /** Sockets admitted and not yet authenticated (nor closed). */
  get unauthenticated(): number {
    return this.#unauthenticated;
  }
}

// site-socket-limits.ts — the site socket's connection limits: per address and in flight before authentication, per site after it.
import type { CoordinatorLimits } from './config.ts';
import type { CoordinatorErrorCode } from './errors.ts';
import { MAX_TRACKED_KEYS, TokenBuckets } from './connection-limits.ts';

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
  'ws_connects_per_minute' | 'ws_connect_burst' | 'ws_site_connects_per_minute' | 'ws_site_connect_burst' | 'max_unauthenticated_sockets'
>;

/**
 * Limits that protect the coordinator without blocking a fleet behind one address: a generous token bucket per client
 * address (a hospital NAT or a reverse proxy carries many sites), a global cap on sockets not yet authenticated (the
 * memory an unauthenticated flood can hold), and after authentication a bucket per site (a reconnect loop).
 */
export class SiteSocketLimits {
  readonly #perAddress: TokenBuckets;
  readonly #perSite: TokenBuckets;
  readonly #maxUnauthenticated: number;
  #unauthenticated = 0;

  constructor(limits: SocketLimitOptions) {
    this.#perAddress = new TokenBuckets({ burst: limits.ws_connect_burst, perSecond: limits.ws_connects_per_minute / 60, maxKeys: MAX_TRACKED_KEYS });
    this.#perSite = new TokenBuckets({ burst: limits.ws_site_connect_burst, perSecond: limits.ws_site_connects_per_minute / 60, maxKeys: MAX_TRACKED_KEYS });
    this.#maxUnauthenticated = limits.max_unauthenticated_sockets;
  }

  /** Before the upgrade: undefined to go on, else the refusal. A refused attempt still spends its address's token. */
  admit(address: string, now = Date.now()): SocketRefusal | undefined {
    const wait = this.#perAddress.take(address, now);
    if (wait > 0) return { code: 'FEDVAL_ERR_COORD_RATE_LIMITED', retryAfterMs: wait };
    if (this.#unauthenticated >= this.#maxUnauthenticated) return { code: 'FEDVAL_ERR_COORD_SOCKETS_BUSY', retryAfterMs: 1000 };
    return undefined;
  }

  /** A socket was accepted: it counts as unauthenticated until `end()`. */
  opened(): UnauthenticatedSlot {
    this.#unauthenticated += 1;
    let ended = false;
    return {
      end: () => {
        if (ended) return;
        ended = true;
        this.#unauthenticated -= 1;
      },
    };
  }

  /** After a valid hello: 0 to accept the site's connection, else the wait in ms before it may connect again. */
  siteConnected(siteId: string, now = Date.now()): number {
    return this.#perSite.take(siteId, now);
  }

  /** Sockets open and not yet authenticated. */
  get unauthenticated(): number {
    return this.#unauthenticated;
  }
}

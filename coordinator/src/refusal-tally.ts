// refusal-tally.ts — refused unauthenticated sockets in the audit trail, rate-limited: the first of each interval in
// full, the others counted into one summary entry when the interval ends, so a flood costs one fsync per interval.
import type { FastifyBaseLogger } from 'fastify';
import type { AuditRecorder } from './coordinator-audit.ts';
import { coordinatorWireError } from './errors.ts';

/** One refused socket: the refusal code, the client address, and the site id it claimed (if it got that far). */
export interface SocketRefusal {
  code: string;
  /** The client address limits apply to (behind a trusted proxy, taken from X-Forwarded-For). */
  ip: string;
  /** The TCP peer's address (the proxy's, behind one). */
  peer?: string | undefined;
  /** The X-Forwarded-For header as received, if any. */
  forwarded?: string | undefined;
  claimed?: string | undefined;
}

/** Distinct client addresses a summary names; the others are only counted. */
const MAX_SUMMARY_IPS = 16;
/** Distinct codes and claimed site ids a summary counts separately; others are counted under `other`. */
const MAX_SUMMARY_KEYS = 32;

function bump(counts: Map<string, number>, key: string): void {
  const slot = counts.has(key) || counts.size < MAX_SUMMARY_KEYS ? key : 'other';
  counts.set(slot, (counts.get(slot) ?? 0) + 1);
}

/**
 * Writes `connection.refused` for the first refused socket of an interval and counts the rest; when the interval
 * ends (and at close) one `connection.refused_summary` entry records how many more were refused, by code, by claimed
 * site, and up to 16 of their addresses.
 */
export class RefusalTally {
  readonly #audit: AuditRecorder;
  readonly #intervalMs: number;
  readonly #log: FastifyBaseLogger;
  #timer: NodeJS.Timeout | undefined;
  #windowStart = 0;
  #count = 0;
  #byCode = new Map<string, number>();
  #bySite = new Map<string, number>();
  #ips = new Set<string>();

  /** `intervalMs`: length of one interval, in milliseconds (`limits.refusal_audit_interval_ms`, default 60 s). */
  constructor(audit: AuditRecorder, intervalMs: number, log: FastifyBaseLogger) {
    this.#audit = audit;
    this.#intervalMs = intervalMs;
    this.#log = log;
  }

  /** Counts one refused socket; records it in full when it is the first of its interval. Never throws. */
  refuse(refusal: SocketRefusal): void {
    if (this.#timer === undefined) {
      this.#windowStart = Date.now();
      this.#timer = setTimeout(() => this.flush(), this.#intervalMs);
      this.#timer.unref();
      this.#write({
        actor: 'coordinator',
        action: 'connection.refused',
        object: refusal.claimed ? `site:${refusal.claimed}` : 'site:unidentified',
        reason: refusal.code,
        details: { ip: refusal.ip, code: refusal.code, ...(refusal.peer !== undefined ? { peer: refusal.peer } : {}), ...(refusal.forwarded !== undefined ? { forwarded: refusal.forwarded } : {}) },
      });
      return;
    }
    this.#count += 1;
    bump(this.#byCode, refusal.code);
    bump(this.#bySite, refusal.claimed ?? 'unidentified');
    if (this.#ips.size < MAX_SUMMARY_IPS) this.#ips.add(refusal.ip);
  }

  /** Ends the current interval: writes its summary when sockets were refused after the first. */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#count === 0) return;
    const details = {
      refused: this.#count,
      from: new Date(this.#windowStart).toISOString(),
      to: new Date().toISOString(),
      by_code: Object.fromEntries(this.#byCode),
      by_claimed_site: Object.fromEntries(this.#bySite),
      ips: [...this.#ips],
    };
    this.#count = 0;
    this.#byCode = new Map();
    this.#bySite = new Map();
    this.#ips = new Set();
    this.#write({ actor: 'coordinator', action: 'connection.refused_summary', object: 'site:unidentified', details });
  }

  #write(event: Parameters<AuditRecorder>[0]): void {
    try {
      this.#audit(event);
    } catch (error) {
      this.#log.error({ code: coordinatorWireError(error).code }, 'could not record refused connections in the audit trail');
    }
  }
}

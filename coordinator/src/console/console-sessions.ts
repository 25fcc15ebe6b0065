// console-sessions.ts — the web console's server-side sessions: a random id in an HttpOnly cookie, kept as its SHA-256, with an absolute expiry.
import { createHash, randomBytes } from 'node:crypto';
import type { Principal } from '../access-control.ts';

/** Name of the console's session cookie (scoped to the console's path). */
export const CONSOLE_COOKIE = 'fedval_console';

export interface ConsoleSessionOptions {
  /** How long a session lasts after login, in milliseconds (absolute, not sliding). */
  ttlMs: number;
  /** Most sessions kept at once; at the limit the expired go, and when all are live a new login is refused (never another's ended). */
  maxSessions: number;
  /** Most live sessions of one principal (API token name and role); its next login ends its own oldest. */
  maxSessionsPerPrincipal: number;
  /** Clock in milliseconds (tests). Default: Date.now. */
  now?: () => number;
}

interface Session {
  principal: Principal;
  expiresAt: number;
}

const digest = (id: string): string => createHash('sha256').update(id).digest('hex');

/**
 * Sessions in memory (a coordinator restart ends them all). The cookie holds 256 random bits; the map holds only their
 * SHA-256, so a heap dump yields no usable cookie.
 */
export class ConsoleSessions {
  readonly #sessions = new Map<string, Session>();
  readonly #options: Required<ConsoleSessionOptions>;

  constructor(options: ConsoleSessionOptions) {
    this.#options = { now: Date.now, ...options };
  }

  /**
   * Starts a session for the principal and returns the cookie value; null when the table is full of live sessions (the
   * login is refused: one token logging in again and again cannot end everyone else's sessions). A principal at its own
   * cap ends its own oldest session first.
   */
  create(principal: Principal): string | null {
    const now = this.#options.now();
    const own: string[] = []; // this principal's live sessions, oldest first (a Map keeps insertion order)
    for (const [key, session] of this.#sessions) {
      if (session.expiresAt <= now) this.#sessions.delete(key);
      else if (session.principal.name === principal.name && session.principal.role === principal.role) own.push(key);
    }
    while (own.length >= this.#options.maxSessionsPerPrincipal) this.#sessions.delete(own.shift() as string);
    if (this.#sessions.size >= this.#options.maxSessions) return null;
    const id = randomBytes(32).toString('base64url');
    this.#sessions.set(digest(id), { principal, expiresAt: now + this.#options.ttlMs });
    return id;
  }

  /** The principal of a live session, or null (unknown, ended or expired; an expired one is forgotten). */
  identify(id: string | undefined): Principal | null {
    if (id === undefined || id.length === 0 || id.length > 128) return null;
    const key = digest(id);
    const session = this.#sessions.get(key);
    if (!session) return null;
    if (session.expiresAt <= this.#options.now()) {
      this.#sessions.delete(key);
      return null;
    }
    return session.principal;
  }

  /** Ends a session (logout); unknown ids are ignored. */
  end(id: string | undefined): void {
    if (id !== undefined) this.#sessions.delete(digest(id));
  }

  get size(): number {
    return this.#sessions.size;
  }
}

/** The value of cookie `name` in a Cookie header (RFC 6265 §5.4), or undefined. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const pair of (header ?? '').split(';')) {
    const at = pair.indexOf('=');
    if (at > 0 && pair.slice(0, at).trim() === name) return pair.slice(at + 1).trim();
  }
  return undefined;
}

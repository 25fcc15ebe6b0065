// connection-failures.ts — which failures of the connection to the coordinator heal (retry with backoff) and which never will (exit 2 or 3).
import { connect as tlsConnect } from 'node:tls';
import type { AgentErrorCode } from './errors.ts';

/** Exit statuses of `fedval-agent start` when it gives up: 2 the site's configuration is wrong, 3 the coordinator refuses the site. */
export const AGENT_EXIT_STATUS = Object.freeze({ config: 2, refused: 3 });

/**
 * The permanent connection errors, each with its exit status: the README's table "When the agent gives up".
 * TLS_VERIFY and ENDPOINT are fixed in the site's configuration (exit 2); the others are refusals by the server (exit 3):
 * credentials, another agent on the site id, the protocol, or a challenge naming another coordinator.
 */
export const PERMANENT_CONNECTION_ERRORS: Readonly<Partial<Record<AgentErrorCode, 2 | 3>>> = Object.freeze({
  FEDVAL_ERR_AGENT_TLS_VERIFY: AGENT_EXIT_STATUS.config,
  FEDVAL_ERR_AGENT_ENDPOINT: AGENT_EXIT_STATUS.config,
  FEDVAL_ERR_AGENT_UNAUTHORIZED: AGENT_EXIT_STATUS.refused,
  FEDVAL_ERR_AGENT_REPLACED: AGENT_EXIT_STATUS.refused,
  FEDVAL_ERR_AGENT_CHALLENGE: AGENT_EXIT_STATUS.refused,
  FEDVAL_ERR_AGENT_PROTOCOL_REFUSED: AGENT_EXIT_STATUS.refused,
});

/** The exit status for an error that stopped the agent: the table's for a permanent connection error, else 1. */
export function agentExitStatus(code: string): number {
  return (PERMANENT_CONNECTION_ERRORS as Record<string, number | undefined>)[code] ?? 1;
}

export type ConnectionFailure =
  | { kind: 'transient'; reason: string }
  | { kind: 'permanent'; code: AgentErrorCode; detail: string };

/** Certificate verification failures of OpenSSL / node:tls (X509_V_ERR_* names and Node's host name check). */
const TLS_VERIFY = /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ERR_TLS_CERT_ALTNAME_INVALID/;

/**
 * Classifies an error event of the socket (before or during the WebSocket handshake). `usesTls` is whether the URL is
 * wss://. Node's own hint to run with --use-system-ca is dropped: a private coordinator CA belongs in tls.ca.
 */
export function classifySocketError(error: Error & { code?: string }, usesTls: boolean): ConnectionFailure {
  const code = error.code ?? '';
  if (TLS_VERIFY.test(code)) {
    return { kind: 'permanent', code: 'FEDVAL_ERR_AGENT_TLS_VERIFY', detail: `${code}: set tls.ca to the CA that issued the coordinator's certificate, and check the host name in coordinator` };
  }
  if (usesTls && code === 'EPROTO') {
    return { kind: 'permanent', code: 'FEDVAL_ERR_AGENT_ENDPOINT', detail: 'the coordinator does not speak TLS on this port: use ws:// or the TLS port' };
  }
  const status = /^Unexpected server response: (\d{3})$/.exec(error.message)?.[1];
  if (status !== undefined) {
    const http = Number(status);
    if (http === 401 || http === 403) return { kind: 'permanent', code: 'FEDVAL_ERR_AGENT_UNAUTHORIZED', detail: `HTTP ${http} on the socket path: ask the coordinator's operator (a proxy in front of it refuses this site)` };
    if (http >= 400 && http < 500 && http !== 408 && http !== 429) {
      return { kind: 'permanent', code: 'FEDVAL_ERR_AGENT_ENDPOINT', detail: `HTTP ${http}: check the path in coordinator (the site socket is /ws, e.g. wss://coordinator.example.org/ws)` };
    }
    return { kind: 'transient', reason: `HTTP ${http}` };
  }
  return { kind: 'transient', reason: code || error.message };
}

/** The coordinator's close codes (coordinator/src/site-connections.ts WS_CLOSE_CODES) that no reconnection will heal. */
export function classifyClose(closeCode: number, reason: string, enrolled: boolean): ConnectionFailure | undefined {
  if (closeCode === 4401) {
    const what = enrolled ? 'that this site key is the enrolled one' : 'the token';
    return { kind: 'permanent', code: 'FEDVAL_ERR_AGENT_UNAUTHORIZED', detail: `${reason || 'refused'}: check site_id and ${what}; the coordinator refuses a site it does not list or whose enrolment was revoked` };
  }
  if (closeCode === 4400) {
    return { kind: 'permanent', code: 'FEDVAL_ERR_AGENT_PROTOCOL_REFUSED', detail: `${reason || 'bad message'}: compare this agent's version with the coordinator's` };
  }
  if (closeCode === 4409) return { kind: 'permanent', code: 'FEDVAL_ERR_AGENT_REPLACED', detail: 'another agent connected with this site id' };
  return undefined;
}

/**
 * Whether a server at host:port completes a TLS handshake (any certificate): tells `ws://` to a TLS server, which
 * only shows as a reset connection, from a transient reset. Resolves false after `timeoutMs` (ms, default 2000).
 */
export function speaksTls(host: string, port: number, timeoutMs = 2_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tlsConnect({ host, port, servername: /^[\d.:]+$/.test(host) ? undefined : host, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] } as never);
    const done = (answer: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(answer);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once('secureConnect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * Delay before reconnection attempt `attempt` (0-based), in ms: capped exponential backoff with full jitter,
 * uniform in [0, min(maxMs, initialMs·2^attempt)] (Brooker, "Exponential Backoff And Jitter", AWS Architecture Blog, 2015),
 * so a fleet that lost its coordinator does not reconnect in step. `random` returns [0, 1) (Math.random by default).
 */
export function reconnectDelay(attempt: number, limits: { initialMs: number; maxMs: number }, random: () => number = Math.random): number {
  const ceiling = Math.min(limits.maxMs, limits.initialMs * 2 ** Math.min(attempt, 52));
  return Math.floor(random() * (ceiling + 1));
}

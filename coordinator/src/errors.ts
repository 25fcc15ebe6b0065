// errors.ts — every error the coordinator throws or sends, each with a stable public code and an HTTP status.
import { toWireError } from '@fedval/protocol';
import type { WireError } from '@fedval/protocol';

/** Code → [message, HTTP status]. Codes are public API: documented in the README, pinned by a test, never reused. */
export const COORD_ERRORS = {
  // configuration and startup
  FEDVAL_ERR_COORD_CONFIG: ['invalid coordinator configuration', 500],
  FEDVAL_ERR_COORD_CONFIG_UNREADABLE: ['cannot read the coordinator configuration file', 500],
  FEDVAL_ERR_COORD_TLS: ['the TLS certificate, key or client CA cannot be read or do not match', 500],
  FEDVAL_ERR_COORD_STORAGE: ['coordinator storage failed', 500],
  FEDVAL_ERR_COORD_STORAGE_VERSION: ['coordinator database was written by a newer coordinator', 500],
  FEDVAL_ERR_COORD_DATA_DIR_LOCKED: ['another coordinator is using the data directory', 500],
  FEDVAL_ERR_COORD_DATABASE_LOCKED: ['another coordinator holds the PostgreSQL database (its advisory lock), or this one lost it', 500],
  FEDVAL_ERR_COORD_DATABASE_UNREACHABLE: ['cannot reach the PostgreSQL server of storage.postgres', 500],
  FEDVAL_ERR_COORD_DATABASE_AUTH: ['the PostgreSQL server refused the role or password of storage.postgres', 500],
  FEDVAL_ERR_COORD_INTERNAL: ['internal coordinator error', 500],
  FEDVAL_ERR_COORD_AUDIT: ['the audit trail cannot be opened or written', 500],
  FEDVAL_ERR_COORD_CHECK: ['a check of `fedval-coordinator check` failed', 500],
  // REST
  FEDVAL_ERR_COORD_NOT_FOUND: ['no such route', 404],
  FEDVAL_ERR_COORD_INVALID_REQUEST: ['invalid request', 400],
  FEDVAL_ERR_COORD_BODY_TOO_LARGE: ['request body exceeds the size limit', 413],
  FEDVAL_ERR_COORD_UNSUPPORTED_MEDIA_TYPE: ['request body must be application/json', 415],
  FEDVAL_ERR_COORD_INVALID_MANIFEST: ['invalid model manifest', 400],
  FEDVAL_ERR_COORD_MODEL_FILES: ['uploaded model files do not match the manifest', 400],
  FEDVAL_ERR_COORD_UNSAFE_PATH: ['model file path is not a safe relative path', 400],
  FEDVAL_ERR_COORD_MODEL_NOT_FOUND: ['no such model', 404],
  FEDVAL_ERR_COORD_STUDY_NOT_FOUND: ['no such study', 404],
  FEDVAL_ERR_COORD_ROUND_NOT_FOUND: ['no such round', 404],
  FEDVAL_ERR_COORD_UNKNOWN_MODEL: ['the study names a model that is not registered', 400],
  FEDVAL_ERR_COORD_UNKNOWN_SITE: ['the site is not in the coordinator configuration', 400],
  FEDVAL_ERR_COORD_RELEASE_MINIMUM: ['the study would release an aggregate of fewer sites than the release minimum allows (limits.min_release_sites, default 3)', 400],
  FEDVAL_ERR_COORD_ROUND_IN_PROGRESS: ['the study already has an open round', 409],
  FEDVAL_ERR_COORD_NOT_ENCRYPTED: ['the study does not use encryption', 409],
  FEDVAL_ERR_COORD_NO_PUBLIC_KEY: ['the key holder has not registered the study public key yet', 409],
  FEDVAL_ERR_COORD_PUBLIC_KEY_EXISTS: ['the study public key is already registered', 409],
  FEDVAL_ERR_COORD_NO_KEY_STATEMENT: ["the round's task names no key holder statement by that SHA-256", 409],
  FEDVAL_ERR_COORD_KEY_STATEMENT_REPEATED: ['this connection was already sent the key statement of that round', 409],
  FEDVAL_ERR_COORD_NOT_AGGREGATED: ['the round has no aggregate to release', 409],
  FEDVAL_ERR_COORD_ALREADY_RELEASED: ['the round result was already released', 409],
  FEDVAL_ERR_COORD_RELEASE_POLICY: ['the release policy is not met', 409],
  // access control and limits
  FEDVAL_ERR_COORD_UNAUTHENTICATED: ['a valid API token is required (Authorization: Bearer <token>)', 401],
  FEDVAL_ERR_COORD_FORBIDDEN: ['the role of this API token may not call this route', 403],
  FEDVAL_ERR_COORD_RATE_LIMITED: ['too many requests; retry later', 429],
  FEDVAL_ERR_COORD_SOCKETS_BUSY: ['too many site sockets are waiting to authenticate (limits.max_unauthenticated_sockets); retry later', 503],
  // enrollment
  FEDVAL_ERR_COORD_ENROLLMENT_REFUSED: ['the enrollment token is unknown, used, revoked, expired or for another site, or the request does not prove possession of the key', 401],
  FEDVAL_ERR_COORD_ENROLLMENT_UNAVAILABLE: ['site enrollment needs public_ws_url in the coordinator configuration', 409],
  // WebSocket hub
  FEDVAL_ERR_COORD_UNAUTHORIZED: ['site authentication failed', 401],
  FEDVAL_ERR_COORD_CLIENT_CERTIFICATE: ['mutual TLS: the site socket needs a client certificate issued by the configured client CA', 401],
  FEDVAL_ERR_COORD_HELLO_REQUIRED: ['the first message must be hello', 400],
  FEDVAL_ERR_COORD_AUTH_TIMEOUT: ['no hello within the authentication timeout', 408],
  FEDVAL_ERR_COORD_ALREADY_AUTHENTICATED: ['this connection is already authenticated', 400],
  FEDVAL_ERR_COORD_TEXT_FRAME: ['text frames are not accepted; send binary protocol messages', 400],
  FEDVAL_ERR_COORD_MESSAGE_TOO_LARGE: ['message exceeds the size limit', 413],
  FEDVAL_ERR_COORD_PREAUTH_MESSAGE_TOO_LARGE: ['message exceeds the size limit before authentication (max_preauth_message_bytes)', 413],
  FEDVAL_ERR_COORD_UNEXPECTED_MESSAGE: ['the coordinator does not accept this message type from a site', 400],
  FEDVAL_ERR_COORD_TOO_MANY_INVALID: ['too many invalid messages on this connection', 429],
  FEDVAL_ERR_COORD_REPLACED: ['a newer connection for this site replaced this one', 409],
  FEDVAL_ERR_COORD_HEARTBEAT_TIMEOUT: ['no message from the site within the heartbeat timeout', 408],
  FEDVAL_ERR_COORD_SHUTTING_DOWN: ['the coordinator is shutting down', 503],
  FEDVAL_ERR_COORD_SITE_RATE_LIMITED: ['this site connects too often (limits.ws_site_connects_per_minute); retry later', 429],
  // rounds and contributions
  FEDVAL_ERR_COORD_ROUND_NOT_OPEN: ['the round is not open for this site', 409],
  FEDVAL_ERR_COORD_DUPLICATE_CONTRIBUTION: ['this site already contributed other bytes to the round', 409],
  FEDVAL_ERR_COORD_INVALID_CONTRIBUTION: ['the contribution does not fit the round', 400],
  FEDVAL_ERR_COORD_CONTRIBUTION_HASH: ['the contribution does not match its SHA-256', 400],
  FEDVAL_ERR_COORD_CONTRIBUTION_OVERFLOW: ['adding the contribution would leave the exact integer range', 400],
  FEDVAL_ERR_COORD_ROUND_DEADLINE: ['the round deadline passed', 408],
  FEDVAL_ERR_COORD_ROUND_CLOSED: ['the round is closed', 409],
  FEDVAL_ERR_COORD_FINALIZE: ['the aggregate could not be finalized into metrics', 500],
  FEDVAL_ERR_COORD_RESULT_SIGNATURE: ['the result of an enrolled site is unsigned or its signature does not verify', 400],
  FEDVAL_ERR_COORD_REPLAYED: ['this signed result was already received, or is outside the replay window', 409],
  FEDVAL_ERR_COORD_SECAGG_PHASE: ['the secure-aggregation message does not fit the round phase or this site', 409],
  FEDVAL_ERR_COORD_SECAGG_INVALID: ['the secure-aggregation record is malformed, names another round or site, or its signature does not verify', 400],
  FEDVAL_ERR_COORD_SITE_DROPPED: ['the site dropped out of a securely aggregated round', 410],
  FEDVAL_ERR_COORD_SECAGG_THRESHOLD: ['the secure-aggregation threshold must be at least the release minimum and at most the number of sites', 400],
  FEDVAL_ERR_COORD_SECAGG_TIMEOUT: ['the site did not answer a secure-aggregation phase in time (limits.secagg_phase_timeout_ms) and was dropped from the round', 408],
  // command line
  FEDVAL_ERR_COORD_USAGE: ['invalid command-line arguments', 400],
  // web console
  FEDVAL_ERR_COORD_CONSOLE_LOGIN_REFUSED: ['the console login token is not a configured API token', 401],
  FEDVAL_ERR_COORD_CONSOLE_CROSS_ORIGIN: ['the console accepts forms from its own origin only', 403],
  FEDVAL_ERR_COORD_CONSOLE_NOT_RELEASED: ['the round has no released result signed by the key holder to report', 409],
  FEDVAL_ERR_COORD_CONSOLE_REPORT_MISMATCH: ["the stored result is not what the key holder's signed release statement binds", 500],
  FEDVAL_ERR_COORD_CONSOLE_SESSIONS_FULL: ['the console holds its most live sessions (limits.console_max_sessions); log in again later', 503],
} as const satisfies Record<string, readonly [string, number]>;

export type CoordinatorErrorCode = keyof typeof COORD_ERRORS;

export class CoordinatorError extends Error {
  readonly code: CoordinatorErrorCode;
  /** HTTP status a REST route answers with. */
  readonly statusCode: number;
  constructor(code: CoordinatorErrorCode, detail?: string, options?: { cause?: unknown }) {
    const [message, statusCode] = COORD_ERRORS[code];
    super(detail ? `${message}: ${detail}` : message, options);
    this.name = 'CoordinatorError';
    this.code = code;
    this.statusCode = statusCode;
  }
}

/** The wire form of an error the coordinator sends or records: a coded error as it is; anything else as FEDVAL_ERR_COORD_INTERNAL, without its message. */
export function coordinatorWireError(error: unknown): WireError {
  return toWireError(error, { code: 'FEDVAL_ERR_COORD_INTERNAL', message: COORD_ERRORS.FEDVAL_ERR_COORD_INTERNAL[0] });
}

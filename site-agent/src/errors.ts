// errors.ts — every error the site agent raises or sends as a refusal, each with a stable public code.
import { MODELS_ERROR_MESSAGES } from '@fedval/models';
import type { ModelsErrorCode } from '@fedval/models';
import { toWireError } from '@fedval/protocol';
import type { WireError } from '@fedval/protocol';
export const AGENT_ERROR_MESSAGES = {
  FEDVAL_ERR_AGENT_CONFIG: 'invalid agent configuration',
  FEDVAL_ERR_AGENT_USAGE: 'invalid command-line arguments',
  FEDVAL_ERR_AGENT_DATA_NOT_FOUND: 'data file not found or not readable',
  FEDVAL_ERR_AGENT_DATA_COLUMNS: 'data file lacks required columns',
  FEDVAL_ERR_AGENT_DATA_MALFORMED: 'data is not valid CSV or Parquet, or is truncated',
  FEDVAL_ERR_AGENT_DATA_LIMIT: 'data file exceeds a configured limit',
  FEDVAL_ERR_AGENT_DATA_CHANGED: 'data changed while it was being read',
  FEDVAL_ERR_AGENT_MODEL_HASH: 'model bundle does not match its announced hash',
  FEDVAL_ERR_AGENT_MODEL: 'model bundle cannot be used',
  FEDVAL_ERR_AGENT_INVALID_TASK: 'task cannot be run as specified',
  FEDVAL_ERR_AGENT_POLICY_TASK: 'task type is not allowed by site policy',
  FEDVAL_ERR_AGENT_POLICY_CONTRIBUTION: 'contribution kind is not allowed by site policy',
  FEDVAL_ERR_AGENT_POLICY_MIN_COHORT: 'cohort is smaller than the site minimum (no longer raised: it revealed the exact count)',
  FEDVAL_ERR_AGENT_BUSY: 'agent is already running a task',
  FEDVAL_ERR_AGENT_DEADLINE: 'task deadline has passed',
  FEDVAL_ERR_AGENT_POLICY_DEADLINE: 'the task deadline is further ahead than site policy allows (policy.max_task_deadline_seconds)',
  FEDVAL_ERR_AGENT_CANCELLED: 'task was cancelled by the coordinator',
  FEDVAL_ERR_AGENT_SECAGG_UNAVAILABLE: 'secure aggregation cannot run here: it needs an enrolled site key, and a threshold of at least policy.min_sites and the release minimums, with 2t > n + policy.secagg_max_colluders',
  FEDVAL_ERR_AGENT_SECAGG_PEER: 'a peer key advertisement is not signed by a rostered key, names another round, or repeats a site; or the roster lists one key under several site ids',
  FEDVAL_ERR_AGENT_SECAGG_REFUSED: 'the secure-aggregation request contradicts what this site signed or revealed, or reports this live site as dropped',
  FEDVAL_ERR_AGENT_SECAGG_REFUNDED: 'this round was refunded: its masked input can never be unmasked, and no share of it is revealed',
  FEDVAL_ERR_AGENT_SECAGG_CHANGED: 'the coordinator asked again, for a securely aggregated round, for a step this site already took, with other content (another keys list, inbox, study, threshold, roster or deadline), or for a round whose keys were wiped or whose deadline passed',
  FEDVAL_ERR_AGENT_SECAGG_PEER_NOT_APPROVED: 'the secure-aggregation roster or a key advertisement names a peer key not in policy.peer_fingerprints',
  FEDVAL_ERR_AGENT_UNAUTHORIZED: 'coordinator refused the site credentials',
  FEDVAL_ERR_AGENT_LEDGER: 'the privacy ledger cannot be read or written',
  FEDVAL_ERR_AGENT_POLICY_REQUIRES_DP: 'site policy requires differential privacy for every release',
  FEDVAL_ERR_AGENT_POLICY_REQUIRES_SECAGG: 'site policy requires secure aggregation for every encrypted contribution (policy.require_secure_aggregation)',
  FEDVAL_ERR_AGENT_REPLACED: 'coordinator closed this connection for a newer one of the same site',
  FEDVAL_ERR_AGENT_MODEL_SIGNATURE: 'model bundle is unsigned or its sponsor signature does not verify',
  FEDVAL_ERR_AGENT_MODEL_UNTRUSTED: 'model bundle is signed by a sponsor key the site does not trust',
  FEDVAL_ERR_AGENT_MODEL_NOT_APPROVED: 'model bundle awaits approval by the site administrator',
  FEDVAL_ERR_AGENT_MODEL_UNKNOWN: 'this site has received no model bundle with that SHA-256',
  FEDVAL_ERR_AGENT_POLICY_GROUPS: 'subgroup column is not allowed by site policy',
  FEDVAL_ERR_AGENT_AUDIT: 'the audit log cannot be written or does not verify',
  FEDVAL_ERR_AGENT_ROUND_UNKNOWN: 'this site holds no dataset commitment for that round',
  FEDVAL_ERR_AGENT_ROUND_REPEATED: 'this site already made its private release (or sent its masked input) for that round and no longer holds it; it is not made twice',
  FEDVAL_ERR_AGENT_SITE_KEY: 'the site key cannot be created or read',
  FEDVAL_ERR_AGENT_ENROLLMENT: 'the coordinator did not enroll this site',
  FEDVAL_ERR_AGENT_TLS: 'the TLS CA, client certificate or key cannot be read or do not match',
  FEDVAL_ERR_AGENT_CHALLENGE: 'the connection challenge does not come from the configured coordinator',
  FEDVAL_ERR_AGENT_POLICY_MIN_SITES: 'the study releases sums of fewer sites than site policy allows (policy.min_sites)',
  FEDVAL_ERR_AGENT_POLICY_OWN_SHARE_EPSILON: "this site's own noise share would give more than policy.max_own_share_epsilon",
  FEDVAL_ERR_AGENT_POLICY_MIN_CELL: "the study's minimum cell is below site policy (policy.min_cell)",
  FEDVAL_ERR_AGENT_POLICY_GROUP_LEVELS: 'a subgroup column has more levels than site policy allows (policy.max_group_levels)',
  FEDVAL_ERR_AGENT_POLICY_NO_KEY_HOLDER: 'no key holder key is pinned (policy.key_holder_keys): encrypted tasks are refused until the site pins the privacy officer\'s key',
  FEDVAL_ERR_AGENT_KEY_UNAUTHENTICATED: 'the study public key is not vouched for by a pinned key holder key (statement missing, unpinned signer, bad signature, or another study, plan or key)',
  FEDVAL_ERR_AGENT_PLAN_BOUNDS: 'the encryption plan cannot hold what this site may send (bounds below the site\'s own limits)',
  FEDVAL_ERR_AGENT_NOISE_MIN_SITES: "the task's noise shares are sized for more sites than the key holder's statement requires in a decrypted sum (too little noise would be released)",
  FEDVAL_ERR_AGENT_NOT_ON_ROSTER: "this site (its id and key fingerprint) is not on the key holder's roster in the study key statement",
  FEDVAL_ERR_AGENT_KEY_STATEMENT_OUTDATED: 'the study key statement is older than one this site already verified for the study',
  FEDVAL_ERR_AGENT_RESEND_KEY_CHANGED: 'a repeated task names another public key or plan than the contribution this site already made for the round',
  FEDVAL_ERR_AGENT_DB_UNREACHABLE: 'the site database cannot be reached (connection refused, timed out or lost)',
  FEDVAL_ERR_AGENT_DB_AUTH: 'the site database refused the configured role or password',
  FEDVAL_ERR_AGENT_DB_QUERY: 'the site database query failed',
  FEDVAL_ERR_AGENT_DB_TIMEOUT: 'the site database query exceeded data.postgres.statement_timeout_ms',
  FEDVAL_ERR_AGENT_TLS_VERIFY: "the coordinator's TLS certificate does not verify against tls.ca (or the system roots), or does not name the coordinator's host",
  FEDVAL_ERR_AGENT_ENDPOINT: 'the coordinator URL does not lead to its site socket (wrong path, or ws:// and wss:// swapped)',
  FEDVAL_ERR_AGENT_PROTOCOL_REFUSED: "the coordinator refused this agent's messages (protocol version or hello): upgrade the agent or the coordinator",
  FEDVAL_ERR_AGENT_CHECK: 'a check of `fedval-agent check` failed',
  FEDVAL_ERR_AGENT_INTERNAL: 'internal agent error',
} as const;

export type AgentErrorCode = keyof typeof AGENT_ERROR_MESSAGES;

export class AgentError extends Error {
  readonly code: AgentErrorCode;
  constructor(code: AgentErrorCode, detail?: string, options?: { cause?: unknown }) {
    super(detail ? `${AGENT_ERROR_MESSAGES[code]}: ${detail}` : AGENT_ERROR_MESSAGES[code], options);
    this.name = 'AgentError';
    this.code = code;
  }
}

/**
 * Codes whose detail describes the site's data file or database (a line number of a malformed row, the file's path, a
 * SQLSTATE with the server's words about the site's schema): the detail stays in the site's own log, and only the code
 * and its fixed message cross the wire, so no row position and nothing of the site's database leaves.
 */
const SITE_ONLY_DETAIL: ReadonlySet<AgentErrorCode> = new Set([
  'FEDVAL_ERR_AGENT_DATA_MALFORMED',
  'FEDVAL_ERR_AGENT_DATA_NOT_FOUND',
  'FEDVAL_ERR_AGENT_DB_UNREACHABLE',
  'FEDVAL_ERR_AGENT_DB_AUTH',
  'FEDVAL_ERR_AGENT_DB_QUERY',
  'FEDVAL_ERR_AGENT_DB_TIMEOUT',
]);

/**
 * Whether `error` is one @fedval/models raised while the model scored the site's rows (a bundle that cannot be loaded
 * is FEDVAL_ERR_AGENT_MODEL by then). Its detail comes from the model runtime, which the model steers: a graph that
 * indexes a table by a feature fails with the patient's value in the text. Only its code and fixed message leave.
 */
function isModelsError(error: unknown): error is Error & { code: ModelsErrorCode } {
  const code = (error as { code?: unknown } | null)?.code;
  return error instanceof Error && typeof code === 'string' && Object.hasOwn(MODELS_ERROR_MESSAGES, code);
}

/**
 * The wire form of an error the agent sends: a coded error as it is (for a data-file error and for a model error met
 * while scoring, its code and fixed message only); anything else as FEDVAL_ERR_AGENT_INTERNAL, without its message.
 */
export function agentWireError(error: unknown): WireError {
  if (error instanceof AgentError && SITE_ONLY_DETAIL.has(error.code)) return { code: error.code, message: AGENT_ERROR_MESSAGES[error.code] };
  if (isModelsError(error)) return { code: error.code, message: MODELS_ERROR_MESSAGES[error.code] };
  return toWireError(error, { code: 'FEDVAL_ERR_AGENT_INTERNAL', message: AGENT_ERROR_MESSAGES.FEDVAL_ERR_AGENT_INTERNAL });
}

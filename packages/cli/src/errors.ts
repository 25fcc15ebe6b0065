// errors.ts — every error the fedval CLI raises, each with a stable public code.
export const CLI_ERROR_MESSAGES = {
  FEDVAL_ERR_CLI_USAGE: 'invalid command-line arguments',
  FEDVAL_ERR_CLI_PROCESS: 'a fedval process failed',
  FEDVAL_ERR_CLI_TIMEOUT: 'timed out',
  FEDVAL_ERR_CLI_API: 'the coordinator refused a request',
  FEDVAL_ERR_CLI_ROUND_FAILED: 'the evaluation round failed',
  FEDVAL_ERR_CLI_MODEL: 'model bundle cannot be read',
  FEDVAL_ERR_CLI_KEYS_EXIST: 'refusing to overwrite an existing secret key',
  FEDVAL_ERR_CLI_KEYS_MISSING: 'key file missing or unreadable',
  FEDVAL_ERR_CLI_KEY_MISMATCH: 'the keys do not belong to this study',
  FEDVAL_ERR_CLI_RELEASE_POLICY: 'the release policy is not met; nothing was decrypted',
  FEDVAL_ERR_CLI_AUDIT: "the key holder's audit trail cannot be written or does not verify",
  FEDVAL_ERR_CLI_INTERNAL: 'internal error (a bug): please report it with the message',
  FEDVAL_ERR_CLI_RESPONSE: 'the coordinator answered with a document that breaks the REST contract',
  FEDVAL_ERR_CLI_ROSTER: 'the roster is missing, malformed, or not the one the privacy officer approved',
  FEDVAL_ERR_CLI_RELEASE_REFUSED: 'the coordinator refused the release; the key holder recorded release.refused',
  FEDVAL_ERR_CLI_SCORES: 'the development scores cannot be read',
  FEDVAL_ERR_CLI_REPORT_NOT_RELEASED: 'the round has no released result to report',
  FEDVAL_ERR_CLI_REPORT_UNSIGNED: "the released result carries no key holder's signed release statement",
  FEDVAL_ERR_CLI_REPORT_SIGNATURE: "the key holder's release signature does not verify, or is not by the pinned key holder key",
  FEDVAL_ERR_CLI_REPORT_MISMATCH: 'what the coordinator serves differs from what the key holder signed at release',
  FEDVAL_ERR_CLI_REPORT_FORMAT: 'unknown report format',
  FEDVAL_ERR_CLI_EVIDENCE_UNREADABLE: 'the evidence bundle is missing a file or its report.json is not an evidence manifest',
  FEDVAL_ERR_CLI_REPORT_UNPINNED: "no key holder key is pinned (--key-holder): a report of an unpinned release needs --insecure-unpinned-key-holder",
} as const;

export type CliErrorCode = keyof typeof CLI_ERROR_MESSAGES;

export class CliError extends Error {
  readonly code: CliErrorCode;
  constructor(code: CliErrorCode, detail?: string, options?: { cause?: unknown }) {
    super(detail ? `${CLI_ERROR_MESSAGES[code]}: ${detail}` : CLI_ERROR_MESSAGES[code], options);
    this.name = 'CliError';
    this.code = code;
  }
}

import { describe, expect, it } from 'vitest';
import { COORD_ERRORS, CoordinatorError, coordinatorWireError } from './errors.ts';

describe('coordinator error codes', () => {
  it('are exactly the documented public codes', () => {
    expect(Object.keys(COORD_ERRORS)).toEqual([
      'FEDVAL_ERR_COORD_CONFIG',
      'FEDVAL_ERR_COORD_CONFIG_UNREADABLE',
      'FEDVAL_ERR_COORD_TLS',
      'FEDVAL_ERR_COORD_STORAGE',
      'FEDVAL_ERR_COORD_STORAGE_VERSION',
      'FEDVAL_ERR_COORD_DATA_DIR_LOCKED',
      'FEDVAL_ERR_COORD_DATABASE_LOCKED',
      'FEDVAL_ERR_COORD_DATABASE_UNREACHABLE',
      'FEDVAL_ERR_COORD_DATABASE_AUTH',
      'FEDVAL_ERR_COORD_INTERNAL',
      'FEDVAL_ERR_COORD_AUDIT',
      'FEDVAL_ERR_COORD_CHECK',
      'FEDVAL_ERR_COORD_NOT_FOUND',
      'FEDVAL_ERR_COORD_INVALID_REQUEST',
      'FEDVAL_ERR_COORD_BODY_TOO_LARGE',
      'FEDVAL_ERR_COORD_UNSUPPORTED_MEDIA_TYPE',
      'FEDVAL_ERR_COORD_INVALID_MANIFEST',
      'FEDVAL_ERR_COORD_MODEL_FILES',
      'FEDVAL_ERR_COORD_UNSAFE_PATH',
      'FEDVAL_ERR_COORD_MODEL_NOT_FOUND',
      'FEDVAL_ERR_COORD_STUDY_NOT_FOUND',
      'FEDVAL_ERR_COORD_ROUND_NOT_FOUND',
      'FEDVAL_ERR_COORD_UNKNOWN_MODEL',
      'FEDVAL_ERR_COORD_UNKNOWN_SITE',
      'FEDVAL_ERR_COORD_RELEASE_MINIMUM',
      'FEDVAL_ERR_COORD_ROUND_IN_PROGRESS',
      'FEDVAL_ERR_COORD_NOT_ENCRYPTED',
      'FEDVAL_ERR_COORD_NO_PUBLIC_KEY',
      'FEDVAL_ERR_COORD_PUBLIC_KEY_EXISTS',
      'FEDVAL_ERR_COORD_NO_KEY_STATEMENT',
      'FEDVAL_ERR_COORD_KEY_STATEMENT_REPEATED',
      'FEDVAL_ERR_COORD_NOT_AGGREGATED',
      'FEDVAL_ERR_COORD_ALREADY_RELEASED',
      'FEDVAL_ERR_COORD_RELEASE_POLICY',
      'FEDVAL_ERR_COORD_UNAUTHENTICATED',
      'FEDVAL_ERR_COORD_FORBIDDEN',
      'FEDVAL_ERR_COORD_RATE_LIMITED',
      'FEDVAL_ERR_COORD_SOCKETS_BUSY',
      'FEDVAL_ERR_COORD_ENROLLMENT_REFUSED',
      'FEDVAL_ERR_COORD_ENROLLMENT_UNAVAILABLE',
      'FEDVAL_ERR_COORD_UNAUTHORIZED',
      'FEDVAL_ERR_COORD_CLIENT_CERTIFICATE',
      'FEDVAL_ERR_COORD_HELLO_REQUIRED',
      'FEDVAL_ERR_COORD_AUTH_TIMEOUT',
      'FEDVAL_ERR_COORD_ALREADY_AUTHENTICATED',
      'FEDVAL_ERR_COORD_TEXT_FRAME',
      'FEDVAL_ERR_COORD_MESSAGE_TOO_LARGE',
      'FEDVAL_ERR_COORD_PREAUTH_MESSAGE_TOO_LARGE',
      'FEDVAL_ERR_COORD_UNEXPECTED_MESSAGE',
      'FEDVAL_ERR_COORD_TOO_MANY_INVALID',
      'FEDVAL_ERR_COORD_REPLACED',
      'FEDVAL_ERR_COORD_HEARTBEAT_TIMEOUT',
      'FEDVAL_ERR_COORD_SHUTTING_DOWN',
      'FEDVAL_ERR_COORD_SITE_RATE_LIMITED',
      'FEDVAL_ERR_COORD_ROUND_NOT_OPEN',
      'FEDVAL_ERR_COORD_DUPLICATE_CONTRIBUTION',
      'FEDVAL_ERR_COORD_INVALID_CONTRIBUTION',
      'FEDVAL_ERR_COORD_CONTRIBUTION_HASH',
      'FEDVAL_ERR_COORD_CONTRIBUTION_OVERFLOW',
      'FEDVAL_ERR_COORD_ROUND_DEADLINE',
      'FEDVAL_ERR_COORD_ROUND_CLOSED',
      'FEDVAL_ERR_COORD_FINALIZE',
      'FEDVAL_ERR_COORD_RESULT_SIGNATURE',
      'FEDVAL_ERR_COORD_REPLAYED',
      'FEDVAL_ERR_COORD_SECAGG_PHASE',
      'FEDVAL_ERR_COORD_SECAGG_INVALID',
      'FEDVAL_ERR_COORD_SITE_DROPPED',
      'FEDVAL_ERR_COORD_SECAGG_THRESHOLD',
      'FEDVAL_ERR_COORD_SECAGG_TIMEOUT',
      'FEDVAL_ERR_COORD_USAGE',
      'FEDVAL_ERR_COORD_CONSOLE_LOGIN_REFUSED',
      'FEDVAL_ERR_COORD_CONSOLE_CROSS_ORIGIN',
      'FEDVAL_ERR_COORD_CONSOLE_NOT_RELEASED',
      'FEDVAL_ERR_COORD_CONSOLE_REPORT_MISMATCH',
      'FEDVAL_ERR_COORD_CONSOLE_SESSIONS_FULL',
    ]);
  });

  it('each have a message and an HTTP status, and carry them with the detail and cause', () => {
    for (const [code, [message, status]] of Object.entries(COORD_ERRORS)) {
      expect(code).toMatch(/^FEDVAL_ERR_COORD_[A-Z0-9_]+$/);
      expect(message.length).toBeGreaterThan(0);
      expect(status).toBeGreaterThanOrEqual(400);
      expect(status).toBeLessThan(600);
    }
    const cause = new Error('disk full');
    const error = new CoordinatorError('FEDVAL_ERR_COORD_STUDY_NOT_FOUND', 'abc', { cause });
    expect(error).toBeInstanceOf(Error);
    expect(error.code).toBe('FEDVAL_ERR_COORD_STUDY_NOT_FOUND');
    expect(error.statusCode).toBe(404);
    expect(error.message).toBe('no such study: abc');
    expect(error.cause).toBe(cause);
  });

  it('sends an uncoded error as FEDVAL_ERR_COORD_INTERNAL without its message, and a coded one as it is', () => {
    const secret = 'SELECT * FROM studies WHERE token_sha256 = 9f86d081884c7d65';
    expect(coordinatorWireError(new TypeError(secret))).toEqual({ code: 'FEDVAL_ERR_COORD_INTERNAL', message: 'internal coordinator error' });
    expect(coordinatorWireError(Object.assign(new Error(secret), { code: 'SQLITE_CONSTRAINT' }))).toEqual({ code: 'FEDVAL_ERR_COORD_INTERNAL', message: 'internal coordinator error' });
    expect(coordinatorWireError(new CoordinatorError('FEDVAL_ERR_COORD_ROUND_NOT_OPEN', 'round r1'))).toEqual({ code: 'FEDVAL_ERR_COORD_ROUND_NOT_OPEN', message: 'the round is not open for this site: round r1' });
  });
});

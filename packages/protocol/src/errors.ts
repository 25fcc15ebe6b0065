// errors.ts — every error @fedval/protocol throws, each with a stable public code.
export const PROTOCOL_ERROR_MESSAGES = {
  FEDVAL_ERR_PROTO_MESSAGE_TOO_LARGE: 'message exceeds the size limit',
  FEDVAL_ERR_PROTO_MALFORMED: 'message is not a valid msgpack document',
  FEDVAL_ERR_PROTO_VERSION: 'incompatible protocol version',
  FEDVAL_ERR_PROTO_INVALID_MESSAGE: 'message does not match its schema',
  FEDVAL_ERR_PROTO_UNKNOWN_TYPE: 'unknown message type',
  FEDVAL_ERR_PROTO_INTERNAL: 'internal error',
} as const;

export type ProtocolErrorCode = keyof typeof PROTOCOL_ERROR_MESSAGES;

export class ProtocolError extends Error {
  readonly code: ProtocolErrorCode;
  constructor(code: ProtocolErrorCode, detail?: string, options?: { cause?: unknown }) {
    super(detail ? `${PROTOCOL_ERROR_MESSAGES[code]}: ${detail}` : PROTOCOL_ERROR_MESSAGES[code], options);
    this.name = 'ProtocolError';
    this.code = code;
  }
}

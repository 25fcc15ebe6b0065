// codec.ts — the only place msgpackr is used: encode and decode envelopes with limits and validation.
import { randomUUID } from 'node:crypto';
import { Packr } from 'msgpackr';
import { PROTOCOL_ERROR_MESSAGES, ProtocolError } from './errors.ts';
import { DEFAULT_PROTOCOL_LIMITS } from './limits.ts';
import type { ProtocolLimits } from './limits.ts';
import { MESSAGE_TYPES, PROTOCOL_VERSION, messageSchema } from './messages.ts';
import type { ContentOf, Message, MessageType, WireError } from './messages.ts';

// moreTypes keeps typed arrays intact; records and structured clones are off so a peer cannot
// define record shapes or object graphs in the stream.
const packr = new Packr({ moreTypes: true, useRecords: false, structuredClone: false, mapsAsObjects: true });

export interface DecodeOptions {
  /** Largest accepted message in bytes, checked before unpacking. Default 64 MiB. */
  maxMessageBytes?: number;
}

/** Validates and encodes one message into one binary WebSocket frame. */
export function encodeMessage(message: Message): Uint8Array {
  const checked = validate(message);
  return packr.pack(checked);
}

/** Checks size, unpacks, checks version and schema; returns a typed message or throws a ProtocolError. */
export function decodeMessage(data: Uint8Array, options: DecodeOptions = {}): Message {
  const max = options.maxMessageBytes ?? DEFAULT_PROTOCOL_LIMITS.maxMessageBytes;
  if (data.byteLength > max) {
    throw new ProtocolError('FEDVAL_ERR_PROTO_MESSAGE_TOO_LARGE', `${data.byteLength} bytes > ${max} bytes`);
  }
  let raw: unknown;
  try {
    raw = packr.unpack(data);
  } catch (cause) {
    throw new ProtocolError('FEDVAL_ERR_PROTO_MALFORMED', undefined, { cause });
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ProtocolError('FEDVAL_ERR_PROTO_MALFORMED', 'not an envelope object');
  }
  const envelope: { v?: unknown; type?: unknown } = raw;
  if (envelope.v !== PROTOCOL_VERSION) {
    const seen = typeof envelope.v === 'number' ? String(envelope.v) : 'none';
    throw new ProtocolError('FEDVAL_ERR_PROTO_VERSION', `peer speaks ${seen}, this side speaks ${PROTOCOL_VERSION}`);
  }
  if (typeof envelope.type !== 'string' || !(MESSAGE_TYPES as readonly string[]).includes(envelope.type)) {
    throw new ProtocolError('FEDVAL_ERR_PROTO_UNKNOWN_TYPE');
  }
  return validate(raw);
}

function validate(raw: unknown): Message {
  const parsed = messageSchema.safeParse(raw);
  if (!parsed.success) {
    // Paths and rule messages only: a value from the message is never echoed.
    const problems = parsed.error.issues.slice(0, 10).map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.code}`);
    throw new ProtocolError('FEDVAL_ERR_PROTO_INVALID_MESSAGE', problems.join('; '));
  }
  return parsed.data;
}

/** Builds a message of the given type with a fresh id. */
export function createMessage<T extends Exclude<MessageType, 'error'>>(
  type: T,
  content: ContentOf<T>,
  replyTo?: string,
): Message {
  const base = { v: PROTOCOL_VERSION, id: randomUUID(), sentAt: Date.now(), type, content };
  return (replyTo ? { ...base, replyTo } : base) as Message;
}

/** Builds an error message, as a reply when the request is known. */
export function createErrorMessage(error: WireError, replyTo?: string): Message {
  const base = { v: PROTOCOL_VERSION as typeof PROTOCOL_VERSION, id: randomUUID(), sentAt: Date.now(), type: "error" as const, error };
  return replyTo ? { ...base, replyTo } : base;
}

/** What an uncoded error is sent as unless the sender names its own internal code: a generic code, a generic message. */
export const INTERNAL_WIRE_ERROR: Readonly<WireError> = Object.freeze({
  code: 'FEDVAL_ERR_PROTO_INTERNAL',
  message: PROTOCOL_ERROR_MESSAGES.FEDVAL_ERR_PROTO_INTERNAL,
});

const FEDVAL_CODE = /^FEDVAL_ERR_[A-Z0-9_]+$/;
/** Longest message sent with a code, in characters. */
const MAX_WIRE_MESSAGE_LENGTH = 512;

/** Whether an error is one of fedval's coded errors (an Error with a FEDVAL_ERR_… code), whose message is written to be sent. */
export function isCodedError(error: unknown): error is Error & { code: string } {
  if (!(error instanceof Error)) return false;
  const code: unknown = (error as Error & { code?: unknown }).code;
  return typeof code === 'string' && FEDVAL_CODE.test(code);
}

/**
 * The short, coded form of an error that may cross the wire: code and message only. An uncoded error (a plain Error, a
 * bug, a library's own error) becomes `uncoded` — by default {@link INTERNAL_WIRE_ERROR} — and its message is never sent:
 * it may hold a path, a value or anything else that must not leave the process.
 */
export function toWireError(error: unknown, uncoded: Readonly<WireError> = INTERNAL_WIRE_ERROR): WireError {
  if (!isCodedError(error)) return { code: uncoded.code, message: uncoded.message };
  return { code: error.code, message: error.message.slice(0, MAX_WIRE_MESSAGE_LENGTH) };
}

export type { ProtocolLimits };

// @fedval/protocol — the wire contract shared by the coordinator, the site agent and the CLI.
export { PROTOCOL_VERSION, MESSAGE_TYPES, messageSchema, taskContentSchema, contributionSchema, scorerSchema } from './messages.ts';
export type {
  Message, MessageType, MessageOf, ContentOf, WireError, Scorer, Contribution, ContributionRequest, TaskContent, ChallengeContent, ResultSignature,
} from './messages.ts';
export { encodeMessage, decodeMessage, createMessage, createErrorMessage, toWireError, isCodedError, INTERNAL_WIRE_ERROR } from './codec.ts';
export type { DecodeOptions } from './codec.ts';
export { contributionDigest } from './contribution-digest.ts';
export type { ContributionDigest } from './contribution-digest.ts';
export { DEFAULT_PROTOCOL_LIMITS } from './limits.ts';
export type { ProtocolLimits } from './limits.ts';
export { ProtocolError, PROTOCOL_ERROR_MESSAGES } from './errors.ts';
export type { ProtocolErrorCode } from './errors.ts';

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
export {
  MAX_BUNDLE_FILES, MAX_STUDY_SITES, MAX_DEADLINE_SECONDS, MAX_AUDIT_PAGE, ROUND_STATES, ROUND_SITE_STATUSES, RELEASE_STATES,
  modelIdSchema, siteIdSchema, apiErrorSchema, modelParamsSchema, studyParamsSchema, roundParamsSchema, siteParamsSchema,
  modelUploadRequestSchema, modelRegisteredResponseSchema, modelViewSchema, modelListResponseSchema,
  encryptionSummarySchema, studyCreateRequestSchema, studyViewSchema, studyListResponseSchema, studyEncryptionResponseSchema,
  publicKeyRequestSchema, publicKeyRegisteredResponseSchema, keyStatementRequestSchema, keyStatementRegisteredResponseSchema,
  roundStateSchema, roundSiteStatusSchema, roundStartedResponseSchema, roundResultSchema, roundViewSchema, roundListResponseSchema,
  roundAggregateResponseSchema, contributionRecordSchema, roundContributionSchema, roundContributionsResponseSchema, releaseRequestSchema, releaseResponseSchema, releasedPrivacySchema, aggregationSummarySchema, secaggTranscriptSchema,
  siteViewSchema, siteListResponseSchema, healthResponseSchema, enrollmentTokenResponseSchema, enrollRequestSchema, enrollResponseSchema,
  auditPageQuerySchema, auditPageResponseSchema, auditVerificationResponseSchema, openApiDocumentSchema,
} from './rest-api.ts';
export type {
  ApiError, ModelUploadRequest, ModelRegisteredResponse, ModelView, StudyCreateRequest, StudyView, StudyEncryptionResponse,
  PublicKeyRequest, RoundStartedResponse, RoundResultView, RoundView, RoundAggregateResponse, ContributionRecord, RoundContribution, RoundContributionsResponse, ReleaseRequest, ReleasedPrivacy, SiteView, AggregationSummary, SecaggTranscript,
  EnrollmentTokenResponse, EnrollRequest, AuditPageResponse, AuditVerificationResponse,
} from './rest-api.ts';

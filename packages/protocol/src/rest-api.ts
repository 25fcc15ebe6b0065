// rest-api.ts — the coordinator's REST contract: every request (body, params, query) and response, snake_case, one schema each.
import { releaseSummarySchema, privacySpecInputSchema, resolvedPrivacySpecSchema } from '@fedval/dp';
import { bfvEncryptionSummarySchema, bfvPlanSchema } from '@fedval/he';
import { metricSpecInputSchema, metricSpecViewSchema, metricsReportSchema } from '@fedval/metrics';
import { auditEntrySchema, auditHeadSchema, keyAdvertisementSchema, privacyAttestationSchema, resultAttestationSchema, shareRevealSchema, signedReleaseStatementSchema, signedStudyKeyStatementSchema, survivorSignatureSchema } from '@fedval/trust';
import { plainText } from '@fedval/schema';
import { z } from 'zod';

/** Most files a model bundle may hold besides manifest.json. */
export const MAX_BUNDLE_FILES = 255;
/** Most sites one study may name. */
export const MAX_STUDY_SITES = 1024;
/** Longest round deadline a study or the coordinator's configuration may set, in seconds (about 23 days). */
export const MAX_DEADLINE_SECONDS = 2_000_000;
/** Largest page of `GET /api/audit`, in entries. */
export const MAX_AUDIT_PAGE = 1000;

const isoTime = z.iso.datetime().describe('ISO 8601 UTC time');
const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 lowercase hex');
const errorCode = z.string().regex(/^FEDVAL_ERR_[A-Z0-9_]+$/).max(128);

/** A model id: the SHA-256 (hex) of the bundle's manifest.json bytes. */
export const modelIdSchema = z.string().regex(/^[0-9a-f]{64}$/, 'expected a model id (64 lowercase hex)');
/** A site id as the coordinator's configuration names it. */
export const siteIdSchema = z.string().min(1).max(128).regex(/^[A-Za-z0-9._:-]+$/, 'letters, digits, . _ : - only');

// ---- errors ---------------------------------------------------------------------------------------------------------

/** Every refused request: a stable code and a short message (never a stack, never data). */
export const apiErrorSchema = z.strictObject({ error: z.strictObject({ code: errorCode, message: z.string() }) });
export type ApiError = z.infer<typeof apiErrorSchema>;

// ---- path parameters ------------------------------------------------------------------------------------------------

export const modelParamsSchema = z.strictObject({ id: modelIdSchema });
export const studyParamsSchema = z.strictObject({ id: z.uuid() });
export const roundParamsSchema = z.strictObject({ id: z.uuid() });
export const siteParamsSchema = z.strictObject({ id: siteIdSchema });

// ---- models ---------------------------------------------------------------------------------------------------------

/** `POST /api/models`: a model bundle, every file base64; the coordinator checks each against the manifest's SHA-256. */
export const modelUploadRequestSchema = z.strictObject({
  /** The manifest.json bytes as text; its SHA-256 becomes the model id. */
  manifest_json: z.string().min(2),
  files: z.array(z.strictObject({ path: plainText(z.string().min(1).max(512)), data_base64: z.string() })).max(MAX_BUNDLE_FILES + 1),
});
export type ModelUploadRequest = z.infer<typeof modelUploadRequestSchema>;

/** 201 when registered now, 200 when the same manifest was registered before. */
export const modelRegisteredResponseSchema = z.strictObject({ model_id: modelIdSchema, name: z.string(), version: z.string() });
export type ModelRegisteredResponse = z.infer<typeof modelRegisteredResponseSchema>;

export const modelViewSchema = z.strictObject({
  model_id: modelIdSchema,
  name: z.string(),
  version: z.string(),
  format: z.string(),
  files: z.array(z.strictObject({ path: z.string(), sha256: sha256Hex, bytes: z.number().int().nonnegative() })),
  created_at: isoTime,
  /** SHA-256 fingerprint of the sponsor key whose signature the manifest carries (null: unsigned); the model id binds that manifest. */
  signer_fingerprint: sha256Hex.nullable().optional(),
});
export type ModelView = z.infer<typeof modelViewSchema>;
export const modelListResponseSchema = z.array(modelViewSchema);

// ---- studies --------------------------------------------------------------------------------------------------------



/** What the BFV plan of a study means for people (@fedval/he bfvEncryptionSummary). */
export const encryptionSummarySchema = bfvEncryptionSummarySchema;

/** `POST /api/studies`: give exactly one of `model_id` (a registered bundle) and `score_column` (sites read scores from a column). */
export const studyCreateRequestSchema = z
  .strictObject({
    /** Free text without control characters (U+0000 to U+001F, U+007F), as every free-text field of this contract. */
    name: plainText(z.string().min(1).max(256)),
    model_id: modelIdSchema.optional(),
    score_column: plainText(z.string().min(1).max(256)).optional(),
    metric_spec: metricSpecInputSchema,
    sites: z
      .array(plainText(z.string().min(1).max(128)))
      .min(1)
      .max(MAX_STUDY_SITES)
      .refine((sites) => new Set(sites).size === sites.length, 'site ids must be unique'),
    /** Contributions that close a round early; default: every site. */
    quorum: z.number().int().positive().optional(),
    /** Round deadline; default: the coordinator's `limits.round_deadline_seconds`. */
    deadline_seconds: z.number().int().positive().max(MAX_DEADLINE_SECONDS).optional(),
    /** 'bfv' (default): sites encrypt; 'plaintext' is a test seam. */
    contribution: z.enum(['bfv', 'plaintext']).optional(),
    release: z.strictObject({ min_sites: z.number().int().positive().max(MAX_STUDY_SITES) }).optional(),
    max_patients_per_site: z.number().int().positive().max(1_000_000_000).optional(),
    /** Differential privacy of every release; absent: exact releases. */
    privacy: privacySpecInputSchema.optional(),
    /**
     * Secure aggregation of bfv rounds (Bonawitz et al. double masking). Default: on for bfv studies of at least 3
     * sites, threshold from @fedval/secagg's default, at least release.min_sites. `false` turns it off.
     */
    secure_aggregation: z.union([z.literal(false), z.strictObject({ threshold: z.number().int().min(2).max(MAX_STUDY_SITES).optional() })]).optional(),
  })
  .refine((body) => (body.model_id === undefined) !== (body.score_column === undefined), 'give exactly one of model_id and score_column')
  .refine((body) => body.quorum === undefined || body.quorum <= body.sites.length, { message: 'quorum cannot exceed the number of sites', path: ['quorum'] });
/** The body as a client writes it (snake_case documents, before the owners' schemas resolve them). */
export type StudyCreateRequest = z.input<typeof studyCreateRequestSchema>;

export const studyViewSchema = z.strictObject({
  study_id: z.uuid(),
  name: z.string(),
  model_id: modelIdSchema.nullable(),
  score_column: z.string().nullable(),
  metric_spec: metricSpecViewSchema,
  sites: z.array(z.string()),
  quorum: z.number().int().positive(),
  deadline_seconds: z.number().int().positive(),
  contribution: z.enum(['bfv', 'plaintext']),
  release: z.strictObject({ min_sites: z.number().int().positive() }),
  max_patients_per_site: z.number().int().positive(),
  /** Present for bfv studies. */
  encryption: encryptionSummarySchema.optional(),
  privacy: resolvedPrivacySpecSchema.nullable(),
  /** Secure aggregation of the study's rounds, or null when off. */
  secure_aggregation: z.strictObject({ scheme: z.literal('bonawitz-double-mask'), threshold: z.number().int().positive() }).nullable().optional(),
  public_key_registered: z.boolean(),
  created_at: isoTime,
});
export type StudyView = z.infer<typeof studyViewSchema>;
export const studyListResponseSchema = z.array(studyViewSchema);

/** `GET /api/studies/:id/encryption`: what the key holder needs to create the study's key pair. */
export const studyEncryptionResponseSchema = z.strictObject({ study_id: z.uuid(), plan: bfvPlanSchema, public_key_registered: z.boolean() });
export type StudyEncryptionResponse = z.infer<typeof studyEncryptionResponseSchema>;

/** `PUT /api/studies/:id/public-key`: the key holder's BFV public key (never a secret key). */
export const publicKeyRequestSchema = z.strictObject({
  public_key_base64: z.base64().min(16).max(64 * 1024 * 1024),
  /** The key holder's signed statement vouching for this key (@fedval/trust); forwarded in every bfv task. Sites refuse a key without one. */
  key_statement: signedStudyKeyStatementSchema.optional(),
});
export type PublicKeyRequest = z.infer<typeof publicKeyRequestSchema>;
export const publicKeyRegisteredResponseSchema = z.strictObject({ study_id: z.uuid(), public_key_registered: z.literal(true) });

/** `PUT /api/studies/:id/key-statement`: a newly signed statement for the registered key (after `fedval keys roster`). */
export const keyStatementRequestSchema = z.strictObject({ key_statement: signedStudyKeyStatementSchema });
export type KeyStatementRequest = z.infer<typeof keyStatementRequestSchema>;
export const keyStatementRegisteredResponseSchema = z.strictObject({ study_id: z.uuid(), key_statement_registered: z.literal(true) });

// ---- rounds ---------------------------------------------------------------------------------------------------------

export const ROUND_STATES = ['dispatched', 'collecting', 'aggregated', 'failed'] as const;
export const ROUND_SITE_STATUSES = ['pending', 'dispatched', 'accepted', 'refused', 'contributed', 'invalid'] as const;
export const RELEASE_STATES = ['none', 'awaiting_key_holder', 'released'] as const;
export const roundStateSchema = z.enum(ROUND_STATES);
export const roundSiteStatusSchema = z.enum(ROUND_SITE_STATUSES);

export const roundStartedResponseSchema = z.strictObject({ round_id: z.uuid(), study_id: z.uuid(), state: roundStateSchema });
export type RoundStartedResponse = z.infer<typeof roundStartedResponseSchema>;

/** What a contributing site reports it spent of its privacy budget (its signed attestation, @fedval/trust). */
const sitePrivacyReportSchema = privacyAttestationSchema;

/** Each contributing site's own report of the ε it spent, as the key holder releases it. */
const releasedSitePrivacySchema = z.strictObject({
  site_id: z.string(),
  /** This round's ε if the other sites' noise shares are honest, and what the site's own share alone gives (issue 12). */
  epsilon: z.number().nullable().optional(),
  own_share_epsilon: z.number().nullable().optional(),
  epsilon_spent: z.number().nullable(),
  epsilon_remaining: z.number().nullable(),
  epsilon_total: z.number().nullable(),
});

/**
 * The privacy block of a released result: the DP release summary (@fedval/dp) with the sites' own reports (key holder
 * releases), and the BFV encryption summary (@fedval/he); null when absent.
 */
/** How a round's contributions were aggregated under secure aggregation (Bonawitz et al., CCS 2017). */
export const aggregationSummarySchema = z.strictObject({
  scheme: z.literal('bonawitz-double-mask'),
  threshold: z.number().int().positive(),
  /** Sites that advertised keys and shared their mask secrets. */
  sites_masked: z.array(z.string()),
  /** Sites that shared their secrets but whose masked input never arrived. */
  dropped: z.array(z.string()),
  /** Dropped sites whose pairwise masks were reconstructed from the survivors' shares and removed. */
  recovered: z.array(z.string()),
});
export type AggregationSummary = z.infer<typeof aggregationSummarySchema>;

/** Strict: a member the key holder did not release is refused, never silently dropped before a digest is compared. */
export const releasedPrivacySchema = z.strictObject({
  dp: releaseSummarySchema.extend({
    sites: z.array(releasedSitePrivacySchema).optional(),
    /**
     * The random 32-byte salt (hex) of the key holder's commitment to `sites` (release statement `sitePrivacySha256`),
     * kept and stripped with `sites`: without it a reader who sees the signed statement cannot test guesses of them.
     */
    sites_salt: z.string().regex(/^[0-9a-f]{64}$/, { error: 'must be 32 bytes of lowercase hex' }).optional(),
  }).nullable().default(null),
  encryption: bfvEncryptionSummarySchema.nullable().default(null),
  /** Present when the round was securely aggregated. */
  aggregation: aggregationSummarySchema.optional(),
});
export type ReleasedPrivacy = z.output<typeof releasedPrivacySchema>;

/** A released result: metrics of the aggregate only, with the sites that contributed to it. */
export const roundResultSchema = z.strictObject({
  metrics: metricsReportSchema,
  contributions: z.number().int().nonnegative(),
  sites: z.array(z.string()),
  /** What differential privacy spent and added; per-site reports only for the privacy officer, auditor and admin. */
  privacy: releasedPrivacySchema.optional(),
  /**
   * The key holder's signed release statement (@fedval/trust): digests of the metrics and privacy released, the study
   * parameters, dataset commitments, audit heads, signer name, time and meaning. Reports verify it; absent for releases
   * made before it existed.
   */
  signed_release: signedReleaseStatementSchema.optional(),
});
export type RoundResultView = z.infer<typeof roundResultSchema>;

/** A round's states and counts, never a per-site statistic. */
export const roundViewSchema = z.strictObject({
  round_id: z.uuid(),
  study_id: z.uuid(),
  state: roundStateSchema,
  /** Why a failed round failed. */
  reason: z.string().optional(),
  created_at: isoTime,
  deadline_at: isoTime,
  closed_at: isoTime.optional(),
  sites: z.array(z.strictObject({ site_id: z.string(), status: roundSiteStatusSchema, code: errorCode.optional() })),
  contributions: z.number().int().nonnegative(),
  release: z.enum(RELEASE_STATES),
  result: roundResultSchema.optional(),
});
export type RoundView = z.infer<typeof roundViewSchema>;
export const roundListResponseSchema = z.array(roundViewSchema);

/** `GET /api/rounds/:id/aggregate`: the release certificate and the encrypted sum (never one site's ciphertext). */
export const roundAggregateResponseSchema = z.strictObject({
  round_id: z.uuid(),
  study_id: z.uuid(),
  state: roundStateSchema,
  closed_at: isoTime.nullable(),
  contributions: z.number().int().nonnegative(),
  contributing_sites: z.array(z.string()),
  sites: z.array(
    z.strictObject({ site_id: z.string(), status: roundSiteStatusSchema, code: errorCode.optional(), privacy: sitePrivacyReportSchema.optional() }),
  ),
  min_sites: z.number().int().positive(),
  metric_spec: metricSpecViewSchema,
  privacy: resolvedPrivacySpecSchema.nullable(),
  plan: bfvPlanSchema.nullable(),
  released: z.boolean(),
  ciphertexts_base64: z.array(z.base64()),
  /** The coordinator's audit trail head once it recorded this read: the key holder keeps it as an anchor. */
  coordinator_audit_head: auditHeadSchema,
});
export type RoundAggregateResponse = z.infer<typeof roundAggregateResponseSchema>;

/**
 * A site's contribution record exactly as it signed it (@fedval/trust resultSignaturePayload under the domain
 * `fedval/v1/result`): the key holder rebuilds the signed bytes from these fields and checks the signature against
 * the roster it pinned, never against anything the coordinator says about the site.
 */
export const contributionRecordSchema = z.strictObject({
  study_id: siteIdSchema,
  round_id: siteIdSchema,
  site_id: siteIdSchema,
  /** SHA-256 (hex) of the ciphertexts as sent, one after another (@fedval/protocol contributionDigest). */
  contribution_sha256: sha256Hex,
  /** 32 random bytes, base64. */
  nonce: z.string().length(44),
  /** When the site signed and sent it, epoch ms. */
  sent_at: z.number().int().nonnegative(),
  /** SHA-256 (hex) of the canonical JSON of the site's attestation, when it sent one. */
  attestation_sha256: sha256Hex.nullable(),
  /** SHA-256 (hex) of the BFV public key the site signed it encrypted under (absent from records before the key statement). */
  public_key_sha256: sha256Hex.nullable().optional(),
  /** SHA-256 (hex) of the canonical BFV plan the site signed it encrypted under. */
  plan_sha256: sha256Hex.nullable().optional(),
  /** Ed25519 signature (64 bytes), base64. */
  signature_base64: z.string().length(88),
});
export type ContributionRecord = z.infer<typeof contributionRecordSchema>;

/** One site's contribution as the coordinator received and kept it: its ciphertexts and its signed record. */
export const roundContributionSchema = z.strictObject({
  site_id: siteIdSchema,
  ciphertexts_base64: z.array(z.base64()).min(1),
  /** Null for a site authenticated by a pre-shared token: it has no key, so its contribution can never be verified. */
  record: contributionRecordSchema.nullable(),
  /** What the site attested with it (privacy spent, dataset commitment, audit head): covered by `record.attestation_sha256`. */
  attestation: resultAttestationSchema.nullable(),
  /** The Ed25519 public key (raw, base64) the coordinator had enrolled for the site; the key holder trusts only its roster. */
  public_key: z.string().length(44).nullable(),
  received_at: isoTime,
});
export type RoundContribution = z.infer<typeof roundContributionSchema>;

/** What the coordinator relayed in a securely aggregated round: every record signed by a site, nothing of its own. */
export const secaggTranscriptSchema = z.strictObject({
  threshold: z.number().int().min(2),
  advertisements: z.array(keyAdvertisementSchema).max(MAX_STUDY_SITES),
  /** Sites whose sealed shares were relayed (U2). */
  shared: z.array(siteIdSchema).max(MAX_STUDY_SITES),
  survivors: z.array(siteIdSchema).max(MAX_STUDY_SITES),
  consistency: z.array(survivorSignatureSchema).max(MAX_STUDY_SITES),
  reveals: z.array(shareRevealSchema).max(MAX_STUDY_SITES),
});
export type SecaggTranscript = z.infer<typeof secaggTranscriptSchema>;

/**
 * `GET /api/rounds/:id/contributions`: every contribution of a closed bfv round with its signed record, for the key
 * holder to verify and add itself. The round's times, policy and plan come with them; none of it is trusted beyond
 * narrowing what the key holder accepts.
 */
export const roundContributionsResponseSchema = z.strictObject({
  round_id: z.uuid(),
  study_id: z.uuid(),
  state: roundStateSchema,
  created_at: isoTime,
  deadline_at: isoTime,
  closed_at: isoTime.nullable(),
  min_sites: z.number().int().positive(),
  metric_spec: metricSpecViewSchema,
  privacy: resolvedPrivacySpecSchema.nullable(),
  plan: bfvPlanSchema,
  released: z.boolean(),
  contributions: z.array(roundContributionSchema),
  /** The signed secure-aggregation transcript the coordinator relayed (null: the round was not securely aggregated). */
  secure_aggregation: secaggTranscriptSchema.nullable().optional(),
  /** The coordinator's audit trail head once it recorded this read: the key holder keeps it as an anchor. */
  coordinator_audit_head: auditHeadSchema,
});
export type RoundContributionsResponse = z.infer<typeof roundContributionsResponseSchema>;

/** `POST /api/rounds/:id/release`: the metrics the key holder decrypted and finalized. */
export const releaseRequestSchema = z.strictObject({
  metrics: metricsReportSchema,
  contributions: z.number().int().positive(),
  /**
   * The sites whose verified contributions the key holder added and decrypted (it may have refused others, e.g. an
   * unsigned one); each must have contributed to the round, as many as `contributions`. Absent: every contributing site.
   */
  sites: z.array(siteIdSchema).max(MAX_STUDY_SITES).optional(),
  privacy: releasedPrivacySchema.optional(),
  /** The key holder's audit trail head: the coordinator records it with the release, an anchor of the key holder's trail. */
  key_holder_audit_head: auditHeadSchema.optional(),
  /** The key holder's signed release statement over what it releases (@fedval/trust); stored and served with the result. */
  signed_release: signedReleaseStatementSchema.optional(),
});
export type ReleaseRequest = z.infer<typeof releaseRequestSchema>;
export const releaseResponseSchema = z.strictObject({ round_id: z.uuid(), release: z.literal('released') });

// ---- sites and enrollment -------------------------------------------------------------------------------------------

export const siteViewSchema = z.strictObject({
  site_id: z.string(),
  connected: z.boolean(),
  last_seen: isoTime.nullable(),
  /** SHA-256 (hex) of the enrolled Ed25519 key, to compare out of band with the one the site read out; null: not enrolled. */
  key_fingerprint: sha256Hex.nullable(),
});
export type SiteView = z.infer<typeof siteViewSchema>;
export const siteListResponseSchema = z.array(siteViewSchema);

export const healthResponseSchema = z.strictObject({ status: z.literal('ok') });

export const enrollmentTokenResponseSchema = z.strictObject({ site_id: z.string(), enrollment_token: z.string(), expires_at: isoTime });
export type EnrollmentTokenResponse = z.infer<typeof enrollmentTokenResponseSchema>;

/** `POST /api/enroll`: a site redeems its one-time token for its Ed25519 key, proving possession. */
export const enrollRequestSchema = z.strictObject({
  site_id: siteIdSchema,
  enrollment_token: plainText(z.string().min(16).max(256)),
  /** Raw 32-byte Ed25519 public key, base64 (44 characters). */
  public_key: z.string().length(44),
  /** Proof of possession: the Ed25519 signature (base64, 64 bytes) of @fedval/trust enrollmentSignaturePayload under the new key. */
  signature: z.string().length(88),
});
export type EnrollRequest = z.infer<typeof enrollRequestSchema>;
export const enrollResponseSchema = z.strictObject({ site_id: z.string(), fingerprint: sha256Hex, enrolled_at: isoTime });

// ---- audit ----------------------------------------------------------------------------------------------------------

export const auditPageQuerySchema = z.strictObject({
  after_seq: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).default(0),
  limit: z.coerce.number().int().min(1).max(MAX_AUDIT_PAGE).default(100),
});


export const auditPageResponseSchema = z.strictObject({
  entries: z.array(auditEntrySchema),
  head: auditHeadSchema,
  intact: z.boolean(),
  next_after_seq: z.number().int().nonnegative().nullable(),
});
export type AuditPageResponse = z.infer<typeof auditPageResponseSchema>;

/** `GET /api/audit/verify`: the hash chain intact, or where it first breaks. */
export const auditVerificationResponseSchema = z.discriminatedUnion('ok', [
  z.strictObject({ ok: z.literal(true), entries: z.number().int().nonnegative(), head: sha256Hex }),
  z.strictObject({
    ok: z.literal(false),
    line: z.number().int().positive(),
    seq: z.number().int().optional(),
    reason: z.enum(['malformed', 'hash_mismatch', 'bad_sequence', 'broken_link', 'torn_tail', 'anchor_mismatch']),
    detail: z.string(),
    intact_entries: z.number().int().nonnegative(),
  }),
]);
export type AuditVerificationResponse = z.infer<typeof auditVerificationResponseSchema>;

// ---- documentation --------------------------------------------------------------------------------------------------

/** `GET /api/openapi.json`: this contract as an OpenAPI 3.1 document. */
export const openApiDocumentSchema = z.looseObject({
  openapi: z.string(),
  info: z.looseObject({ title: z.string(), version: z.string() }),
  paths: z.record(z.string(), z.unknown()),
});

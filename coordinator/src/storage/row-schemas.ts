// row-schemas.ts — the coordinator's SQLite rows as schemas: each JSON column parsed with the schema of the package that owns its document.
import { resolvedPrivacySpecSchema } from '@fedval/dp';
import { bfvPlanSchema } from '@fedval/he';
import { metricSpecSchema } from '@fedval/metrics';
import { contributionRecordSchema, secaggTranscriptSchema } from '@fedval/protocol';
import { keyAdvertisementSchema, privacyAttestationSchema, resultAttestationSchema, shareRevealSchema, signedStudyKeyStatementSchema, survivorSignatureSchema } from '@fedval/trust';
import { z } from 'zod';
import { ROUND_SITE_STATUSES, ROUND_STATES } from './store.ts';
import type { ModelRecord, RoundRecord, RoundSiteRecord, SecaggEvent, StoredContribution, StudyRecord } from './store.ts';

/** A TEXT column holding JSON, parsed, then checked with `schema`. */
function jsonColumn<S extends z.ZodType>(schema: S) {
  return z
    .string()
    .transform((text, ctx): unknown => {
      try {
        return JSON.parse(text);
      } catch {
        ctx.addIssue({ code: 'custom', message: 'must hold JSON' });
        return z.NEVER;
      }
    })
    .pipe(schema);
}

const integer = z.number().int();
const nullableText = z.string().nullable();

export const modelRowSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    version: z.string(),
    format: z.string(),
    manifest_json: z.string(),
    files_json: jsonColumn(z.array(z.strictObject({ path: z.string(), sha256: z.string(), bytes: integer }))),
    created_at: integer,
  })
  .transform(
    (row): ModelRecord => ({
      id: row.id,
      name: row.name,
      version: row.version,
      format: row.format,
      manifestJson: row.manifest_json,
      files: row.files_json,
      createdAt: row.created_at,
    }),
  );

const protectionSchema = z.strictObject({
  minSites: integer,
  maxPatientsPerSite: integer,
  encryption: bfvPlanSchema.nullable(),
  privacy: resolvedPrivacySpecSchema.nullable(),
  secureAggregation: z.strictObject({ threshold: integer }).nullable().optional(),
});

export const studyRowSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    model_id: nullableText,
    score_column: nullableText,
    metric_spec_json: jsonColumn(metricSpecSchema),
    sites_json: jsonColumn(z.array(z.string())),
    quorum: integer,
    deadline_seconds: integer,
    contribution: z.enum(['plaintext', 'bfv']),
    protection_json: jsonColumn(protectionSchema),
    public_key: z.instanceof(Uint8Array).nullable(),
    key_statement_json: jsonColumn(signedStudyKeyStatementSchema).nullable(),
    created_at: integer,
  })
  .transform(
    (row): StudyRecord => ({
      id: row.id,
      name: row.name,
      modelId: row.model_id,
      scoreColumn: row.score_column,
      metricSpec: row.metric_spec_json,
      sites: row.sites_json,
      quorum: row.quorum,
      deadlineSeconds: row.deadline_seconds,
      contribution: row.contribution,
      protection: row.protection_json,
      publicKey: row.public_key === null ? null : new Uint8Array(row.public_key),
      keyStatement: row.key_statement_json,
      createdAt: row.created_at,
    }),
  );

export const roundSiteRowSchema = z
  .object({
    site_id: z.string(),
    status: z.enum(ROUND_SITE_STATUSES),
    code: nullableText,
    contribution_bytes: integer.nullable(),
    contribution_sha256: nullableText,
    /** The privacy figures the site reported with its result (names from its attestation's privacy). */
    privacy_json: jsonColumn(privacyAttestationSchema).nullable(),
    updated_at: integer,
  })
  .transform(
    (site): RoundSiteRecord => ({
      siteId: site.site_id,
      status: site.status,
      code: site.code,
      contributionBytes: site.contribution_bytes,
      contributionSha256: site.contribution_sha256,
      ...(site.privacy_json !== null ? { privacy: site.privacy_json } : {}),
      updatedAt: site.updated_at,
    }),
  );

/** A released result: the finalized metrics of the aggregate (the key holder's or the coordinator's finalization). */
const roundResultSchema = z.object({
  // TODO(schemas): metricsReportSchema (@fedval/metrics) once the release route's body parses metrics with it and RoundResult.metrics is MetricsReport.
  metrics: z.unknown(),
  contributions: integer,
  sites: z.array(z.string()),
  privacy: z.unknown().optional(),
  signed_release: z.unknown().optional(),
});

export const roundRowSchema = z
  .object({
    id: z.string(),
    study_id: z.string(),
    state: z.enum(ROUND_STATES),
    reason: nullableText,
    created_at: integer,
    deadline_at: integer,
    closed_at: integer.nullable(),
    contributions: integer,
    result_json: jsonColumn(roundResultSchema).nullable(),
  })
  .transform(
    (row): Omit<RoundRecord, 'sites'> => ({
      id: row.id,
      studyId: row.study_id,
      state: row.state,
      reason: row.reason,
      createdAt: row.created_at,
      deadlineAt: row.deadline_at,
      closedAt: row.closed_at,
      contributions: row.contributions,
      result: row.result_json,
    }),
  );

const blob = z.instanceof(Uint8Array).nullable();
/** The exact aggregate of a plaintext round (Float64 bytes). */
export const aggregateRowSchema = z.object({ aggregate: blob });
/** The encrypted aggregate of a bfv round (length-prefixed ciphertext frames). */
export const encryptedAggregateRowSchema = z.object({ encrypted_aggregate: blob });

/** The secure-aggregation transcript of a round (@fedval/protocol secaggTranscriptSchema), or null. */
export const secaggRowSchema = z.object({ secagg_json: jsonColumn(secaggTranscriptSchema).nullable() });

/** The framed ciphertexts of a kept contribution, to compare with the same site's contribution sent again. */
export const contributionFramesRowSchema = z.object({ ciphertexts: z.instanceof(Uint8Array) });

/** A kept contribution; its ciphertexts stay framed bytes for the store to split. */
export const contributionRowSchema = z
  .object({
    round_id: z.string(),
    site_id: z.string(),
    ciphertexts: z.instanceof(Uint8Array),
    record_json: jsonColumn(contributionRecordSchema).nullable(),
    attestation_json: jsonColumn(resultAttestationSchema).nullable(),
    public_key: nullableText,
    received_at: integer,
  })
  .transform(
    (row): Omit<StoredContribution, 'ciphertexts'> & { frames: Uint8Array } => ({
      roundId: row.round_id,
      siteId: row.site_id,
      frames: row.ciphertexts,
      record: row.record_json,
      attestation: row.attestation_json,
      publicKey: row.public_key,
      receivedAt: row.received_at,
    }),
  );

/** How many contributions a round keeps, and how many of them are signed. */
export const contributionCountRowSchema = z.object({ contributions: integer, signed: integer });

export const siteSeenRowSchema = z.object({ id: z.string(), last_seen: integer });
export const siteKeyRowSchema = z.object({ site_id: z.string(), public_key: z.string() });

const base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/);
/** One step of a round's secure-aggregation transcript (`event_json`, written by row-values.ts secaggEventValues). */
export const secaggEventRowSchema = z
  .object({
    event_json: jsonColumn(
      z.discriminatedUnion('kind', [
        z.strictObject({ kind: z.literal('advertisement'), site: z.string(), advertisement: keyAdvertisementSchema }),
        z.strictObject({ kind: z.literal('shares'), site: z.string(), shares: z.array(z.strictObject({ to: z.string(), sealed_base64: base64 })) }),
        z.strictObject({ kind: z.literal('input'), site: z.string() }),
        z.strictObject({ kind: z.literal('out'), site: z.string() }),
        z.strictObject({ kind: z.literal('consistency'), site: z.string(), signed: survivorSignatureSchema }),
        z.strictObject({ kind: z.literal('reveal'), site: z.string(), reveal: shareRevealSchema }),
      ]),
    ),
  })
  .transform(({ event_json: event }): SecaggEvent =>
    event.kind === 'shares'
      ? { kind: 'shares', site: event.site, shares: event.shares.map((share) => ({ to: share.to, sealed: new Uint8Array(Buffer.from(share.sealed_base64, 'base64')) })) }
      : event,
  );

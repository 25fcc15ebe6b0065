// report-document.ts — what a report of a released round is made from, read from the coordinator and checked against the key holder's signed release.
import { metricsReportSchema, metricSpecViewSchema } from '@fedval/metrics';
import type { MetricsReport } from '@fedval/metrics';
import { resolvedPrivacySpecSchema } from '@fedval/dp';
import { modelViewSchema, releasedPrivacySchema } from '@fedval/protocol';
import type { ReleasedPrivacy } from '@fedval/protocol';
import { releasedDocumentSha256, signedReleaseStatementSchema, TrustError, verifyReleaseStatement } from '@fedval/trust';
import type { ReleaseStatement, SignedReleaseStatement } from '@fedval/trust';
import { z } from 'zod';
import { CoordinatorClient } from './coordinator-client.ts';
import { CliError } from './errors.ts';
import { releasedPrivacyDigests } from './released-privacy.ts';

/** The study as the report shows it: the protocol parameters the key holder's statement binds by digest. */
export const reportStudySchema = z.strictObject({
  study_id: z.string(),
  name: z.string(),
  model_id: z.string().nullable(),
  score_column: z.string().nullable(),
  metric_spec: metricSpecViewSchema,
  privacy: resolvedPrivacySpecSchema.nullable(),
  release: z.strictObject({ min_sites: z.number().int().positive() }),
});
export type ReportStudy = z.output<typeof reportStudySchema>;

/** The REST roles that read released rounds; the coordinator shows each site's own privacy report to all but the sponsor. */
export const REPORT_READER_ROLES = ['sponsor', 'privacy_officer', 'auditor', 'admin'] as const;
export type ReportReaderRole = (typeof REPORT_READER_ROLES)[number];
/** Readers the coordinator must serve the per-site privacy reports (`dp.sites`) to: withheld from them is a failure. */
export const PER_SITE_PRIVACY_READER_ROLES: readonly ReportReaderRole[] = ['privacy_officer', 'auditor', 'admin'];

/** Everything a report (HTML, PDF, JSON, model card) is made from; the `released` part is exactly what was released to this reader. */
export const reportDocumentSchema = z.strictObject({
  study: reportStudySchema,
  /** The registered model the study names (its id is the SHA-256 of its manifest.json); null for a score-column study. */
  model: modelViewSchema.nullable(),
  round: z.strictObject({ round_id: z.string(), created_at: z.string(), closed_at: z.string() }),
  released: z.strictObject({
    metrics: metricsReportSchema,
    privacy: releasedPrivacySchema,
    contributions: z.number().int().nonnegative(),
    sites: z.array(z.string()),
  }),
  /** The key holder's signed release statement, verbatim. */
  release: signedReleaseStatementSchema,
  /** SHA-256 fingerprint of the key that signed the release, and whether the reader pinned it (`--key-holder`). */
  key_holder_fingerprint: z.string(),
  key_holder_pinned: z.boolean(),
  /** The role the reader read the round as (stated by the reader, never taken from the coordinator): says whether per-site reports must be in it. */
  reader_role: z.enum(REPORT_READER_ROLES),
});
export type ReportDocument = z.output<typeof reportDocumentSchema>;

/**
 * Every way the released documents can differ from the statement the key holder signed, as sentences (empty: none).
 * The per-site privacy reports are checked when the reader was shown them, and must be there when the statement
 * commits to some and `readerRole` may see them (a coordinator must not withhold them silently); a sponsor never is.
 */
export function releaseMismatches(statement: ReleaseStatement, released: ReportDocument['released'], study: ReportStudy, round: ReportDocument['round'], readerRole: ReportReaderRole): string[] {
  const problems: string[] = [];
  if (statement.roundId !== round.round_id) problems.push(`the statement is about round ${statement.roundId}`);
  if (statement.studyId !== study.study_id) problems.push(`the statement is about study ${statement.studyId}`);
  if (statement.metricsSha256 !== releasedDocumentSha256(released.metrics)) problems.push('the metrics are not the ones the key holder released');
  const digests = releasedPrivacyDigests(released.privacy);
  if (statement.privacySha256 !== digests.privacySha256) problems.push('the privacy block is not the one the key holder released');
  if (digests.sitePrivacySha256 !== null && statement.sitePrivacySha256 !== digests.sitePrivacySha256) problems.push("the sites' privacy reports are not the ones the key holder released");
  if (digests.sitePrivacySha256 === null && statement.sitePrivacySha256 !== null && PER_SITE_PRIVACY_READER_ROLES.includes(readerRole)) {
    problems.push(`the sites' privacy reports the key holder released are withheld from a ${readerRole}`);
  }
  if ([...released.sites].sort().join('\n') !== statement.sites.join('\n') || released.contributions !== statement.sites.length) problems.push('the contributing sites are not the ones the key holder summed');
  if (statement.studyName !== study.name.slice(0, 256)) problems.push('the study name differs');
  if (statement.modelId !== study.model_id) problems.push('the study names another model');
  if (statement.metricSpecSha256 !== releasedDocumentSha256(study.metric_spec)) problems.push('the metric spec differs');
  if (statement.privacySpecSha256 !== (study.privacy === null ? null : releasedDocumentSha256(study.privacy))) problems.push('the privacy spec differs');
  return problems;
}

/** Verifies a signed release (with the reader's pinned key holder keys, when given); coded CLI errors. */
export function verifiedRelease(signed: unknown, keyHolderKeys: readonly string[] | undefined): { statement: ReleaseStatement; keyHolderFingerprint: string; signed: SignedReleaseStatement } {
  try {
    return verifyReleaseStatement(signed, keyHolderKeys && keyHolderKeys.length > 0 ? keyHolderKeys : undefined);
  } catch (cause) {
    if (cause instanceof TrustError) throw new CliError('FEDVAL_ERR_CLI_REPORT_SIGNATURE', cause.message, { cause });
    throw cause;
  }
}

export interface ReleasedRoundOptions {
  coordinator: string;
  round: string;
  token?: string | undefined;
  /** The key holder's signing key fingerprints the reader pinned (out of band); the release must be signed by one. Required unless `allowUnpinnedKeyHolder`. */
  keyHolderKeys?: readonly string[] | undefined;
  /**
   * `--insecure-unpinned-key-holder`: accept a release signed by any key when `keyHolderKeys` is empty (the report then
   * says prominently that the key was not pinned). Default false: refused with FEDVAL_ERR_CLI_REPORT_UNPINNED.
   */
  allowUnpinnedKeyHolder?: boolean | undefined;
  /**
   * The role of the token, as the reader states it (`--role`): a privacy officer, auditor or admin must be served the
   * per-site privacy reports the key holder released (withheld: FEDVAL_ERR_CLI_REPORT_MISMATCH); a sponsor never is.
   */
  readerRole: ReportReaderRole;
}

/**
 * Reads a released round as the caller's role may see it (a sponsor never sees per-site numbers: the coordinator strips
 * them), its study and model, and checks the result against the key holder's signed release statement: a coordinator
 * that serves other metrics, privacy, sites or parameters than the key holder released is refused.
 */
export async function fetchReleasedRound(options: ReleasedRoundOptions): Promise<ReportDocument> {
  if ((options.keyHolderKeys ?? []).length === 0 && options.allowUnpinnedKeyHolder !== true) {
    throw new CliError('FEDVAL_ERR_CLI_REPORT_UNPINNED', "pass the key holder's published signing-key fingerprint with --key-holder (or --insecure-unpinned-key-holder)");
  }
  const client = new CoordinatorClient(options.coordinator, options.token);
  const round = await client.getRound(options.round);
  if (!round.result || round.closed_at === undefined) throw new CliError('FEDVAL_ERR_CLI_REPORT_NOT_RELEASED', `round ${options.round} is ${round.state}, release ${round.release}`);
  if (!round.result.signed_release) throw new CliError('FEDVAL_ERR_CLI_REPORT_UNSIGNED', `round ${options.round} was released without a signed statement (a key directory made before signed releases; release again from a new one)`);
  const verified = verifiedRelease(round.result.signed_release, options.keyHolderKeys);
  const served = await client.getStudy(round.study_id);
  const study: ReportStudy = {
    study_id: served.study_id, name: served.name, model_id: served.model_id, score_column: served.score_column, metric_spec: served.metric_spec, privacy: served.privacy, release: served.release,
  };
  const model = served.model_id === null ? null : await client.getModel(served.model_id);
  if (model !== null && model.model_id !== served.model_id) throw new CliError('FEDVAL_ERR_CLI_REPORT_MISMATCH', `asked for model ${served.model_id}, got ${model.model_id}`);
  const released = {
    metrics: round.result.metrics as MetricsReport,
    privacy: releasedPrivacySchema.parse(round.result.privacy ?? {}) as ReleasedPrivacy,
    contributions: round.result.contributions,
    sites: round.result.sites,
  };
  const roundTimes = { round_id: round.round_id, created_at: round.created_at, closed_at: round.closed_at };
  const problems = releaseMismatches(verified.statement, released, study, roundTimes, options.readerRole);
  if (problems.length > 0) throw new CliError('FEDVAL_ERR_CLI_REPORT_MISMATCH', problems.join('; '));
  return reportDocumentSchema.parse({
    study,
    model,
    round: roundTimes,
    released,
    release: verified.signed,
    key_holder_fingerprint: verified.keyHolderFingerprint,
    key_holder_pinned: (options.keyHolderKeys ?? []).length > 0,
    reader_role: options.readerRole,
  });
}

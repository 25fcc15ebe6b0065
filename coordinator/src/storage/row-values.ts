// row-values.ts — what each record is written as, column by column: one encoding (JSON text, Float64 bytes, framed
// ciphertexts) for every store, the write-side twin of row-schemas.ts. Keys are column names, in statement order.
import { joinFrames } from './ciphertext-frames.ts';
import type { RoundClosure, RoundSiteUpdate, SecaggEvent, StoredContribution, StudyRecord } from './store.ts';

/** A value every store's driver binds: text, an integer, bytes or NULL. */
export type ColumnValue = string | number | Uint8Array | null;
export type RowValues = Readonly<Record<string, ColumnValue>>;

const json = (value: unknown): string | null => (value === null || value === undefined ? null : JSON.stringify(value));

/** A new row of `studies`. */
export function studyValues(study: StudyRecord): RowValues {
  return {
    id: study.id,
    name: study.name,
    model_id: study.modelId,
    score_column: study.scoreColumn,
    metric_spec_json: JSON.stringify(study.metricSpec),
    sites_json: JSON.stringify(study.sites),
    quorum: study.quorum,
    deadline_seconds: study.deadlineSeconds,
    contribution: study.contribution,
    protection_json: JSON.stringify(study.protection),
    public_key: study.publicKey,
    key_statement_json: json(study.keyStatement),
    created_at: study.createdAt,
  };
}

/** The columns of `rounds` that closing a round sets. */
export function closureValues(closure: RoundClosure): RowValues {
  const aggregate = closure.aggregate;
  return {
    state: closure.state,
    reason: closure.reason,
    closed_at: closure.closedAt,
    contributions: closure.contributions,
    aggregate: aggregate ? new Uint8Array(aggregate.buffer, aggregate.byteOffset, aggregate.byteLength) : null,
    result_json: json(closure.result),
    encrypted_aggregate: closure.encryptedAggregate ? joinFrames(closure.encryptedAggregate) : null,
    secagg_json: json(closure.secureAggregation),
  };
}

/** The columns of `round_sites` that a site's new status sets. */
export function roundSiteValues(update: RoundSiteUpdate, at: number): RowValues {
  return {
    status: update.status,
    code: update.code ?? null,
    contribution_bytes: update.contributionBytes ?? null,
    contribution_sha256: update.contributionSha256 ?? null,
    privacy_json: update.privacy ? JSON.stringify(update.privacy) : null,
    updated_at: at,
  };
}

/** A new row of `round_contributions`. */
export function contributionValues(contribution: StoredContribution): RowValues {
  return {
    round_id: contribution.roundId,
    site_id: contribution.siteId,
    ciphertexts: joinFrames(contribution.ciphertexts),
    record_json: json(contribution.record),
    attestation_json: json(contribution.attestation),
    public_key: contribution.publicKey,
    received_at: contribution.receivedAt,
  };
}

/** The Float64 aggregate stored as bytes (copied: the stored bytes need not be 8-byte aligned). */
export function float64FromBytes(bytes: Uint8Array): Float64Array {
  const copy = new Uint8Array(bytes);
  return new Float64Array(copy.buffer, 0, copy.byteLength / Float64Array.BYTES_PER_ELEMENT);
}

/** A new row of `round_secagg_events`: the step as JSON, sealed shares in base64 (read by row-schemas.ts secaggEventRowSchema). */
export function secaggEventValues(roundId: string, event: SecaggEvent): RowValues {
  const stored =
    event.kind === 'shares' ? { kind: event.kind, site: event.site, shares: event.shares.map((share) => ({ to: share.to, sealed_base64: Buffer.from(share.sealed).toString('base64') })) } : event;
  return { round_id: roundId, event_json: JSON.stringify(stored) };
}

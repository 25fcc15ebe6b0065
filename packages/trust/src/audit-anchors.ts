// audit-anchors.ts — heads of one party's audit trail kept in another party's trail: how they are recorded, found and read.
import { z } from 'zod';
import type { AuditEntry, AuditHead } from './audit-entry.ts';
import { AUDIT_GENESIS_HASH } from './audit-entry.ts';
import { isHex32 } from './digest.ts';
import { TrustError } from './errors.ts';

/**
 * Whose head an entry records: `coordinator` (kept by sites and the key holder), `site` (kept by the coordinator, with
 * `details.site` naming the site) or `key_holder` (kept by the coordinator). The head is stored in the entry's details
 * as `<party>_audit_seq` and `<party>_audit_hash`.
 */
export type AnchoredParty = 'coordinator' | 'site' | 'key_holder';

const must = (what: string) => ({ error: `must be ${what}` });

/**
 * A head `{ seq, hash }` as it crosses the wire (the coordinator's in welcome, task and aggregate answers; a site's in
 * its result attestation; the key holder's in its release), composed by @fedval/protocol.
 */
export const auditHeadSchema = z.strictObject(
  {
    seq: z.int(must('a non-negative integer')).nonnegative(must('a non-negative integer')),
    hash: z.string(must('a lowercase hex SHA-256')).refine(isHex32, must('a lowercase hex SHA-256')),
  },
  must('an object'),
);

/** The details members recording `party`'s head, to spread into an audit event's details. */
export function auditHeadDetails(party: AnchoredParty, head: AuditHead): Record<string, string | number> {
  return { [`${party}_audit_seq`]: head.seq, [`${party}_audit_hash`]: head.hash };
}

/** True for a head that can be an anchor: a non-negative integer seq and a lowercase hex SHA-256 (the genesis hash at seq 0). */
export function isAuditHead(value: unknown): value is AuditHead {
  const { seq, hash } = (value ?? {}) as { seq?: unknown; hash?: unknown };
  return Number.isSafeInteger(seq) && (seq as number) >= 0 && isHex32(hash) && (seq !== 0 || hash === AUDIT_GENESIS_HASH);
}

/**
 * Every head of `party` recorded in `entries` (for `site`, only those whose `details.site` is `siteId`), by seq and
 * without repeats. Two different hashes for one seq are both kept: the party showed two histories, and verification
 * against both fails.
 */
export function recordedAuditHeads(entries: Iterable<AuditEntry>, party: AnchoredParty, siteId?: string): AuditHead[] {
  const found = new Map<string, AuditHead>();
  for (const entry of entries) {
    if (party === 'site' && entry.details.site !== siteId) continue;
    const head = { seq: entry.details[`${party}_audit_seq`], hash: entry.details[`${party}_audit_hash`] };
    if (isAuditHead(head)) found.set(`${head.seq}:${head.hash}`, Object.freeze({ seq: head.seq, hash: head.hash }));
  }
  return [...found.values()].sort((a, b) => a.seq - b.seq || (a.hash < b.hash ? -1 : 1));
}

/** Seqs anchored with more than one hash: the party published two different histories (a fork). */
export function conflictingAnchors(anchors: readonly AuditHead[]): number[] {
  const hashes = new Map<number, Set<string>>();
  for (const { seq, hash } of anchors) hashes.set(seq, (hashes.get(seq) ?? new Set()).add(hash));
  return [...hashes].filter(([, set]) => set.size > 1).map(([seq]) => seq).sort((a, b) => a - b);
}

/** Parses `SEQ:HASH` (as `--anchor` takes it). Throws FEDVAL_ERR_TRUST_INVALID_ANCHOR. */
export function parseAuditAnchor(text: string): AuditHead {
  const match = /^(\d{1,15}):([0-9a-f]{64})$/.exec(text);
  const head = match ? { seq: Number(match[1]), hash: match[2]! } : undefined;
  if (!head || !isAuditHead(head)) {
    throw new TrustError('FEDVAL_ERR_TRUST_INVALID_ANCHOR', `${JSON.stringify(text.slice(0, 100))}: expected SEQ:HASH, a seq and 64 lowercase hex digits`);
  }
  return Object.freeze(head);
}

/**
 * Parses an anchors document: a JSON array of `{ seq, hash }`, or an object whose `anchors` member is one (as
 * `fedval audit anchors --json` and `fedval-agent audit anchors --json` print). Throws FEDVAL_ERR_TRUST_INVALID_ANCHOR.
 */
export function parseAuditAnchors(json: string): AuditHead[] {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (cause) {
    throw new TrustError('FEDVAL_ERR_TRUST_INVALID_ANCHOR', 'the anchors file is not JSON', { cause });
  }
  const list = Array.isArray(value) ? value : (value as { anchors?: unknown } | null)?.anchors;
  if (!Array.isArray(list)) throw new TrustError('FEDVAL_ERR_TRUST_INVALID_ANCHOR', 'expected an array of { seq, hash } or an object with one as "anchors"');
  return list.map((item, i) => {
    if (!isAuditHead(item)) throw new TrustError('FEDVAL_ERR_TRUST_INVALID_ANCHOR', `anchors[${i}]: expected { seq, hash } with 64 lowercase hex digits`);
    return Object.freeze({ seq: item.seq, hash: item.hash });
  });
}

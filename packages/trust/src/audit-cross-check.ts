// audit-cross-check.ts — comparing what sites logged as sent with what the coordinator logged as received, for one round.
import type { AuditEntry } from './audit-entry.ts';
import { isHex32 } from './digest.ts';

/** Action a site agent logs when a contribution leaves the site: object `round:<roundId>`, details.sha256. */
export const CONTRIBUTION_SENT = 'contribution.sent';
/** Action the coordinator logs when it accepts a contribution: object `round:<roundId>`, details.site and details.sha256. */
export const CONTRIBUTION_RECEIVED = 'contribution.received';

/** One disagreement between the logs about a round. */
export type RoundDiscrepancy =
  /** The site sent one contribution and the coordinator recorded one, with different hashes. */
  | { readonly kind: 'hash_mismatch'; readonly siteId: string; readonly sent: string; readonly received: string; readonly siteSeq: number; readonly coordinatorSeq: number }
  /** The site logged a contribution the coordinator never recorded. */
  | { readonly kind: 'sent_not_received'; readonly siteId: string; readonly sha256: string; readonly siteSeq: number }
  /** The coordinator recorded a contribution the site never logged as sent. */
  | { readonly kind: 'received_not_sent'; readonly siteId: string; readonly sha256: string; readonly coordinatorSeq: number }
  /** The coordinator recorded a contribution from a site whose log was not supplied: nothing to compare with. */
  | { readonly kind: 'site_log_missing'; readonly siteId: string; readonly coordinatorSeq: number }
  /** A sent or received entry for the round lacks a valid details.sha256 (or details.site). */
  | { readonly kind: 'malformed_entry'; readonly party: 'site' | 'coordinator'; readonly siteId: string | null; readonly seq: number };

interface Recorded {
  readonly sha256: string;
  readonly seq: number;
}

/**
 * Cross-checks one round. `siteLogs` maps each site id to that site's (verified) audit entries; `coordinatorEntries`
 * are the coordinator's. Each site's `contribution.sent` hashes must equal the coordinator's `contribution.received`
 * hashes for that site. Returns every discrepancy, sorted by site id; an empty list means the logs agree. When a site
 * has exactly one unmatched hash on each side it is reported as one hash_mismatch, otherwise hash by hash.
 * Verify every log (verifyAuditLog) first: this compares contents, it does not check chains.
 */
export function crossCheckRound(
  siteLogs: Readonly<Record<string, readonly AuditEntry[]>>,
  coordinatorEntries: readonly AuditEntry[],
  roundId: string,
): RoundDiscrepancy[] {
  const object = `round:${roundId}`;
  const discrepancies: RoundDiscrepancy[] = [];
  const received = new Map<string, Recorded[]>();
  for (const entry of coordinatorEntries) {
    if (entry.action !== CONTRIBUTION_RECEIVED || entry.object !== object) continue;
    const { site, sha256 } = entry.details;
    if (typeof site !== 'string' || !isHex32(sha256)) {
      discrepancies.push({ kind: 'malformed_entry', party: 'coordinator', siteId: typeof site === 'string' ? site : null, seq: entry.seq });
    } else if (!Object.hasOwn(siteLogs, site)) {
      discrepancies.push({ kind: 'site_log_missing', siteId: site, coordinatorSeq: entry.seq });
    } else {
      received.set(site, [...(received.get(site) ?? []), { sha256, seq: entry.seq }]);
    }
  }
  for (const [siteId, entries] of Object.entries(siteLogs)) {
    const sent: Recorded[] = [];
    for (const entry of entries) {
      if (entry.action !== CONTRIBUTION_SENT || entry.object !== object) continue;
      const { sha256 } = entry.details;
      if (isHex32(sha256)) sent.push({ sha256, seq: entry.seq });
      else discrepancies.push({ kind: 'malformed_entry', party: 'site', siteId, seq: entry.seq });
    }
    const got = received.get(siteId) ?? [];
    const unreceived = sent.filter((s) => !got.some((r) => r.sha256 === s.sha256));
    const unsent = got.filter((r) => !sent.some((s) => s.sha256 === r.sha256));
    const [onlySent] = unreceived;
    const [onlyReceived] = unsent;
    if (unreceived.length === 1 && unsent.length === 1 && onlySent && onlyReceived) {
      discrepancies.push({
        kind: 'hash_mismatch', siteId, sent: onlySent.sha256, received: onlyReceived.sha256,
        siteSeq: onlySent.seq, coordinatorSeq: onlyReceived.seq,
      });
      continue;
    }
    for (const s of unreceived) discrepancies.push({ kind: 'sent_not_received', siteId, sha256: s.sha256, siteSeq: s.seq });
    for (const r of unsent) discrepancies.push({ kind: 'received_not_sent', siteId, sha256: r.sha256, coordinatorSeq: r.seq });
  }
  return discrepancies.sort((a, b) => ((a.siteId ?? '') < (b.siteId ?? '') ? -1 : (a.siteId ?? '') > (b.siteId ?? '') ? 1 : 0));
}

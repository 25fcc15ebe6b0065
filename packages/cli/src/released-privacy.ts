// released-privacy.ts — the released privacy block split into its aggregate part and the per-site reports, and their digests for the release statement.
import type { releasedPrivacySchema } from '@fedval/protocol';
import { releasedDocumentSha256, sitePrivacyCommitment } from '@fedval/trust';
import type { z } from 'zod';

/**
 * Digests of a released privacy block for the release statement: the aggregate part (per-site reports and their salt
 * removed) and the salted commitment to the per-site reports, so a reader who may not see per-site numbers can check
 * the rest and learns nothing of them. `sitePrivacySha256` is null when there are no per-site reports, and
 * `'unsalted'` when there are but their salt is missing (which no statement can match).
 */
export function releasedPrivacyDigests(privacy: ReleasedPrivacyBlock): { privacySha256: string; sitePrivacySha256: string | null } {
  const { aggregate, sites, salt } = splitSitePrivacy(privacy);
  return {
    privacySha256: releasedDocumentSha256(aggregate),
    sitePrivacySha256: sites === undefined ? null : salt === undefined ? 'unsalted' : sitePrivacyCommitment(salt, sites),
  };
}

export type ReleasedPrivacyBlock = z.output<typeof releasedPrivacySchema>;

/** A released privacy block without its per-site reports and their salt, and those (undefined when absent). */
export function splitSitePrivacy(privacy: ReleasedPrivacyBlock): { aggregate: ReleasedPrivacyBlock; sites: unknown[] | undefined; salt: string | undefined } {
  if (privacy.dp === null || (privacy.dp.sites === undefined && privacy.dp.sites_salt === undefined)) return { aggregate: privacy, sites: undefined, salt: undefined };
  const { sites, sites_salt: salt, ...dp } = privacy.dp;
  return { aggregate: { ...privacy, dp }, sites, salt };
}

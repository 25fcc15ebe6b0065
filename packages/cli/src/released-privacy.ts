// released-privacy.ts — the released privacy block split into its aggregate part and the per-site reports, and their digests for the release statement.
import type { releasedPrivacySchema } from '@fedval/protocol';
import { releasedDocumentSha256 } from '@fedval/trust';
import type { z } from 'zod';

/**
 * Digests of a released privacy block for the release statement: the aggregate part (per-site reports removed) and
 * the per-site reports apart, so a reader who may not see per-site numbers can check the rest.
 */
export function releasedPrivacyDigests(privacy: ReleasedPrivacyBlock): { privacySha256: string; sitePrivacySha256: string | null } {
  const { aggregate, sites } = splitSitePrivacy(privacy);
  return { privacySha256: releasedDocumentSha256(aggregate), sitePrivacySha256: sites === undefined ? null : releasedDocumentSha256(sites) };
}

export type ReleasedPrivacyBlock = z.output<typeof releasedPrivacySchema>;

/** A released privacy block without its per-site reports, and those reports (undefined when there are none). */
export function splitSitePrivacy(privacy: ReleasedPrivacyBlock): { aggregate: ReleasedPrivacyBlock; sites: unknown[] | undefined } {
  if (privacy.dp === null || privacy.dp.sites === undefined) return { aggregate: privacy, sites: undefined };
  const { sites, ...dp } = privacy.dp;
  return { aggregate: { ...privacy, dp }, sites };
}


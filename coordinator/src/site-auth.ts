// site-auth.ts — site token hashing and constant-time verification against the configured SHA-256 hashes.
import { createHash, timingSafeEqual } from 'node:crypto';

/** Lowercase hex SHA-256 of a site token, as written under `sites[].token_sha256`. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Checks a site's token; unknown sites cost the same comparison as known ones. */
export class SiteAuthenticator {
  readonly #hashes: ReadonlyMap<string, Buffer>;
  readonly #decoy = Buffer.alloc(32);

  /** Sites without `token_sha256` (enrollment only) are never accepted by token. */
  constructor(sites: readonly { id: string; token_sha256?: string | undefined }[]) {
    this.#hashes = new Map(sites.flatMap((site) => (site.token_sha256 ? [[site.id, Buffer.from(site.token_sha256, 'hex')] as const] : [])));
  }

  has(siteId: string): boolean {
    return this.#hashes.has(siteId);
  }

  verify(siteId: string, token: string): boolean {
    const presented = createHash('sha256').update(token, 'utf8').digest();
    const expected = this.#hashes.get(siteId);
    const equal = timingSafeEqual(presented, expected ?? this.#decoy);
    return expected !== undefined && equal;
  }
}

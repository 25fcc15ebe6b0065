// site-auth.ts — site token hashing and constant-time verification against the configured SHA-256 hashes.
import { createHash, timingSafeEqual } from 'node:crypto';

/** Lowercase hex SHA-256 of a site token, as written under `sites[].token_sha256`. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Knows the configured sites and checks their tokens; unknown sites cost the same comparison as known ones. */
export class SiteAuthenticator {
  readonly #configured: ReadonlySet<string>;
  readonly #hashes: ReadonlyMap<string, Buffer>;
  readonly #decoy = Buffer.alloc(32);

  /** Sites without `token_sha256` (enrollment only) are never accepted by token. */
  constructor(sites: readonly { id: string; token_sha256?: string | undefined }[]) {
    this.#configured = new Set(sites.map((site) => site.id));
    this.#hashes = new Map(sites.flatMap((site) => (site.token_sha256 ? [[site.id, Buffer.from(site.token_sha256, 'hex')] as const] : [])));
  }

  /** Whether the site is in the configuration (with a token or not). */
  isConfigured(siteId: string): boolean {
    return this.#configured.has(siteId);
  }

  /** Whether the site is configured with a token. */
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

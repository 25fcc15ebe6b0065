// roster.ts — the sites whose contributions the key holder accepts: site ids and Ed25519 key fingerprints, approved by
// the privacy officer out of band and pinned in the key directory. Nothing the coordinator serves can change it.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { publicKeyFingerprint } from '@fedval/trust';
import { canonicalJson } from '@fedval/trust';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { CliError } from './errors.ts';

const siteId = z.string().min(1).max(128).regex(/^[A-Za-z0-9._:-]+$/, 'letters, digits, . _ : - only');
const fingerprint = z.string().regex(/^[0-9a-f]{64}$/, 'expected the key fingerprint as `fedval sites list` shows it (64 lowercase hex)');
const publicKey = z.string().length(44, 'expected a raw Ed25519 public key in base64 (44 characters)');

/** A roster file (YAML or JSON): `sites: [{ site_id, fingerprint, public_key? }]`. */
export const rosterFileSchema = z.strictObject({
  sites: z
    .array(z.strictObject({ site_id: siteId, fingerprint, public_key: publicKey.optional() }))
    .min(1)
    .max(1024)
    .refine((sites) => new Set(sites.map((site) => site.site_id)).size === sites.length, 'each site once'),
});
export type RosterFile = z.infer<typeof rosterFileSchema>;

/** A pinned roster: per site, the fingerprint of its key and, when the officer pinned it too, the key itself. */
export interface Roster {
  readonly sites: ReadonlyMap<string, { fingerprint: string; publicKey: string | null }>;
  /** SHA-256 (hex) of the roster's canonical JSON: what the key holder's trail records. */
  readonly sha256: string;
  /** The canonical JSON kept in the key directory. */
  readonly canonical: string;
}

/** Parses and checks a roster (a pinned public key must have the pinned fingerprint); FEDVAL_ERR_CLI_ROSTER otherwise. */
export function parseRoster(text: string, source: string): Roster {
  let document: unknown;
  try {
    document = parseYaml(text);
  } catch (cause) {
    throw new CliError('FEDVAL_ERR_CLI_ROSTER', `${source}: not YAML or JSON`, { cause });
  }
  const result = rosterFileSchema.safeParse(document);
  if (!result.success) {
    const problems = result.error.issues.slice(0, 5).map((issue) => `${issue.path.join('.') || '(document)'}: ${issue.message}`);
    throw new CliError('FEDVAL_ERR_CLI_ROSTER', `${source}: ${problems.join('; ')}`);
  }
  const sites = [...result.data.sites].sort((a, b) => (a.site_id < b.site_id ? -1 : a.site_id > b.site_id ? 1 : 0));
  for (const site of sites) {
    if (site.public_key === undefined) continue;
    let actual: string;
    try {
      actual = publicKeyFingerprint(site.public_key);
    } catch (cause) {
      throw new CliError('FEDVAL_ERR_CLI_ROSTER', `${source}: ${site.site_id}: public_key is not an Ed25519 public key`, { cause });
    }
    if (actual !== site.fingerprint) throw new CliError('FEDVAL_ERR_CLI_ROSTER', `${source}: ${site.site_id}: public_key does not have the fingerprint given`);
  }
  const canonical = canonicalJson({ sites: sites.map((site) => ({ site_id: site.site_id, fingerprint: site.fingerprint, ...(site.public_key ? { public_key: site.public_key } : {}) })) });
  return {
    sites: new Map(sites.map((site) => [site.site_id, { fingerprint: site.fingerprint, publicKey: site.public_key ?? null }])),
    sha256: createHash('sha256').update(canonical).digest('hex'),
    canonical,
  };
}

/** Reads a roster file; FEDVAL_ERR_CLI_ROSTER when it cannot be read or is not a roster. */
export function readRosterFile(path: string): Roster {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new CliError('FEDVAL_ERR_CLI_ROSTER', `${path} cannot be read`, { cause });
  }
  return parseRoster(text, path);
}

/** What changes between two rosters, for the trail: sites added, removed, and sites whose key changed. */
export function rosterChanges(before: Roster | null, after: Roster): { added: string[]; removed: string[]; rekeyed: string[] } {
  const old = before?.sites ?? new Map<string, { fingerprint: string }>();
  return {
    added: [...after.sites.keys()].filter((site) => !old.has(site)),
    removed: [...old.keys()].filter((site) => !after.sites.has(site)),
    rekeyed: [...after.sites].filter(([site, entry]) => old.has(site) && old.get(site)?.fingerprint !== entry.fingerprint).map(([site]) => site),
  };
}

// evidence-bundle.ts — the evidence bundle of a report (report.json beside the files it names): written signed, and verified byte for byte.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { canonicalJson, evidenceSignatureSchema, pinnedKeyFingerprint, signEvidence, TrustError, verifyAuditLog, verifyEvidence } from '@fedval/trust';
import type { JsonValue } from '@fedval/trust';
import type { KeyObject } from 'node:crypto';
import { z } from 'zod';
import { KEY_HOLDER_AUDIT_LINE_BYTES } from './audit.ts';
import { CliError } from './errors.ts';
import { releaseMismatches, reportDocumentSchema, verifiedRelease } from './report-document.ts';
import type { ReportDocument } from './report-document.ts';

/** The manifest's file name inside a bundle directory. */
export const EVIDENCE_MANIFEST = 'report.json';
/** The manifest format this version writes and reads. */
export const EVIDENCE_FORMAT = 'fedval-evidence/1';

/** The only files a bundle may list beside report.json (the report's formats): no other name, never a path, `.` or `..`. */
export const EVIDENCE_FILES = ['report.html', 'report.pdf', 'model-card.json'] as const;

const fileEntrySchema = z.strictObject({ name: z.enum(EVIDENCE_FILES), sha256: z.string().regex(/^[0-9a-f]{64}$/), bytes: z.number().int().nonnegative() });

/** report.json: the released round (with the key holder's signed release), the SHA-256 of each report file, and who made it when, signed by its maker. */
export const evidenceManifestSchema = z.strictObject({
  format: z.literal(EVIDENCE_FORMAT),
  document: reportDocumentSchema,
  files: z.array(fileEntrySchema).max(EVIDENCE_FILES.length).refine((files) => new Set(files.map((file) => file.name)).size === files.length, { error: 'must name each file once' }),
  made: z.strictObject({ at: z.iso.datetime(), software: z.string() }),
  signature: evidenceSignatureSchema,
});
export type EvidenceManifest = z.output<typeof evidenceManifestSchema>;

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/**
 * The bytes of report.json: canonical JSON (RFC 8785) and a line end. Canonical, so that `fedval evidence verify` can
 * refuse any byte that is not exactly what was signed, whitespace included.
 */
export function evidenceManifestBytes(manifest: Omit<EvidenceManifest, 'signature'> & { signature: EvidenceManifest['signature'] }): Uint8Array {
  return new Uint8Array(Buffer.from(`${canonicalJson(manifest as unknown as JsonValue)}\n`, 'utf8'));
}

/** Makes report.json for `files` (name → bytes) of `document`, signed with the maker's Ed25519 key. */
export function makeEvidenceManifest(document: ReportDocument, files: ReadonlyMap<string, Uint8Array>, made: { at: string; software: string }, signingKey: KeyObject): Uint8Array {
  // Through JSON once, so what is signed is exactly what a reader parses back (no undefined members).
  const unsigned = JSON.parse(JSON.stringify({
    format: EVIDENCE_FORMAT,
    document,
    files: [...files].map(([name, bytes]) => ({ name, sha256: sha256(bytes), bytes: bytes.byteLength })),
    made,
  })) as Omit<EvidenceManifest, 'signature'>;
  const signature = signEvidence(signingKey, unsigned as unknown as JsonValue);
  return evidenceManifestBytes({ ...unsigned, signature } as EvidenceManifest);
}

export interface VerifyEvidenceOptions {
  /**
   * Key holder signing-key fingerprints the verifier pinned: the release must be signed by one. Without any, the key
   * holder check fails ("not pinned"): a bundle forged end to end with fresh keys verifies its own signatures.
   */
  keyHolderKeys?: readonly string[] | undefined;
  /** Fingerprints of the report makers the verifier trusts: report.json must be signed by one. Without any, the maker check fails ("not pinned"). */
  signerKeys?: readonly string[] | undefined;
  /** Audit trails to check the release's heads against (each must verify and hold the head). */
  trails?: readonly { party: 'key_holder' | 'coordinator'; path: string }[] | undefined;
}

/** One check of `fedval evidence verify` and its outcome. */
export interface EvidenceCheck {
  check: string;
  ok: boolean;
  detail: string;
}

export interface EvidenceVerification {
  ok: boolean;
  checks: EvidenceCheck[];
  round_id: string | null;
  released_by: string | null;
  released_at: string | null;
  key_holder_fingerprint: string | null;
  maker_fingerprint: string | null;
}

/**
 * `fedval evidence verify DIR`: report.json must be exactly the canonical bytes its maker signed, by a pinned maker key;
 * the key holder's release signature must verify, by a pinned key holder key (unpinned is a failed check); the released metrics, privacy, sites and parameters must
 * be the ones it signed; every listed file must have its recorded SHA-256; the audit-trail heads must be in the trails
 * given. Every check is run and reported; `ok` only when all pass. Throws FEDVAL_ERR_CLI_EVIDENCE_UNREADABLE when
 * report.json is missing or is not a manifest.
 */
export function verifyEvidenceBundle(dir: string, options: VerifyEvidenceOptions = {}): EvidenceVerification {
  const path = join(dir, EVIDENCE_MANIFEST);
  if (!existsSync(path)) throw new CliError('FEDVAL_ERR_CLI_EVIDENCE_UNREADABLE', `${path} does not exist`);
  const bytes = new Uint8Array(readFileSync(path));
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (cause) {
    throw new CliError('FEDVAL_ERR_CLI_EVIDENCE_UNREADABLE', `${path} is not JSON`, { cause });
  }
  const parsed = evidenceManifestSchema.safeParse(raw);
  if (!parsed.success) throw new CliError('FEDVAL_ERR_CLI_EVIDENCE_UNREADABLE', `${path}: ${parsed.error.issues.slice(0, 5).map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}`);
  const manifest = parsed.data;
  const checks: EvidenceCheck[] = [];
  const add = (check: string, ok: boolean, detail: string) => checks.push({ check, ok, detail });

  const canonical = Buffer.from(evidenceManifestBytes(raw as EvidenceManifest)).equals(Buffer.from(bytes));
  add('report.json is canonical', canonical, canonical ? 'exactly the canonical JSON that was signed' : 'its bytes are not the canonical JSON of its content (edited)');

  const { signature, ...unsigned } = raw as Record<string, unknown>;
  const maker = verifyEvidence(unsigned as JsonValue, manifest.signature);
  const makerPinned = options.signerKeys && options.signerKeys.length > 0 ? options.signerKeys.map(pinnedKeyFingerprint) : null;
  void signature;
  add(
    'report.json signature',
    maker !== null && makerPinned !== null && makerPinned.includes(maker),
    maker === null ? 'does not verify' : `signed by ${maker}${makerPinned === null ? ', but no maker key is pinned (--signer): anyone can sign a bundle' : makerPinned.includes(maker) ? ' (pinned)' : ' (not a pinned signer)'}`,
  );

  let release: ReturnType<typeof verifiedRelease> | null = null;
  const keyHolderPinned = (options.keyHolderKeys ?? []).length > 0;
  try {
    release = verifiedRelease(manifest.document.release, options.keyHolderKeys);
    const who = `signed by ${release.keyHolderFingerprint}`;
    const what = `${release.statement.signerName}, ${release.statement.signedAt}, "${release.statement.meaning}"`;
    add("key holder's release signature", keyHolderPinned, keyHolderPinned ? `${who} (pinned); ${what}` : `${who}, but no key holder key is pinned (--key-holder): anyone can sign a release; ${what}`);
  } catch (error) {
    add("key holder's release signature", false, (error as Error).message);
  }
  if (release) {
    const problems = releaseMismatches(release.statement, manifest.document.released, manifest.document.study, manifest.document.round, manifest.document.reader_role);
    if (release.keyHolderFingerprint !== manifest.document.key_holder_fingerprint) problems.push('the recorded key holder fingerprint is not the signer');
    add('released numbers are the signed ones', problems.length === 0, problems.length === 0 ? 'metrics, privacy, sites and study parameters match the release statement' : problems.join('; '));
  }

  for (const file of manifest.files) {
    const filePath = join(dir, file.name);
    if (!existsSync(filePath)) {
      add(`${file.name} SHA-256`, false, 'missing');
      continue;
    }
    const digest = sha256(new Uint8Array(readFileSync(filePath)));
    add(`${file.name} SHA-256`, digest === file.sha256, digest === file.sha256 ? file.sha256 : `is ${digest}, report.json records ${file.sha256}`);
  }

  // Exactly report.json and the files it lists: anything else in the directory is not covered by any signature.
  const listed = new Set<string>([EVIDENCE_MANIFEST, ...manifest.files.map((file) => file.name)]);
  const others = readdirSync(dir).filter((name) => !listed.has(name)).sort();
  add('no other files', others.length === 0, others.length === 0 ? `only ${EVIDENCE_MANIFEST} and the files it lists` : `not covered by report.json: ${others.slice(0, 20).join(', ')}`);

  for (const trail of options.trails ?? []) {
    const head = trail.party === 'key_holder' ? release?.statement.keyHolderAuditHead : release?.statement.coordinatorAuditHead;
    if (!head) {
      add(`${trail.party} audit-trail head`, false, 'no verified release statement to take the head from');
      continue;
    }
    try {
      const verification = verifyAuditLog(trail.path, { anchors: [head], ...(trail.party === 'key_holder' ? { maxLineBytes: KEY_HOLDER_AUDIT_LINE_BYTES } : {}) });
      add(`${trail.party} audit-trail head`, verification.ok, verification.ok ? `seq ${head.seq} ${head.hash} is in ${trail.path}, which verifies` : `${trail.path}: ${verification.reason} at line ${verification.line}: ${verification.detail}`);
    } catch (error) {
      add(`${trail.party} audit-trail head`, false, error instanceof TrustError ? error.message : String(error));
    }
  }
  return {
    ok: checks.every((check) => check.ok),
    checks,
    round_id: manifest.document.round.round_id,
    released_by: release?.statement.signerName ?? null,
    released_at: release?.statement.signedAt ?? null,
    key_holder_fingerprint: release?.keyHolderFingerprint ?? null,
    maker_fingerprint: maker,
  };
}

// key-holder.ts — the privacy officer's key custody: create the study key pair, pin the roster of sites, and decrypt
// only a sum the key holder made itself from contributions signed by at least the release minimum of rostered sites.
import { createHash } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, writeSync } from 'node:fs';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import {
  keyStatementRegisteredResponseSchema,
  publicKeyRegisteredResponseSchema,
  releaseResponseSchema,
  roundContributionsResponseSchema,
  studyEncryptionResponseSchema,
  studyViewSchema,
} from '@fedval/protocol';
import {
  AuditLog, auditHead, auditHeadDetails, generateSiteIdentity, loadPrivateKey, publicKeyFingerprint, publicKeyOf, readAuditLog, savePrivateKey, signedStudyKeyStatementSchema, signStudyKeyStatement,
} from '@fedval/trust';
import type { AuditEvent, JsonValue, SignedStudyKeyStatement } from '@fedval/trust';
import { bfvEncryptionSummary, createHeContext, decryptVector, EncryptedSum, generateKeyPair, planFingerprint, planSha256, validateBfvPlan } from '@fedval/he';
import type { BfvPlan } from '@fedval/he';
import { createRelease, finalizeRelease } from '@fedval/dp';
import { createStatisticsLayout, resolveMetricSpecInput } from '@fedval/metrics';
import { verifyContributions } from './contribution-verification.ts';
import { planUnmasking } from './secure-aggregation-unmasking.ts';
import type { AcceptedContribution, ContributionRefusal, UsedRecord } from './contribution-verification.ts';
import { CoordinatorClient } from './coordinator-client.ts';
import { CliError } from './errors.ts';
import { KEY_HOLDER_AUDIT_LINE_BYTES } from './audit.ts';
import { parseRoster, readRosterFile, rosterChanges } from './roster.ts';
import type { Roster } from './roster.ts';
import { listProblems } from '@fedval/schema';
import { packageVersion } from '@fedval/command-line';
import { metricsReportSchema } from '@fedval/metrics';
import { releasedPrivacySchema } from '@fedval/protocol';
import { newSitePrivacySalt, RELEASE_MEANING, releasedDocumentSha256, signReleaseStatement } from '@fedval/trust';
import { releasedPrivacyDigests } from './released-privacy.ts';
import type { SignedReleaseStatement } from '@fedval/trust';
import { z } from 'zod';

/** Files of a key directory. The secret key never leaves it; only `public.key` is sent to the coordinator. */
export const KEY_FILES = Object.freeze({
  secret: 'secret.key',
  public: 'public.key',
  plan: 'plan.json',
  study: 'study.json',
  audit: 'audit.jsonl',
  /** The pinned roster (canonical JSON); its SHA-256 is in the trail, so an edit without `fedval keys roster` is refused. */
  roster: 'roster.json',
  /** One line per signed record a decryption used: a record is never counted in another decryption. */
  used: 'used-records.jsonl',
  /** The key holder's Ed25519 signing key (0600) when `--signing-key` names none: it signs the study key statement. */
  signingKey: 'signing.key',
  /** The signed study key statement (@fedval/trust), as registered with the coordinator. */
  statement: 'key-statement.json',
});

const sha256 = (bytes: Uint8Array | string): string => createHash('sha256').update(bytes).digest('hex');

/**
 * Largest `details` of a key holder trail entry: a pinned roster records every site's key fingerprint (about 100 bytes
 * a site), so 1 MiB (the most AuditLog allows) holds some 10,000 sites; the default 16 KiB held about 150.
 */
const KEY_HOLDER_AUDIT_DETAILS_BYTES = 1024 * 1024; // 1 MiB

/**
 * The key holder's own hash-chained audit trail, `<keys>/audit.jsonl` (AuditLog of @fedval/trust): keys created,
 * every decryption (or refusal, with the reason) and every release, each written before the action it records.
 */
function recordKeyHolderEvent(dir: string, event: Omit<AuditEvent, 'actor'>): void {
  let log: AuditLog | undefined;
  try {
    log = AuditLog.open(join(dir, KEY_FILES.audit), { maxDetailsBytes: KEY_HOLDER_AUDIT_DETAILS_BYTES, maxLineBytes: KEY_HOLDER_AUDIT_LINE_BYTES });
    log.append({ actor: `key_holder:${operatorName()}`, ...event });
  } catch (cause) {
    const code = (cause as { code?: unknown }).code;
    throw new CliError('FEDVAL_ERR_CLI_AUDIT', `${join(dir, KEY_FILES.audit)}: ${typeof code === 'string' ? code : (cause as Error).message}`, { cause });
  } finally {
    log?.close();
  }
}

/** The OS account running the key holder, in the characters an audit actor allows (others become `_`). */
function operatorName(): string {
  let name = '';
  try {
    name = userInfo().username;
  } catch {
    // no account name (a container without a passwd entry)
  }
  return name.replace(/[^A-Za-z0-9._@-]/g, '_').slice(0, 200) || 'unknown';
}

/** The release policy the key holder applies on its own side, whatever the coordinator says. */
export const DEFAULT_RELEASE_POLICY = Object.freeze({
  minSites: 3, // fewest distinct rostered sites a decrypted sum must hold; the study's release.min_sites when larger
  maxRecordAgeMs: 30 * 24 * 60 * 60 * 1000, // 30 days: an older signed record is stale
  maxClockSkewMs: 5 * 60 * 1000, // 5 min between a site's clock and the round's window
});

export interface InitKeysOptions {
  coordinator: string;
  study: string;
  out: string;
  /** The roster file the privacy officer approved: site ids and key fingerprints (roster.ts). */
  roster: string;
  /**
   * The key holder's Ed25519 signing key file (its identity, which sites pin in policy.key_holder_keys): read when it
   * exists, created (0600) when it does not. Default `<out>/signing.key`, a new identity per study.
   */
  signingKey?: string | undefined;
  /** The privacy officer's own release minimum: a coordinator study whose release.min_sites is lower is refused. Default 3. */
  minSites?: number | undefined;
  token?: string | undefined;
  /** Clock, epoch ms (tests). Default Date.now. */
  now?: () => number;
}

/** The key holder's signing identity: read from `path`, or created there (mode 0600, never overwritten) when absent. */
export function keyHolderIdentity(path: string): { privateKey: KeyObject; public_key: string; fingerprint: string; created: boolean } {
  let created = false;
  if (!existsSync(path)) {
    savePrivateKey(path, generateSiteIdentity().privateKeyPem);
    created = true;
  }
  const privateKey = loadPrivateKey(path);
  const publicKey = publicKeyOf(privateKey);
  return { privateKey, public_key: publicKey, fingerprint: publicKeyFingerprint(publicKey), created };
}

/**
 * The statement the key holder signs for a study (@fedval/trust study key statement): this public key under this plan,
 * released only to sums of at least `minSites` sites of this roster. Kept in the key directory and sent to the
 * coordinator, which forwards it in every task; sites verify it against the key holder key they pinned.
 */
async function signStatement(dir: string, signingKey: KeyObject, fields: { studyId: string; plan: BfvPlan; publicKey: Uint8Array; minSites: number; roster: Roster; issuedAt: number; version: number }): Promise<SignedStudyKeyStatement> {
  const signed = signStudyKeyStatement(signingKey, {
    studyId: fields.studyId,
    planSha256: planSha256(fields.plan),
    publicKeySha256: sha256(fields.publicKey),
    minSites: fields.minSites,
    roster: [...fields.roster.sites].map(([siteId, entry]) => ({ siteId, fingerprint: entry.fingerprint })),
    rosterSha256: fields.roster.sha256,
    issuedAt: fields.issuedAt,
    version: fields.version,
  });
  const temporary = join(dir, `${KEY_FILES.statement}.tmp`);
  await writeFile(temporary, `${JSON.stringify(signed, null, 2)}\n`, { mode: 0o644 });
  await rename(temporary, join(dir, KEY_FILES.statement));
  return signed;
}

/** Creates the study's key pair on the key holder's machine, keeps the secret key there, registers the public key. */
export async function initKeys(options: InitKeysOptions): Promise<{ study_id: string; public_key_bytes: number; plan_fingerprint: string; roster_sha256: string; min_sites: number; key_holder_fingerprint: string }> {
  const roster = readRosterFile(options.roster);
  const client = new CoordinatorClient(options.coordinator, options.token);
  const { plan } = await client.call('GET', `/api/studies/${encodeURIComponent(options.study)}/encryption`, studyEncryptionResponseSchema);
  // The study's release minimum when the keys are made: pinned, so the coordinator cannot lower it later; and never
  // below the privacy officer's own minimum (checked before any key is made).
  const minSites = (await client.getStudy(options.study)).release.min_sites;
  const officerMinimum = options.minSites ?? DEFAULT_RELEASE_POLICY.minSites;
  if (minSites < officerMinimum) {
    throw new CliError('FEDVAL_ERR_CLI_RELEASE_POLICY', `the coordinator's study releases sums of ${minSites} sites; the privacy officer requires at least ${officerMinimum} (--min-sites)`);
  }
  const checked = validateBfvPlan(plan);
  const context = await createHeContext(checked);
  let keys: { publicKey: Uint8Array; secretKey: Uint8Array };
  try {
    keys = generateKeyPair(context);
  } finally {
    context.dispose();
  }
  await mkdir(options.out, { recursive: true, mode: 0o700 });
  await chmod(options.out, 0o700);
  try {
    await writeFile(join(options.out, KEY_FILES.secret), keys.secretKey, { mode: 0o600, flag: 'wx' });
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'EEXIST') throw new CliError('FEDVAL_ERR_CLI_KEYS_EXIST', `${options.out} already holds a secret key`);
    throw cause;
  }
  await writeFile(join(options.out, KEY_FILES.public), keys.publicKey, { mode: 0o644 });
  const identity = keyHolderIdentity(options.signingKey ?? join(options.out, KEY_FILES.signingKey));
  await writeFile(join(options.out, KEY_FILES.plan), `${JSON.stringify(checked, null, 2)}\n`);
  const signingKeyPath = resolve(options.signingKey ?? join(options.out, KEY_FILES.signingKey));
  await writeFile(join(options.out, KEY_FILES.study), `${JSON.stringify({ study_id: options.study, coordinator: options.coordinator, min_sites: minSites, signing_key: signingKeyPath }, null, 2)}\n`);
  recordKeyHolderEvent(options.out, {
    action: 'keys.created',
    object: `study:${options.study}`,
    details: {
      study: options.study, coordinator: options.coordinator, plan_fingerprint: planFingerprint(checked), public_key_sha256: sha256(keys.publicKey), min_sites: minSites,
      key_holder_fingerprint: identity.fingerprint,
    },
  });
  await pinRoster(options.out, roster, 'roster.pinned', options.study);
  const statement = await signStatement(options.out, identity.privateKey, { studyId: options.study, plan: checked, publicKey: keys.publicKey, minSites, roster, issuedAt: (options.now ?? Date.now)(), version: 1 });
  await client.call('PUT', `/api/studies/${encodeURIComponent(options.study)}/public-key`, publicKeyRegisteredResponseSchema, {
    public_key_base64: Buffer.from(keys.publicKey).toString('base64'),
    key_statement: statement,
  });
  return { study_id: options.study, public_key_bytes: keys.publicKey.byteLength, plan_fingerprint: planFingerprint(checked), roster_sha256: roster.sha256, min_sites: minSites, key_holder_fingerprint: identity.fingerprint };
}

/** Writes the roster into the key directory and records its SHA-256 (and what changed) in the trail, in that order. */
async function pinRoster(dir: string, roster: Roster, action: 'roster.pinned' | 'roster.changed', studyId: string, before: Roster | null = null): Promise<void> {
  const changes = rosterChanges(before, roster);
  recordKeyHolderEvent(dir, {
    action,
    object: `study:${studyId}`,
    details: {
      roster_sha256: roster.sha256,
      previous_roster_sha256: before?.sha256 ?? null,
      sites: [...roster.sites.keys()],
      fingerprints: Object.fromEntries([...roster.sites].map(([site, entry]) => [site, entry.fingerprint])),
      ...changes,
    },
  });
  const temporary = join(dir, `${KEY_FILES.roster}.tmp`);
  await writeFile(temporary, `${roster.canonical}\n`, { mode: 0o600 });
  await rename(temporary, join(dir, KEY_FILES.roster));
}

export interface ChangeRosterOptions {
  keys: string;
  roster: string;
  /** The key holder's signing key, as given to `fedval keys init --signing-key`. Default `<keys>/signing.key`. */
  signingKey?: string | undefined;
  /** The coordinator to send the newly signed study key statement to. Default: the one `fedval keys init` used. */
  coordinator?: string | undefined;
  token?: string | undefined;
  now?: () => number;
}

/**
 * `fedval keys roster`: the privacy officer replaces the pinned roster with a newly approved one; the trail records the
 * old and new SHA-256 and the sites added, removed and re-keyed. The only way the roster changes.
 */
export async function changeRoster(options: ChangeRosterOptions): Promise<{ roster_sha256: string; previous_roster_sha256: string | null; added: string[]; removed: string[]; rekeyed: string[]; key_statement_sent: boolean }> {
  const roster = readRosterFile(options.roster);
  const study = await readStudyFile(options.keys);
  // What changes is measured from the roster the trail last approved, never from roster.json (which anyone who can
  // write the directory could have edited).
  const approved = lastApprovedRoster(options.keys);
  const before: Roster | null = approved && {
    sites: new Map(Object.entries(approved.fingerprints).map(([site, fingerprint]) => [site, { fingerprint, publicKey: null }])),
    sha256: approved.sha256,
    canonical: '',
  };
  // The statement sites verify carries the roster (their peers' keys): signed again and sent for the same key and plan.
  const signingKeyPath = options.signingKey ?? join(options.keys, KEY_FILES.signingKey);
  if (!existsSync(signingKeyPath)) throw new CliError('FEDVAL_ERR_CLI_KEYS_MISSING', `${signingKeyPath}: the key holder's signing key (--signing-key)`);
  const identity = keyHolderIdentity(signingKeyPath);
  await pinRoster(options.keys, roster, 'roster.changed', study.study_id, before);
  const plan = validateBfvPlan(JSON.parse(await readKeyFile(options.keys, KEY_FILES.plan, 'utf8')));
  const publicKey = new Uint8Array(await readKeyFile(options.keys, KEY_FILES.public));
  // One version more than the statement it replaces: sites refuse any older one the coordinator might serve again.
  const version = (await readStatementVersion(options.keys)) + 1;
  const statement = await signStatement(options.keys, identity.privateKey, { studyId: study.study_id, plan, publicKey, minSites: study.min_sites, roster, issuedAt: (options.now ?? Date.now)(), version });
  recordKeyHolderEvent(options.keys, { action: 'key_statement.signed', object: `study:${study.study_id}`, details: { roster_sha256: roster.sha256, key_holder_fingerprint: identity.fingerprint, min_sites: study.min_sites, version } });
  const coordinator = options.coordinator ?? study.coordinator;
  if (coordinator !== undefined) {
    await new CoordinatorClient(coordinator, options.token).call('PUT', `/api/studies/${encodeURIComponent(study.study_id)}/key-statement`, keyStatementRegisteredResponseSchema, { key_statement: statement });
  }
  return { roster_sha256: roster.sha256, previous_roster_sha256: before?.sha256 ?? null, ...rosterChanges(before, roster), key_statement_sent: coordinator !== undefined };
}

/** The version of the key directory's current study key statement (0 when there is none). */
async function readStatementVersion(dir: string): Promise<number> {
  const path = join(dir, KEY_FILES.statement);
  if (!existsSync(path)) return 0;
  return parseKeyFile(signedStudyKeyStatementSchema, await readKeyFile(dir, KEY_FILES.statement, 'utf8'), path).statement.version;
}

/** The SHA-256 and fingerprints of the roster the trail's last `roster.pinned` / `roster.changed` entry records. */
function lastApprovedRoster(dir: string): { sha256: string; fingerprints: Record<string, string> } | null {
  const path = join(dir, KEY_FILES.audit);
  let entries;
  try {
    const read = readAuditLog(path, { maxLineBytes: KEY_HOLDER_AUDIT_LINE_BYTES, select: (entry) => entry.action === 'roster.pinned' || entry.action === 'roster.changed' });
    if (!read.verification.ok) throw new CliError('FEDVAL_ERR_CLI_AUDIT', `${path} does not verify`);
    entries = read.entries;
  } catch (cause) {
    if (cause instanceof CliError) throw cause;
    throw new CliError('FEDVAL_ERR_CLI_AUDIT', `${path}: ${(cause as Error).message}`, { cause });
  }
  const details = entries.at(-1)?.details as { roster_sha256?: unknown; fingerprints?: unknown } | undefined;
  if (typeof details?.roster_sha256 !== 'string') return null;
  const fingerprints = typeof details.fingerprints === 'object' && details.fingerprints !== null ? (details.fingerprints as Record<string, string>) : {};
  return { sha256: details.roster_sha256, fingerprints };
}

/**
 * The pinned roster, checked against the trail: its SHA-256 must be the one the last `roster.pinned` / `roster.changed`
 * entry records, so an edit of roster.json without `fedval keys roster` (by whoever can write the directory) is refused.
 */
function loadPinnedRoster(dir: string): Roster {
  const path = join(dir, KEY_FILES.roster);
  if (!existsSync(path)) throw new CliError('FEDVAL_ERR_CLI_ROSTER', `${path}: no roster pinned; the privacy officer pins one with \`fedval keys roster --keys ${dir} --roster FILE\``);
  const roster = parseRoster(readFileSync(path, 'utf8'), path);
  const recorded = lastApprovedRoster(dir)?.sha256;
  if (recorded !== roster.sha256) {
    throw new CliError('FEDVAL_ERR_CLI_ROSTER', `${path} is not the roster the privacy officer approved (its SHA-256 is not the one in the trail); change it only with \`fedval keys roster\``);
  }
  return roster;
}

/** `study.json` of a key directory, as `fedval keys init` wrote it. */
const studyFileSchema = z.object({
  study_id: z.string().min(1),
  coordinator: z.string().min(1).optional(),
  min_sites: z.int().positive().optional(),
  /** The signing key `fedval keys init` used: `fedval decrypt` signs each release with it. */
  signing_key: z.string().min(1).optional(),
});

/** One line of `used-records.jsonl`: a record an earlier decryption used (@fedval/cli UsedRecord). */
const usedRecordSchema = z.strictObject({
  record_sha256: z.string(),
  site_id: z.string(),
  nonce: z.string(),
  round_id: z.string(),
  set_sha256: z.string(),
  contribution_sha256: z.string(),
});

/** Parses one of the key directory's own JSON documents; a file that does not parse is refused, never guessed at. */
function parseKeyFile<S extends z.ZodType>(schema: S, text: string, path: string): z.output<S> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new CliError('FEDVAL_ERR_CLI_KEYS_MISSING', `${path} is not JSON`, { cause });
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new CliError('FEDVAL_ERR_CLI_KEYS_MISSING', `${path}: ${listProblems(parsed.error).join('; ')}`);
  return parsed.data;
}

async function readStudyFile(dir: string): Promise<{ study_id: string; coordinator: string | undefined; min_sites: number; signing_key: string | undefined }> {
  const path = join(dir, KEY_FILES.study);
  const study = parseKeyFile(studyFileSchema, await readKeyFile(dir, KEY_FILES.study, 'utf8'), path);
  return { study_id: study.study_id, coordinator: study.coordinator, min_sites: study.min_sites ?? DEFAULT_RELEASE_POLICY.minSites, signing_key: study.signing_key };
}

function readUsedRecords(dir: string): UsedRecord[] {
  const path = join(dir, KEY_FILES.used);
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => parseKeyFile(usedRecordSchema, line, path));
}

export interface DecryptOptions {
  coordinator: string;
  round: string;
  keys: string;
  /** Fewest distinct rostered sites the key holder accepts, on top of the study's release.min_sites. Default 3. */
  minSites?: number | undefined;
  /** Publish the metrics to the coordinator after decryption. Default true. */
  release?: boolean;
  /**
   * The key holder's Ed25519 signing key, which signs the release statement. Default: the one `fedval keys init` used,
   * else `<keys>/signing.key`; a key directory with neither releases unsigned (reports of it are refused).
   */
  signingKey?: string | undefined;
  /** The releasing person's printed name in the signed release (21 CFR 11.50). Default: the OS account name. */
  signerName?: string | undefined;
  token?: string | undefined;
  /** Clock, epoch ms (tests). Default Date.now. */
  now?: () => number;
}

/**
 * Decrypts a round only from what the key holder verified itself: it fetches every contribution with its signed record,
 * checks each against the roster it pinned (contribution-verification.ts), refuses and records each bad one, adds the
 * accepted ciphertexts itself (@fedval/he EncryptedSum) and decrypts that sum only when it holds at least the release
 * minimum of distinct rostered sites: the larger of `minSites` (default 3), the study's release.min_sites pinned at
 * `keys init`, and the one the coordinator serves now. The coordinator's aggregate and its counts are never used.
 */
export async function decryptRound(options: DecryptOptions) {
  const now = options.now ?? Date.now;
  const study = await readStudyFile(options.keys);
  const roster = loadPinnedRoster(options.keys);
  const client = new CoordinatorClient(options.coordinator, options.token);
  const served = await client.call('GET', `/api/rounds/${encodeURIComponent(options.round)}/contributions`, roundContributionsResponseSchema);
  const roundObject = `round:${options.round}`;
  const minSites = Math.max(options.minSites ?? DEFAULT_RELEASE_POLICY.minSites, study.min_sites, served.min_sites);
  // The coordinator's trail head after it recorded this read: kept in every decision below as an anchor of its trail.
  const coordinatorHead = auditHeadDetails('coordinator', served.coordinator_audit_head);
  const refuseDecryption = (problem: string, details: Record<string, JsonValue> = {}): never => {
    recordKeyHolderEvent(options.keys, {
      action: 'decryption.refused',
      object: roundObject,
      reason: 'FEDVAL_ERR_CLI_RELEASE_POLICY',
      details: { round: options.round, study: study.study_id, min_sites: minSites, roster_sha256: roster.sha256, problem, ...coordinatorHead, ...details },
    });
    throw new CliError('FEDVAL_ERR_CLI_RELEASE_POLICY', problem);
  };
  if (served.round_id !== options.round || served.study_id !== study.study_id) {
    refuseDecryption(`the coordinator served round ${served.round_id} of study ${served.study_id}; these keys are for study ${study.study_id}`);
  }
  if (served.state !== 'aggregated' || served.closed_at === null) refuseDecryption(`the round is ${served.state}, not closed and aggregated`);

  const signingKeyPath = options.signingKey ?? study.signing_key ?? join(options.keys, KEY_FILES.signingKey);
  if (options.signingKey !== undefined && !existsSync(options.signingKey)) throw new CliError('FEDVAL_ERR_CLI_KEYS_MISSING', `${options.signingKey}: the key holder's signing key (--signing-key)`);
  // The study the release statement names (its name and model id): read before anything is decrypted, and refused when
  // it is not the study whose metric spec and privacy the contributions were verified against (the statement signs
  // the digests of those verified documents, never of a second answer).
  const signing = options.release !== false && existsSync(signingKeyPath);
  const studyView = signing ? await client.getStudy(study.study_id) : null;
  if (studyView !== null) {
    const differs = [
      studyView.study_id !== study.study_id ? 'study id' : null,
      releasedDocumentSha256(studyView.metric_spec) !== releasedDocumentSha256(served.metric_spec) ? 'metric spec' : null,
      releasedDocumentSha256(studyView.privacy) !== releasedDocumentSha256(served.privacy) ? 'privacy spec' : null,
    ].filter((item) => item !== null);
    if (differs.length > 0) refuseDecryption(`the coordinator serves the study with another ${differs.join(', ')} than the round's contributions: the release would sign parameters this key holder never checked`);
  }
  const publicKeySha256 = sha256(await readKeyFile(options.keys, KEY_FILES.public));
  const plan = validateBfvPlan(JSON.parse(await readKeyFile(options.keys, KEY_FILES.plan, 'utf8')));
  // The release as the served study describes it: each counted site must attest exactly its privacy (contribution-
  // verification.ts), and its noise shares must be sized for no more sites than this decryption requires.
  const release = createRelease(createStatisticsLayout(resolveMetricSpecInput(served.metric_spec)), served.privacy);
  if (release.kind === 'private' && release.noisePlan.minSites > minSites) {
    refuseDecryption(`the noise shares are sized for sums of ${release.noisePlan.minSites} sites; this key holder decrypts sums of ${minSites}`);
  }
  const verification = verifyContributions(served.contributions, {
    roster,
    publicKeySha256,
    planSha256: planSha256(plan),
    privacy: release.kind === 'private' ? { rho: release.rho, epsilon: release.epsilon, minSites: release.noisePlan.minSites } : null,
    studyId: study.study_id,
    roundId: options.round,
    window: { openedAt: Date.parse(served.created_at), closedAt: Date.parse(served.closed_at as string) },
    used: readUsedRecords(options.keys),
    now: now(),
    maxRecordAgeMs: DEFAULT_RELEASE_POLICY.maxRecordAgeMs,
    maxClockSkewMs: DEFAULT_RELEASE_POLICY.maxClockSkewMs,
  });
  const refusals: ContributionRefusal[] = [...verification.refused];

  if (planFingerprint(plan) !== planFingerprint(validateBfvPlan(served.plan))) {
    throw new CliError('FEDVAL_ERR_CLI_KEY_MISMATCH', 'the round was encrypted under another plan than these keys');
  }
  const context = await createHeContext(plan);
  try {
    // The key holder's own homomorphic sum: each accepted contribution is checked by @fedval/he before it counts.
    const sum = new EncryptedSum(context);
    const counted: AcceptedContribution[] = [];
    // Secure aggregation: the transcript the sites signed says which sum can be unmasked (U3, no more, no less).
    const transcript = served.secure_aggregation ?? null;
    const unmasking = transcript
      ? planUnmasking(transcript, { roster, studyId: study.study_id, roundId: options.round, attestations: new Map(verification.accepted.map((item) => [item.siteId, item.attestation])) })
      : null;
    if (unmasking && !unmasking.ok) refuseDecryption(`secure aggregation cannot be unmasked: ${unmasking.problem}`);
    const survivors = unmasking?.ok ? unmasking.survivors : null;
    for (const contribution of verification.accepted) {
      if (survivors && !survivors.includes(contribution.siteId)) {
        refusals.push({ siteId: contribution.siteId, reason: 'not_a_survivor', detail: 'not in the survivor set the sites signed', recordSha256: contribution.recordSha256 });
        continue;
      }
      try {
        sum.add({ ciphertexts: contribution.ciphertexts });
        counted.push(contribution);
      } catch (cause) {
        refusals.push({ siteId: contribution.siteId, reason: 'invalid_ciphertext', detail: String((cause as { code?: unknown }).code ?? (cause as Error).message), recordSha256: contribution.recordSha256 });
      }
    }
    for (const refusal of refusals) {
      recordKeyHolderEvent(options.keys, {
        action: 'contribution.refused',
        object: roundObject,
        reason: refusal.reason,
        details: { round: options.round, site: refusal.siteId, reason: refusal.reason, detail: refusal.detail, record_sha256: refusal.recordSha256, ...coordinatorHead },
      });
    }
    const sites = counted.map((contribution) => contribution.siteId);
    if (survivors && (sites.length !== survivors.length || survivors.some((site) => !sites.includes(site)))) {
      refuseDecryption(`secure aggregation: the survivors ${survivors.join(', ')} must all be summed, verified contributions: ${sites.join(', ')}`, { contributions: counted.length, sites });
    }
    if (counted.length < minSites) {
      refuseDecryption(
        `${counted.length} verified contributions from distinct rostered sites, the release policy requires at least ${minSites}` +
          (refusals.length > 0 ? ` (refused: ${refusals.map((refusal) => `${refusal.siteId} ${refusal.reason}`).join(', ')})` : ''),
        { contributions: counted.length, sites, refused: refusals.length },
      );
    }
    const aggregate = sum.toEncryptedVector();
    // The records this decryption uses, kept before the secret key touches the sum: none can count in another one.
    // Appended and fsynced (file and directory) before decryption: a crash after it cannot forget what was used.
    appendDurably(
      join(options.keys, KEY_FILES.used),
      counted
        .map((contribution) => `${JSON.stringify({ record_sha256: contribution.recordSha256, site_id: contribution.siteId, nonce: contribution.nonce, round_id: options.round, set_sha256: verification.setSha256, contribution_sha256: contribution.contributionSha256 } satisfies UsedRecord)}\n`)
        .join(''),
    );
    const policy = { round: options.round, study: study.study_id, contributions: counted.length, sites, min_sites: minSites, roster_sha256: roster.sha256, refused: refusals.length, ...coordinatorHead };
    recordKeyHolderEvent(options.keys, {
      action: 'aggregate.decrypted',
      object: roundObject,
      details: {
        ...policy,
        aggregate_sha256: sha256(Buffer.concat(aggregate.ciphertexts)),
        records_sha256: verification.setSha256,
        ...(unmasking?.ok ? { secure_aggregation: { threshold: unmasking.summary.threshold, dropped: unmasking.summary.dropped, recovered: unmasking.summary.recovered } } : {}),
      },
    });
    const secretKey = new Uint8Array(await readKeyFile(options.keys, KEY_FILES.secret));
    const slotUnmask = unmasking?.ok ? unmasking.slotUnmask(plan.ciphertextCount * plan.polyModulusDegree, BigInt(plan.plainModulus)) : undefined;
    const vector = decryptVector(context, secretKey, aggregate, counted.length, { slotUnmask });
    const released = finalizeRelease(release, vector, counted.length);
    const metrics = released.metrics;
    // Each site's own report of the budget it spent, from the attestation its signature covers.
    // Committed to in the release statement with a fresh salt, kept (and stripped) with them: see sitePrivacyCommitment.
    const dp = released.dp && {
      ...released.dp,
      sites_salt: newSitePrivacySalt(),
      sites: counted.map((contribution) => {
        const privacy = contribution.attestation?.privacy;
        return {
          site_id: contribution.siteId,
          // This round: ε if the other sites' noise shares are honest, and what the site's own share alone gives.
          epsilon: privacy?.epsilon ?? null,
          own_share_epsilon: privacy?.own_share_epsilon ?? null,
          epsilon_spent: privacy?.epsilon_spent ?? null,
          epsilon_remaining: privacy?.epsilon_remaining ?? null,
          epsilon_total: privacy?.epsilon_total ?? null,
        };
      }),
    };
    const encryption = bfvEncryptionSummary(plan);
    const aggregation = unmasking?.ok ? unmasking.summary : undefined;
    let releasedToCoordinator = false;
    let signedRelease: SignedReleaseStatement | null = null;
    if (options.release !== false) {
      // The released documents exactly as the coordinator will store and serve them (parsed by their schemas).
      const releasedMetrics = metricsReportSchema.parse(metrics);
      const releasedPrivacy = releasedPrivacySchema.parse({ dp, encryption, ...(aggregation ? { aggregation } : {}) });
      const keyHolderHead = auditHead(join(options.keys, KEY_FILES.audit), { maxLineBytes: KEY_HOLDER_AUDIT_LINE_BYTES });
      if (studyView !== null) {
        signedRelease = signReleaseStatement(keyHolderIdentity(signingKeyPath).privateKey, {
          studyId: study.study_id,
          roundId: options.round,
          studyName: studyView.name.slice(0, 256),
          modelId: studyView.model_id,
          // The documents the contributions were verified and the release finalized against.
          metricSpecSha256: releasedDocumentSha256(served.metric_spec),
          privacySpecSha256: served.privacy === null ? null : releasedDocumentSha256(served.privacy),
          minSites,
          metricsSha256: releasedDocumentSha256(releasedMetrics),
          ...releasedPrivacyDigests(releasedPrivacy),
          sites: [...sites].sort(),
          datasetCommitments: counted.map((contribution) => ({ siteId: contribution.siteId, commitment: contribution.attestation?.dataset_commitment ?? null })).sort((a, b) => (a.siteId < b.siteId ? -1 : 1)),
          roundCreatedAt: new Date(Date.parse(served.created_at)).toISOString(),
          roundClosedAt: new Date(Date.parse(served.closed_at as string)).toISOString(),
          rosterSha256: roster.sha256,
          keyHolderAuditHead: keyHolderHead,
          coordinatorAuditHead: served.coordinator_audit_head,
          software: `fedval ${SOFTWARE_VERSION}`,
          signerName: (options.signerName ?? operatorName()).slice(0, 200),
          signedAt: new Date(now()).toISOString(),
          meaning: RELEASE_MEANING,
        });
      }
      try {
        await client.call('POST', `/api/rounds/${encodeURIComponent(options.round)}/release`, releaseResponseSchema, {
          metrics: releasedMetrics as unknown as Record<string, unknown>,
          contributions: counted.length,
          sites,
          privacy: releasedPrivacy,
          // This trail's head: the coordinator records it with the release, an anchor of the key holder's trail.
          key_holder_audit_head: keyHolderHead,
          ...(signedRelease ? { signed_release: signedRelease } : {}),
        });
      } catch (cause) {
        // Recorded only now: the release was refused, and the trail says so with the reason.
        recordKeyHolderEvent(options.keys, {
          action: 'release.refused',
          object: roundObject,
          reason: (cause as { code?: string }).code ?? 'FEDVAL_ERR_CLI_API',
          details: { round: options.round, study: study.study_id, contributions: counted.length, detail: (cause as Error).message.slice(0, 500) },
        });
        throw new CliError('FEDVAL_ERR_CLI_RELEASE_REFUSED', (cause as Error).message, { cause });
      }
      recordKeyHolderEvent(options.keys, {
        action: 'result.released',
        object: roundObject,
        details: {
          round: options.round, study: study.study_id, contributions: counted.length, sites, metrics_sha256: sha256(JSON.stringify(metrics)),
          ...(signedRelease ? { release_statement_sha256: releasedDocumentSha256(signedRelease), signer_name: signedRelease.statement.signerName, meaning: RELEASE_MEANING } : { release_statement_sha256: null }),
        },
      });
      releasedToCoordinator = true;
    }
    return {
      metrics,
      round: { round_id: options.round, study_id: study.study_id, contributions: counted.length, sites, min_sites: minSites, released: releasedToCoordinator },
      verification: { roster_sha256: roster.sha256, accepted: sites, refused: refusals.map((refusal) => ({ site_id: refusal.siteId, reason: refusal.reason, detail: refusal.detail })) },
      privacy: { dp, encryption, ...(aggregation ? { aggregation } : {}) },
      signed_release: signedRelease,
      /** The signing key that signed the release (for the report made right after it). */
      signing_key: signingKeyPath,
    };
  } finally {
    context.dispose();
  }
}

/** The software version a release statement names. */
const SOFTWARE_VERSION = packageVersion(new URL('../package.json', import.meta.url));

/** Appends `text` to `path` (created 0600) and fsyncs the file and, when it was created, its directory. */
function appendDurably(path: string, text: string): void {
  const created = !existsSync(path);
  const fd = openSync(path, 'a', 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  if (created && process.platform !== 'win32') {
    const dirFd = openSync(dirname(path), 'r');
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
  }
}

async function readKeyFile(dir: string, name: string): Promise<Buffer>;
async function readKeyFile(dir: string, name: string, encoding: 'utf8'): Promise<string>;
async function readKeyFile(dir: string, name: string, encoding?: 'utf8'): Promise<Buffer | string> {
  try {
    return encoding ? await readFile(join(dir, name), encoding) : await readFile(join(dir, name));
  } catch (cause) {
    throw new CliError('FEDVAL_ERR_CLI_KEYS_MISSING', `${join(dir, name)} cannot be read`, { cause });
  }
}

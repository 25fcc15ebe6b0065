// key-holder.ts — the privacy officer's key custody: create the study key pair, decrypt only released aggregates.
import { createHash } from 'node:crypto';
import { contributionDigest, roundAggregateResponseSchema } from '@fedval/protocol';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { AuditLog, auditHead, auditHeadDetails } from '@fedval/trust';
import type { AuditEvent } from '@fedval/trust';
import { bfvEncryptionSummary, createHeContext, decryptVector, generateKeyPair, planFingerprint, validateBfvPlan } from '@fedval/he';
import { createRelease, finalizeRelease } from '@fedval/dp';
import { createStatisticsLayout, resolveMetricSpecInput } from '@fedval/metrics';
import { CoordinatorClient } from './coordinator-client.ts';
import { CliError } from './errors.ts';

/** Files of a key directory. The secret key never leaves it; only `public.key` is sent to the coordinator. */
export const KEY_FILES = Object.freeze({ secret: 'secret.key', public: 'public.key', plan: 'plan.json', study: 'study.json', audit: 'audit.jsonl' });

const sha256 = (bytes: Uint8Array | string): string => createHash('sha256').update(bytes).digest('hex');

/**
 * The key holder's own hash-chained audit trail, `<keys>/audit.jsonl` (AuditLog of @fedval/trust): keys created,
 * every decryption (or refusal, with the reason) and every release, each written before the action it records.
 */
function recordKeyHolderEvent(dir: string, event: Omit<AuditEvent, 'actor'>): void {
  let log: AuditLog | undefined;
  try {
    log = AuditLog.open(join(dir, KEY_FILES.audit));
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
  minSites: 3, // fewest contributions an aggregate must hold to be decrypted
});

export interface InitKeysOptions {
  coordinator: string;
  study: string;
  out: string;
  token?: string | undefined;
}

/** Creates the study's key pair on the key holder's machine, keeps the secret key there, registers the public key. */
export async function initKeys(options: InitKeysOptions): Promise<{ study_id: string; public_key_bytes: number; plan_fingerprint: string }> {
  const client = new CoordinatorClient(options.coordinator, options.token);
  const { plan } = await client.get<{ plan: unknown }>(`/api/studies/${encodeURIComponent(options.study)}/encryption`);
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
  await writeFile(join(options.out, KEY_FILES.plan), `${JSON.stringify(checked, null, 2)}\n`);
  await writeFile(join(options.out, KEY_FILES.study), `${JSON.stringify({ study_id: options.study, coordinator: options.coordinator }, null, 2)}\n`);
  recordKeyHolderEvent(options.out, {
    action: 'keys.created',
    object: `study:${options.study}`,
    details: { study: options.study, coordinator: options.coordinator, plan_fingerprint: planFingerprint(checked), public_key_sha256: sha256(keys.publicKey) },
  });
  await client.request('PUT', `/api/studies/${encodeURIComponent(options.study)}/public-key`, {
    public_key_base64: Buffer.from(keys.publicKey).toString('base64'),
  });
  return { study_id: options.study, public_key_bytes: keys.publicKey.byteLength, plan_fingerprint: planFingerprint(checked) };
}

export interface DecryptOptions {
  coordinator: string;
  round: string;
  keys: string;
  /** Fewest contributions the key holder accepts, on top of the study's own policy. Default 3. */
  minSites?: number | undefined;
  /** Publish the metrics to the coordinator after decryption. Default true. */
  release?: boolean;
  token?: string | undefined;
}

/**
 * Decrypts a round's aggregate after checking the release policy: the round is closed, it holds at
 * least `minSites` contributions (the larger of the study's and the key holder's), and every
 * contribution is accounted for by a contributing site. The ciphertexts must be an aggregate made by
 * the homomorphic sum: an individual site's ciphertext is refused by @fedval/he.
 */
export async function decryptRound(options: DecryptOptions) {
  const client = new CoordinatorClient(options.coordinator, options.token);
  const certificate = await client.call('GET', `/api/rounds/${encodeURIComponent(options.round)}/aggregate`, roundAggregateResponseSchema);
  const minSites = Math.max(options.minSites ?? DEFAULT_RELEASE_POLICY.minSites, certificate.min_sites);
  const problems: string[] = [];
  if (certificate.state !== 'aggregated' || certificate.closed_at === null) problems.push(`the round is ${certificate.state}, not closed and aggregated`);
  if (certificate.contributions < minSites) problems.push(`${certificate.contributions} contributions, the release policy requires at least ${minSites}`);
  if (certificate.contributing_sites.length !== certificate.contributions || new Set(certificate.contributing_sites).size !== certificate.contributions) {
    problems.push('the contributions are not accounted for by distinct contributing sites');
  }
  const roundObject = `round:${certificate.round_id}`;
  const policy = {
    round: certificate.round_id, study: certificate.study_id, contributions: certificate.contributions, contributing_sites: certificate.contributing_sites, min_sites: minSites,
    // The coordinator's trail head after it recorded this read: kept here as an anchor of its trail.
    ...auditHeadDetails('coordinator', certificate.coordinator_audit_head),
  };
  if (problems.length > 0) {
    recordKeyHolderEvent(options.keys, { action: 'decryption.refused', object: roundObject, reason: 'FEDVAL_ERR_CLI_RELEASE_POLICY', details: { ...policy, problems } });
    throw new CliError('FEDVAL_ERR_CLI_RELEASE_POLICY', problems.join('; '));
  }

  const plan = validateBfvPlan(JSON.parse(await readKeyFile(options.keys, KEY_FILES.plan, 'utf8')));
  if (planFingerprint(plan) !== planFingerprint(validateBfvPlan(certificate.plan))) {
    throw new CliError('FEDVAL_ERR_CLI_KEY_MISMATCH', 'the round was encrypted under another plan than these keys');
  }
  const secretKey = new Uint8Array(await readKeyFile(options.keys, KEY_FILES.secret));
  const ciphertexts = certificate.ciphertexts_base64.map((text) => new Uint8Array(Buffer.from(text, 'base64')));
  // What is about to be decrypted, written before the secret key touches it.
  recordKeyHolderEvent(options.keys, { action: 'aggregate.decrypted', object: roundObject, details: { ...policy, aggregate_sha256: contributionDigest({ kind: 'bfv', ciphertexts }).sha256 } });
  const context = await createHeContext(plan);
  let vector: Float64Array;
  try {
    vector = decryptVector(context, secretKey, { ciphertexts }, certificate.contributions);
  } finally {
    context.dispose();
  }
  const layout = createStatisticsLayout(resolveMetricSpecInput(certificate.metric_spec));
  const released = finalizeRelease(createRelease(layout, certificate.privacy), vector, certificate.contributions);
  const metrics = released.metrics;
  const dp = released.dp && {
    ...released.dp,
    sites: certificate.sites
      .filter((site) => site.status === 'contributed')
      .map((site) => ({
        site_id: site.site_id,
        // This round: ε if the other sites' noise shares are honest, and what the site's own share alone gives.
        epsilon: site.privacy?.epsilon ?? null,
        own_share_epsilon: site.privacy?.own_share_epsilon ?? null,
        epsilon_spent: site.privacy?.epsilon_spent ?? null,
        epsilon_remaining: site.privacy?.epsilon_remaining ?? null,
        epsilon_total: site.privacy?.epsilon_total ?? null,
      })),
  };
  const encryption = bfvEncryptionSummary(plan);
  if (options.release !== false) {
    recordKeyHolderEvent(options.keys, {
      action: 'result.released',
      object: roundObject,
      details: { round: certificate.round_id, study: certificate.study_id, contributions: certificate.contributions, metrics_sha256: sha256(JSON.stringify(metrics)) },
    });
    await client.post(`/api/rounds/${encodeURIComponent(options.round)}/release`, {
      metrics,
      contributions: certificate.contributions,
      privacy: { dp, encryption },
      // This trail's head: the coordinator records it with the release, an anchor of the key holder's trail.
      key_holder_audit_head: auditHead(join(options.keys, KEY_FILES.audit)),
    });
  }
  return { metrics, round: { round_id: certificate.round_id, study_id: certificate.study_id, contributions: certificate.contributions }, privacy: { dp, encryption } };
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

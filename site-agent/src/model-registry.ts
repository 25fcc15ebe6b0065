// model-registry.ts — the model bundles this site has received, their sponsor signers, the admin's approvals, and the site's rule for running one.
import type { DatabaseSync } from 'node:sqlite';
import { z } from 'zod';
import type { AgentConfig } from './config.ts';
import { AgentError } from './errors.ts';

/** A received bundle as the site admin reviews it. Never holds data: the manifest's descriptive fields only. */
export interface ReceivedModel {
  bundleSha256: string;
  name: string;
  version: string;
  /** Data columns the model reads, in manifest order. */
  inputs: string[];
  /** SHA-256 fingerprint of the sponsor key that signed the manifest; null when unsigned. */
  signerFingerprint: string | null;
  receivedAt: string;
  /** Set once the site admin approved the bundle. */
  approval: { at: string; by: string; note: string | null } | null;
}

/** Why a bundle may run: signed by a trusted sponsor, approved by the site admin, or the testing-only `any` policy. */
export type ModelRunBasis = 'trusted_sponsor' | 'site_admin' | 'any';

/**
 * The site's rule (policy.model_approval) for a bundle whose signature has been checked: `signer` is the verified
 * signer's fingerprint, or null for an unsigned manifest (a signature that fails to verify never gets here).
 * Returns why it may run, or throws the coded refusal.
 */
export function decideModelRun(
  policy: Pick<AgentConfig['policy'], 'model_approval' | 'trusted_sponsor_keys'>,
  signer: string | null,
  approvedBySiteAdmin: boolean,
): ModelRunBasis {
  if (signer !== null && policy.trusted_sponsor_keys.includes(signer)) return 'trusted_sponsor';
  if (policy.model_approval === 'any') return 'any';
  if (signer === null) throw new AgentError('FEDVAL_ERR_AGENT_MODEL_SIGNATURE', 'the manifest carries no sponsor signature');
  if (policy.model_approval === 'allow_list') {
    throw new AgentError('FEDVAL_ERR_AGENT_MODEL_UNTRUSTED', `signer ${signer} is not in policy.trusted_sponsor_keys`);
  }
  if (approvedBySiteAdmin) return 'site_admin';
  throw new AgentError('FEDVAL_ERR_AGENT_MODEL_NOT_APPROVED', 'the site administrator reviews it with `fedval-agent models` and `fedval-agent approve`');
}

/** The `model_bundles` table of agent.sqlite. */
export class ModelRegistry {
  readonly #db: DatabaseSync;

  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  /** Records a received bundle (once per SHA-256; a later copy keeps the first record and its approval). */
  recordReceived(model: Omit<ReceivedModel, 'receivedAt' | 'approval'>): ReceivedModel {
    this.#db
      .prepare('INSERT OR IGNORE INTO model_bundles (bundle_sha256, name, version, inputs, signer_fingerprint, received_at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(model.bundleSha256, model.name, model.version, JSON.stringify(model.inputs), model.signerFingerprint, Date.now());
    return this.get(model.bundleSha256)!;
  }

  get(bundleSha256: string): ReceivedModel | undefined {
    const row = this.#db.prepare('SELECT * FROM model_bundles WHERE bundle_sha256 = ?').get(bundleSha256);
    return row === undefined ? undefined : modelBundleRowSchema.parse(row);
  }

  /** Every received bundle, oldest first. */
  list(): ReceivedModel[] {
    return this.#db
      .prepare('SELECT * FROM model_bundles ORDER BY received_at, bundle_sha256')
      .all()
      .map((row) => modelBundleRowSchema.parse(row));
  }

  /** Marks a received bundle approved. Throws FEDVAL_ERR_AGENT_MODEL_UNKNOWN for a bundle this site never received. */
  approve(bundleSha256: string, by: string, note: string | null): ReceivedModel {
    const changed = this.#db
      .prepare('UPDATE model_bundles SET approved_at = ?, approved_by = ?, approval_note = ? WHERE bundle_sha256 = ?')
      .run(Date.now(), by, note, bundleSha256);
    if (Number(changed.changes) !== 1) throw new AgentError('FEDVAL_ERR_AGENT_MODEL_UNKNOWN', 'see `fedval-agent models` for the bundles received');
    return this.get(bundleSha256)!;
  }
}

const isoTime = z.number().int().transform((ms) => new Date(ms).toISOString());

/** A row of `model_bundles`, parsed (its `inputs` column holds the JSON list of column names). */
const modelBundleRowSchema = z
  .object({
    bundle_sha256: z.string(),
    name: z.string(),
    version: z.string(),
    inputs: z
      .string()
      .transform((text): unknown => JSON.parse(text))
      .pipe(z.array(z.string())),
    signer_fingerprint: z.string().nullable(),
    received_at: isoTime,
    approved_at: isoTime.nullable(),
    approved_by: z.string().nullable(),
    approval_note: z.string().nullable(),
  })
  .transform(
    (row): ReceivedModel => ({
      bundleSha256: row.bundle_sha256,
      name: row.name,
      version: row.version,
      inputs: row.inputs,
      signerFingerprint: row.signer_fingerprint,
      receivedAt: row.received_at,
      approval: row.approved_at === null ? null : { at: row.approved_at, by: row.approved_by ?? '', note: row.approval_note },
    }),
  );

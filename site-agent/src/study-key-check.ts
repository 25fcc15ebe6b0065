// study-key-check.ts — the site's check, before any data is read, that a BFV task's public key is the one the privacy officer's key holder vouched for.
import { createHash } from 'node:crypto';
import { planSha256 } from '@fedval/he';
import type { TaskContent } from '@fedval/protocol';
import { verifyStudyKeyStatement } from '@fedval/trust';
import type { VerifiedStudyKeyStatement } from '@fedval/trust';
import type { AgentConfig } from './config.ts';
import { AgentError } from './errors.ts';
import type { KeyStatementVersions } from './key-statement-versions.ts';

/** Who this site is, as the key holder's roster names it: its id and, for an enrolled site, its key's SHA-256 fingerprint. */
export interface SiteIdentity {
  siteId: string;
  /** Fingerprint of the enrolled site key; undefined for a token-configured site (checked by id only). */
  fingerprint: string | undefined;
}

/**
 * Verifies the key statement of a BFV task (`signed`: the one it carries, or the one it names by digest, from
 * key-statement-source.ts) against `policy.key_holder_keys`: signed by a pinned key holder key,
 * naming this task's study, the SHA-256 of its plan and of its public key bytes. Without it a malicious coordinator
 * could hand the site a public key whose secret key it holds, and decrypt this one site's contribution. Throws
 * FEDVAL_ERR_AGENT_POLICY_NO_KEY_HOLDER (nothing pinned: the secure default refuses every BFV task) or
 * FEDVAL_ERR_AGENT_KEY_UNAUTHENTICATED (missing statement, unpinned signer, bad signature, another study, plan or key),
 * with the @fedval/trust error as cause. Then the statement must name this site on its roster
 * (FEDVAL_ERR_AGENT_NOT_ON_ROSTER: the id, and the key fingerprint of an enrolled site) and be no older than the highest
 * version this site verified for the study (FEDVAL_ERR_AGENT_KEY_STATEMENT_OUTDATED; a newer one is kept as highest).
 * Returns the verified statement (its roster and release minimum).
 */
export function checkStudyKey(
  policy: AgentConfig['policy'],
  task: TaskContent,
  site: SiteIdentity,
  versions: KeyStatementVersions,
  signed: unknown = task.contribution.kind === 'bfv' ? task.contribution.keyStatement : undefined,
): VerifiedStudyKeyStatement | undefined {
  const request = task.contribution;
  if (request.kind !== 'bfv') return undefined;
  if (policy.key_holder_keys.length === 0) {
    throw new AgentError('FEDVAL_ERR_AGENT_POLICY_NO_KEY_HOLDER', "pin the privacy officer's key holder key (`fedval keys identity` prints it) under policy.key_holder_keys");
  }
  if (signed === undefined) throw new AgentError('FEDVAL_ERR_AGENT_KEY_UNAUTHENTICATED', 'the task carries no key statement');
  let statement: VerifiedStudyKeyStatement;
  try {
    statement = verifyStudyKeyStatement(signed, policy.key_holder_keys, {
      studyId: task.studyId,
      planSha256: planSha256(request.plan),
      publicKeySha256: createHash('sha256').update(request.publicKey).digest('hex'),
    });
  } catch (cause) {
    const code = (cause as { code?: unknown }).code;
    throw new AgentError('FEDVAL_ERR_AGENT_KEY_UNAUTHENTICATED', typeof code === 'string' ? code : 'does not verify', { cause });
  }
  // The roster is the key holder's list of the sites whose records it counts: a site left off it (or listed under
  // another key) would spend its budget on a contribution that is never summed, or summed among sites it did not expect.
  const entry = statement.roster.find((rostered) => rostered.siteId === site.siteId);
  if (entry === undefined) throw new AgentError('FEDVAL_ERR_AGENT_NOT_ON_ROSTER', `${site.siteId} is not on the roster of version ${statement.version}`);
  if (site.fingerprint !== undefined && entry.fingerprint !== site.fingerprint) {
    throw new AgentError('FEDVAL_ERR_AGENT_NOT_ON_ROSTER', `the roster pins another key for ${site.siteId} (${entry.fingerprint.slice(0, 16)}…)`);
  }
  versions.accept(task.studyId, statement.version, statement.keyHolderFingerprint);
  return statement;
}

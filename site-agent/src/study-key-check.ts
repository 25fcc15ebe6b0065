// study-key-check.ts — the site's check, before any data is read, that a BFV task's public key is the one the privacy officer's key holder vouched for.
import { createHash } from 'node:crypto';
import { planSha256 } from '@fedval/he';
import type { TaskContent } from '@fedval/protocol';
import { verifyStudyKeyStatement } from '@fedval/trust';
import type { VerifiedStudyKeyStatement } from '@fedval/trust';
import type { AgentConfig } from './config.ts';
import { AgentError } from './errors.ts';

/**
 * Verifies the key statement a BFV task carries against `policy.key_holder_keys`: signed by a pinned key holder key,
 * naming this task's study, the SHA-256 of its plan and of its public key bytes. Without it a malicious coordinator
 * could hand the site a public key whose secret key it holds, and decrypt this one site's contribution. Throws
 * FEDVAL_ERR_AGENT_POLICY_NO_KEY_HOLDER (nothing pinned: the secure default refuses every BFV task) or
 * FEDVAL_ERR_AGENT_KEY_UNAUTHENTICATED (missing statement, unpinned signer, bad signature, another study, plan or key),
 * with the @fedval/trust error as cause. Returns the verified statement (its roster and release minimum).
 */
export function checkStudyKey(policy: AgentConfig['policy'], task: TaskContent): VerifiedStudyKeyStatement | undefined {
  const request = task.contribution;
  if (request.kind !== 'bfv') return undefined;
  if (policy.key_holder_keys.length === 0) {
    throw new AgentError('FEDVAL_ERR_AGENT_POLICY_NO_KEY_HOLDER', "pin the privacy officer's key holder key (`fedval keys identity` prints it) under policy.key_holder_keys");
  }
  if (request.keyStatement === undefined) throw new AgentError('FEDVAL_ERR_AGENT_KEY_UNAUTHENTICATED', 'the task carries no key statement');
  try {
    return verifyStudyKeyStatement(request.keyStatement, policy.key_holder_keys, {
      studyId: task.studyId,
      planSha256: planSha256(request.plan),
      publicKeySha256: createHash('sha256').update(request.publicKey).digest('hex'),
    });
  } catch (cause) {
    const code = (cause as { code?: unknown }).code;
    throw new AgentError('FEDVAL_ERR_AGENT_KEY_UNAUTHENTICATED', typeof code === 'string' ? code : 'does not verify', { cause });
  }
}

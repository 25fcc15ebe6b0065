// contribution-encryption.ts — turns the vector a site releases into what leaves it: BFV ciphertexts under the study's
// public key (or, as a test seam, the vector itself).
import { encryptVector } from '@fedval/he';
import type { Contribution, TaskContent } from '@fedval/protocol';
import { AgentError } from './errors.ts';
import { heContexts } from './he-context-cache.ts';
import { saturateToPlan } from './plan-bounds.ts';

/**
 * Encrypts `released` as the task's contribution request says. Entries beyond the plan's bounds are saturated first
 * (plan-bounds.ts: never a refusal that would answer a question about the data); `saturated` counts them, for the
 * site's own log only. `slotMask`, under secure aggregation: the mask of every slot (count, t) → residues in [0, t),
 * added mod t after packing (@fedval/he encrypt's slotMask).
 */
export async function encryptContribution(
  released: Float64Array,
  request: TaskContent['contribution'],
  slotMask?: (slots: number, plainModulus: bigint) => BigUint64Array,
): Promise<{ contribution: Contribution; saturated: number }> {
  if (request.kind === 'plaintext') return { contribution: { kind: 'plaintext', vector: new Float64Array(released) }, saturated: 0 };
  const context = await heContexts.get(request.plan);
  if (context.plan.vectorLength !== released.length) {
    throw new AgentError('FEDVAL_ERR_AGENT_INVALID_TASK', `the encryption plan carries ${context.plan.vectorLength} entries, the statistics have ${released.length}`);
  }
  const { vector, saturated } = saturateToPlan(released, context.plan);
  const mask = slotMask?.(context.plan.ciphertextCount * context.plan.polyModulusDegree, BigInt(context.plan.plainModulus));
  const encrypted = encryptVector(context, request.publicKey, vector, { slotMask: mask });
  return { contribution: { kind: 'bfv', ciphertexts: encrypted.ciphertexts.map((bytes) => new Uint8Array(bytes)) }, saturated };
}

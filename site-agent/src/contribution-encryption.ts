// contribution-encryption.ts — turns the vector a site releases into what leaves it: BFV ciphertexts under the study's
// public key (or, as a test seam, the vector itself).
import { createHeContext, encryptVector } from '@fedval/he';
import type { Contribution, TaskContent } from '@fedval/protocol';
import { AgentError } from './errors.ts';

/** Encrypts `vector` as the task's contribution request says; throws a coded @fedval/he error when a count exceeds the plan. */
/**
 * `slotMask`, under secure aggregation: the mask of every slot (count, t) → residues in [0, t), added mod t after packing
 * (@fedval/he encrypt's slotMask).
 */
export async function encryptContribution(
  vector: Float64Array,
  request: TaskContent['contribution'],
  slotMask?: (slots: number, plainModulus: bigint) => BigUint64Array,
): Promise<Contribution> {
  if (request.kind === 'plaintext') return { kind: 'plaintext', vector: new Float64Array(vector) };
  const context = await createHeContext(request.plan);
  try {
    if (context.plan.vectorLength !== vector.length) {
      throw new AgentError('FEDVAL_ERR_AGENT_INVALID_TASK', `the encryption plan carries ${context.plan.vectorLength} entries, the statistics have ${vector.length}`);
    }
    // Throws a coded @fedval/he error when a count exceeds the plan's bounds (e.g. more patients than planned).
    const mask = slotMask?.(context.plan.ciphertextCount * context.plan.polyModulusDegree, BigInt(context.plan.plainModulus));
    const encrypted = encryptVector(context, request.publicKey, vector, { slotMask: mask });
    return { kind: 'bfv', ciphertexts: encrypted.ciphertexts.map((bytes) => new Uint8Array(bytes)) };
  } finally {
    context.dispose();
  }
}

// @fedval/he — homomorphic aggregation of integer statistics vectors with BFV (Microsoft SEAL via node-seal).
export { planBfvParameters, validateBfvPlan, bfvPlanSchema, bfvEncryptionSummary, bfvEncryptionSummarySchema, planFingerprint, planSha256 } from './plan.ts';
export type { BfvPlanRequest, BfvPlan, BfvEncryptionSummary } from './plan.ts';
export { createHeContext } from './context.ts';
export type { HeContext } from './context.ts';
export { generateKeyPair } from './keys.ts';
export type { HeKeyPair } from './keys.ts';
export { encryptVector, VectorEncryptor, addSlotMask } from './encrypt.ts';
export type { EncryptOptions } from './encrypt.ts';
export { EncryptedSum } from './encrypted-sum.ts';
export { decryptVector, decryptAggregateSlots, measureNoiseBudget } from './decrypt.ts';
export type { DecryptOptions } from './decrypt.ts';
export type { EncryptedVector } from './wire-format.ts';
export type { NoiseBoundModel } from './noise.ts';
export type { SecurityBits } from './security.ts';
export { DEFAULT_HE_LIMITS } from './limits.ts';
export type { HeLimits } from './limits.ts';
export { HeError, HE_ERROR_MESSAGES } from './errors.ts';
export type { HeErrorCode } from './errors.ts';

// @fedval/secagg — secure-aggregation primitives (Bonawitz et al., CCS 2017, double masking) on node:crypto alone.
export { SECAGG_LABEL } from './context.ts';
export type { AgreementPurpose, PairContext } from './context.ts';
export { agreeSecret, agreementPublicKey, generateAgreementKeyPair, x25519 } from './key-agreement.ts';
export type { AgreementKeyPair } from './key-agreement.ts';
export { expandMask, MAX_MASK_LENGTH } from './prg.ts';
export { centeredRepresentatives, liftToResidues } from './residues.ts';
export { maskCorrection, maskVector, PAIRWISE_MASK_INFO, SELF_MASK_INFO, unmaskSum } from './masking.ts';
export type { DroppedPairMask, MaskSeeds, PairwiseMask, UnmaskSeeds } from './masking.ts';
export { canonicalSiteOrder, compareSiteIds, pairwiseSign } from './site-order.ts';
export {
  combineShares, decodeShareY, encodeShareY, MAX_SHAREHOLDERS, SHAMIR_PRIME, SHARE_Y_BYTES, shareholderXs, splitSecret,
} from './shamir.ts';
export type { AddressedShare, Share } from './shamir.ts';
export { openShares, SEALED_SHARES_BYTES, sealShares } from './share-transport.ts';
export type { ShareTransportBinding, SiteShares } from './share-transport.ts';
export { defaultThreshold, validateThreshold } from './threshold.ts';
export { decideUnmasking, EMPTY_UNMASKING_MEMORY } from './unmasking.ts';
export type { RevealKind, UnmaskingDecision, UnmaskingInput, UnmaskingMemory, UnmaskingRequest } from './unmasking.ts';
export { systemRandomBytes } from './random-source.ts';
export type { RandomBytes } from './random-source.ts';
export { SECAGG_ERROR_MESSAGES, SecaggError } from './errors.ts';
export type { SecaggErrorCode } from './errors.ts';

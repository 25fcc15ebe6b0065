// context.ts — the byte encoding of what a derived key is bound to (purpose, study, round, the two sites).
import { SecaggError } from './errors.ts';
import { compareSiteIds } from './site-order.ts';

/** Version label of every derivation and encryption of this package; changes only with an incompatible format. */
export const SECAGG_LABEL = 'fedval/secagg/v1';

/** What a pairwise secret is used for; each purpose gets an independent key from the same X25519 pair. */
export type AgreementPurpose = 'pairwise-mask' | 'share-transport';

/** What a pairwise secret is for, the round and the two sites it belongs to. The order of `siteA`/`siteB` does not matter. */
export interface PairContext {
  purpose: AgreementPurpose;
  studyId: string;
  roundId: string;
  siteA: string;
  siteB: string;
}

/** UTF-8 of `text` preceded by its byte length as a 4-byte big-endian integer. */
export function lengthPrefixed(text: string): Buffer {
  const bytes = Buffer.from(text, 'utf8');
  const length = Buffer.alloc(4);
  length.writeUInt32BE(bytes.length);
  return Buffer.concat([length, bytes]);
}

/**
 * HKDF `info` of a pairwise secret: lp(label) ‖ lp(purpose) ‖ lp(studyId) ‖ lp(roundId) ‖ lp(low id) ‖ lp(high id),
 * where lp is {@link lengthPrefixed} and low/high are the two site ids in canonical order.
 */
export function pairInfo(context: PairContext): Buffer {
  checkPairContext(context);
  const [low, high] = compareSiteIds(context.siteA, context.siteB) < 0 ? [context.siteA, context.siteB] : [context.siteB, context.siteA];
  return Buffer.concat([SECAGG_LABEL, context.purpose, context.studyId, context.roundId, low, high].map(lengthPrefixed));
}

export function checkPairContext(context: PairContext): void {
  if (context === null || typeof context !== 'object') throw new SecaggError('FEDVAL_ERR_SECAGG_INVALID_ARGUMENT', 'context is not an object');
  if (context.purpose !== 'pairwise-mask' && context.purpose !== 'share-transport') {
    throw new SecaggError('FEDVAL_ERR_SECAGG_INVALID_ARGUMENT', "context.purpose must be 'pairwise-mask' or 'share-transport'");
  }
  for (const key of ['studyId', 'roundId', 'siteA', 'siteB'] as const) {
    const value = context[key];
    if (typeof value !== 'string' || value.length === 0) throw new SecaggError('FEDVAL_ERR_SECAGG_INVALID_ARGUMENT', `context.${key} must be a non-empty string`);
  }
  if (context.siteA === context.siteB) throw new SecaggError('FEDVAL_ERR_SECAGG_INVALID_ARGUMENT', 'context names the same site twice');
}

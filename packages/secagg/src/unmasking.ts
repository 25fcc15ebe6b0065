// unmasking.ts — which shares a surviving site reveals in the unmasking round, and the per-round memory that stops it
// from ever revealing both secrets of one site (Bonawitz et al., CCS 2017, Round 4 Unmasking: b_{v,u} for v ∈ U3, s^SK_{v,u} for
// v ∈ U2 \ U3, never both for one v; their security argument rests on it).
import { SecaggError } from './errors.ts';
import { canonicalSiteOrder } from './site-order.ts';

/** Which of a site's two secrets a share opens: its self-mask seed b_v, or its pairwise agreement key s_v^SK. */
export type RevealKind = 'self-mask-seed' | 'agreement-key';

/** What this site already revealed in this round, per owner site. Persist it before sending the shares. */
export interface UnmaskingMemory {
  readonly revealed: Readonly<Record<string, RevealKind>>;
}

/** The empty memory of a round in which nothing was revealed yet. */
export const EMPTY_UNMASKING_MEMORY: UnmaskingMemory = Object.freeze({ revealed: Object.freeze({}) });

/** The coordinator's unmasking request as this site checks it. */
export interface UnmaskingRequest {
  /** U3: the sites whose masked vectors are in the sum (consistency-checked). */
  masked: readonly string[];
  /** U2 \ U3: the sites that shared keys but whose masked vector is not in the sum. */
  dropped: readonly string[];
}

export interface UnmaskingDecision {
  /** One entry per site of U2, in canonical order: the share of that site's secret this site sends. */
  reveal: readonly { siteId: string; kind: RevealKind }[];
  /** The memory to persist (before sending) for this round. */
  memory: UnmaskingMemory;
}

export interface UnmaskingInput {
  /** This site's id. */
  self: string;
  /** U2: every site whose shares this site holds (this site included), i.e. that completed the share exchange. */
  shareholders: readonly string[];
  /** The round's Shamir threshold. */
  threshold: number;
  request: UnmaskingRequest;
  /** What this site already revealed in this round ({@link EMPTY_UNMASKING_MEMORY} at first). */
  memory: UnmaskingMemory;
}

function ids(value: unknown, what: string): string[] {
  if (!Array.isArray(value)) throw new SecaggError('FEDVAL_ERR_SECAGG_INCONSISTENT_SETS', `${what} is not a list of site ids`);
  try {
    return canonicalSiteOrder(value as string[]);
  } catch (cause) {
    throw new SecaggError('FEDVAL_ERR_SECAGG_INCONSISTENT_SETS', `${what} has an empty or repeated site id`, { cause });
  }
}

/**
 * Decides which shares to reveal, or refuses with a coded error: the masked and dropped sets must be disjoint and
 * together exactly the shareholders (FEDVAL_ERR_SECAGG_INCONSISTENT_SETS), this site must be among the masked
 * (FEDVAL_ERR_SECAGG_LIVE_SITE_REPORTED_DROPPED when it is reported dropped), at least `threshold` sites must be
 * masked (FEDVAL_ERR_SECAGG_TOO_FEW_SURVIVORS), and no site may be asked for the other secret than one already
 * revealed this round (FEDVAL_ERR_SECAGG_CONTRADICTS_REVEALED). Pure: the caller persists the returned memory.
 */
export function decideUnmasking(input: UnmaskingInput): UnmaskingDecision {
  if (input === null || typeof input !== 'object' || input.request === null || typeof input.request !== 'object') {
    throw new SecaggError('FEDVAL_ERR_SECAGG_INVALID_ARGUMENT', 'input must be { self, shareholders, threshold, request, memory }');
  }
  const { self, threshold, memory } = input;
  const shareholders = ids(input.shareholders, 'shareholders');
  const masked = ids(input.request.masked, 'the masked set');
  const dropped = ids(input.request.dropped, 'the dropped set');
  if (!shareholders.includes(self)) throw new SecaggError('FEDVAL_ERR_SECAGG_INVALID_ARGUMENT', 'this site is not among the shareholders');
  if (!Number.isSafeInteger(threshold) || threshold < 1 || threshold > shareholders.length) {
    throw new SecaggError('FEDVAL_ERR_SECAGG_INVALID_THRESHOLD', `threshold ${threshold} with ${shareholders.length} shareholders`);
  }
  if (memory === null || typeof memory !== 'object' || memory.revealed === null || typeof memory.revealed !== 'object') {
    throw new SecaggError('FEDVAL_ERR_SECAGG_INVALID_ARGUMENT', 'memory must be { revealed: {} }');
  }
  if (dropped.includes(self)) throw new SecaggError('FEDVAL_ERR_SECAGG_LIVE_SITE_REPORTED_DROPPED', `site ${self}`);
  const known = new Set(shareholders);
  const maskedSet = new Set(masked);
  const problems: string[] = [];
  const both = dropped.filter((id) => maskedSet.has(id));
  if (both.length > 0) problems.push(`${both.length} site(s) both masked and dropped`);
  const unknown = [...masked, ...dropped].filter((id) => !known.has(id));
  if (unknown.length > 0) problems.push(`${unknown.length} site(s) that never shared keys with this site: ${unknown.slice(0, 5).join(', ')}`);
  const listed = new Set([...masked, ...dropped]);
  const missing = shareholders.filter((id) => !listed.has(id));
  if (missing.length > 0) problems.push(`${missing.length} shareholder(s) neither masked nor dropped: ${missing.slice(0, 5).join(', ')}`);
  if (problems.length > 0) throw new SecaggError('FEDVAL_ERR_SECAGG_INCONSISTENT_SETS', problems.join('; '));
  if (!maskedSet.has(self)) throw new SecaggError('FEDVAL_ERR_SECAGG_INCONSISTENT_SETS', 'this site is not in the masked set');
  if (masked.length < threshold) throw new SecaggError('FEDVAL_ERR_SECAGG_TOO_FEW_SURVIVORS', `${masked.length} masked sites, threshold ${threshold}`);
  const reveal = shareholders.map((siteId) => ({ siteId, kind: (maskedSet.has(siteId) ? 'self-mask-seed' : 'agreement-key') as RevealKind }));
  const contradicted = reveal.filter(({ siteId, kind }) => {
    const before = Object.hasOwn(memory.revealed, siteId) ? memory.revealed[siteId] : undefined;
    return before !== undefined && before !== kind;
  });
  if (contradicted.length > 0) {
    throw new SecaggError('FEDVAL_ERR_SECAGG_CONTRADICTS_REVEALED', `${contradicted.length} site(s), e.g. ${contradicted[0]?.siteId} was revealed as ${memory.revealed[contradicted[0]?.siteId as string]}`);
  }
  // Object.fromEntries defines own properties, so even a site id such as "__proto__" is recorded, never a prototype.
  const revealed: Record<string, RevealKind> = Object.fromEntries([...Object.entries(memory.revealed), ...reveal.map(({ siteId, kind }) => [siteId, kind] as const)]);
  return { reveal, memory: Object.freeze({ revealed: Object.freeze(revealed) }) };
}

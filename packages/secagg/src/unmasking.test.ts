import { describe, expect, it } from 'vitest';
import { decideUnmasking, EMPTY_UNMASKING_MEMORY } from './unmasking.ts';
import type { UnmaskingInput } from './unmasking.ts';

const sites = ['s1', 's2', 's3', 's4', 's5'];
const input = (masked: string[], dropped: string[], memory = EMPTY_UNMASKING_MEMORY): UnmaskingInput => ({
  self: 's2', shareholders: sites, threshold: 3, request: { masked, dropped }, memory,
});
const code = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (error) {
    return (error as { code?: string }).code;
  }
  return undefined;
};

describe('decideUnmasking (Bonawitz et al. 2017, Round 4)', () => {
  it('reveals self-mask-seed shares of masked sites and agreement-key shares of dropped ones, and remembers them', () => {
    const decision = decideUnmasking(input(['s5', 's1', 's2', 's4'], ['s3']));
    expect(decision.reveal).toEqual([
      { siteId: 's1', kind: 'self-mask-seed' }, { siteId: 's2', kind: 'self-mask-seed' }, { siteId: 's3', kind: 'agreement-key' },
      { siteId: 's4', kind: 'self-mask-seed' }, { siteId: 's5', kind: 'self-mask-seed' },
    ]);
    expect(decision.memory.revealed).toEqual({ s1: 'self-mask-seed', s2: 'self-mask-seed', s3: 'agreement-key', s4: 'self-mask-seed', s5: 'self-mask-seed' });
    expect(Object.isFrozen(decision.memory.revealed)).toBe(true);
    // The same request again (a retry) is answered the same way.
    expect(decideUnmasking(input(['s1', 's2', 's4', 's5'], ['s3'], decision.memory)).reveal).toEqual(decision.reveal);
  });

  it('refuses a coordinator that reports a live site as dropped after asking for its self-mask share', () => {
    const first = decideUnmasking(input(['s1', 's2', 's3', 's4'], ['s5']));
    // s4 was revealed as masked (self-mask seed); now it is claimed dropped, which would hand out its agreement key too.
    expect(code(() => decideUnmasking(input(['s1', 's2', 's3'], ['s4', 's5'], first.memory)))).toBe('FEDVAL_ERR_SECAGG_CONTRADICTS_REVEALED');
    // And the reverse: a site revealed as dropped cannot later be called masked.
    expect(code(() => decideUnmasking(input(['s1', 's2', 's3', 's4', 's5'], [], first.memory)))).toBe('FEDVAL_ERR_SECAGG_CONTRADICTS_REVEALED');
  });

  it('remembers a site whose id is "__proto__" like any other', () => {
    const ids = ['__proto__', 's2', 's3'];
    const first = decideUnmasking({ self: 's2', shareholders: ids, threshold: 2, request: { masked: ids, dropped: [] }, memory: EMPTY_UNMASKING_MEMORY });
    expect(Object.hasOwn(first.memory.revealed, '__proto__')).toBe(true);
    const stored = JSON.parse(JSON.stringify(first.memory)) as typeof first.memory;
    expect(code(() => decideUnmasking({ self: 's2', shareholders: ids, threshold: 2, request: { masked: ['s2', 's3'], dropped: ['__proto__'] }, memory: stored })))
      .toBe('FEDVAL_ERR_SECAGG_CONTRADICTS_REVEALED');
  });

  it('refuses to take part when this site itself is reported dropped', () => {
    expect(code(() => decideUnmasking(input(['s1', 's3', 's4', 's5'], ['s2'])))).toBe('FEDVAL_ERR_SECAGG_LIVE_SITE_REPORTED_DROPPED');
  });

  it('refuses inconsistent sets: overlapping, unknown, missing, or without this site', () => {
    expect(code(() => decideUnmasking(input(['s1', 's2', 's3', 's4', 's5'], ['s5'])))).toBe('FEDVAL_ERR_SECAGG_INCONSISTENT_SETS');
    expect(code(() => decideUnmasking(input(['s1', 's2', 's3', 's4', 's5', 'sybil'], [])))).toBe('FEDVAL_ERR_SECAGG_INCONSISTENT_SETS');
    expect(code(() => decideUnmasking(input(['s1', 's2', 's3', 's4'], [])))).toBe('FEDVAL_ERR_SECAGG_INCONSISTENT_SETS');
    expect(code(() => decideUnmasking(input(['s1', 's2', 's2', 's4'], ['s3', 's5'])))).toBe('FEDVAL_ERR_SECAGG_INCONSISTENT_SETS');
    expect(code(() => decideUnmasking(input('s1' as unknown as string[], [])))).toBe('FEDVAL_ERR_SECAGG_INCONSISTENT_SETS');
  });

  it('refuses when fewer than threshold sites are masked', () => {
    expect(code(() => decideUnmasking(input(['s1', 's2'], ['s3', 's4', 's5'])))).toBe('FEDVAL_ERR_SECAGG_TOO_FEW_SURVIVORS');
  });

  it('refuses malformed input with coded errors', () => {
    expect(code(() => decideUnmasking({ ...input(['s1', 's2', 's3', 's4', 's5'], []), threshold: 6 }))).toBe('FEDVAL_ERR_SECAGG_INVALID_THRESHOLD');
    expect(code(() => decideUnmasking({ ...input(['s1', 's2', 's3', 's4', 's5'], []), self: 'other' }))).toBe('FEDVAL_ERR_SECAGG_INVALID_ARGUMENT');
    expect(code(() => decideUnmasking({ ...input(['s1', 's2', 's3', 's4', 's5'], []), memory: null as never }))).toBe('FEDVAL_ERR_SECAGG_INVALID_ARGUMENT');
  });
});

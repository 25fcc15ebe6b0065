import { describe, expect, it } from 'vitest';
import { ReplayGuard } from './replay-guard.ts';
import { codeOf } from '../test-support/trust-error-code.ts';

describe('ReplayGuard', () => {
  it('accepts a nonce once, and refuses it again while its timestamp is inside the window', () => {
    let now = 1_000_000;
    const guard = new ReplayGuard({ windowMs: 10_000, maxClockSkewMs: 1_000, now: () => now });
    guard.accept('n1', now);
    expect(codeOf(() => guard.accept('n1', now))).toBe('FEDVAL_ERR_TRUST_REPLAYED');
    now += 10_000; // the timestamp is now exactly windowMs old: still inside, still remembered
    expect(codeOf(() => guard.accept('n1', now - 10_000))).toBe('FEDVAL_ERR_TRUST_REPLAYED');
    now += 1; // one ms later the timestamp itself is refused
    expect(codeOf(() => guard.accept('n1', now - 10_001))).toBe('FEDVAL_ERR_TRUST_TIMESTAMP_OUTSIDE_WINDOW');
    expect(() => guard.accept('n2', now)).not.toThrow(); // a fresh nonce is still welcome
  });

  it('refuses timestamps older than the window or further ahead than the clock skew', () => {
    const now = 5_000_000;
    const guard = new ReplayGuard({ windowMs: 60_000, maxClockSkewMs: 2_000, now: () => now });
    expect(codeOf(() => guard.accept('old', now - 60_001))).toBe('FEDVAL_ERR_TRUST_TIMESTAMP_OUTSIDE_WINDOW');
    expect(codeOf(() => guard.accept('future', now + 2_001))).toBe('FEDVAL_ERR_TRUST_TIMESTAMP_OUTSIDE_WINDOW');
    guard.accept('edge-old', now - 60_000);
    guard.accept('edge-future', now + 2_000);
    expect(guard.size).toBe(2);
  });

  it('forgets nonces once their timestamps have left the window, bounding memory', () => {
    let now = 0;
    const guard = new ReplayGuard({ windowMs: 1_000, maxClockSkewMs: 0, maxEntries: 3, now: () => now });
    guard.accept('a', now);
    guard.accept('b', now);
    guard.accept('c', now);
    expect(codeOf(() => guard.accept('d', now))).toBe('FEDVAL_ERR_TRUST_REPLAY_GUARD_FULL');
    now = 1_001;
    guard.accept('d', now);
    expect(guard.size).toBe(1);
  });

  it('refuses malformed nonces and timestamps, and invalid options', () => {
    const guard = new ReplayGuard();
    expect(codeOf(() => guard.accept('', Date.now()))).toBe('FEDVAL_ERR_TRUST_INVALID_PAYLOAD');
    expect(codeOf(() => guard.accept('x'.repeat(257), Date.now()))).toBe('FEDVAL_ERR_TRUST_INVALID_PAYLOAD');
    expect(codeOf(() => guard.accept('n', Date.now() + 0.5))).toBe('FEDVAL_ERR_TRUST_INVALID_PAYLOAD');
    expect(codeOf(() => new ReplayGuard({ windowMs: 0 }))).toBe('FEDVAL_ERR_TRUST_INVALID_OPTIONS');
    expect(codeOf(() => new ReplayGuard({ maxEntries: -1, now: 5 as never }))).toBe('FEDVAL_ERR_TRUST_INVALID_OPTIONS');
  });
});

describe('ReplayGuard against a reference model that never forgets', () => {
  it('makes the same decision as the model for 20,000 random messages with repeating nonces', () => {
    let state = 0x2545f491;
    const next = (n: number): number => {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0; // glibc LCG: ample for a test schedule
      return state % n;
    };
    const windowMs = 1_000;
    const maxClockSkewMs = 100;
    let now = 10_000;
    const guard = new ReplayGuard({ windowMs, maxClockSkewMs, now: () => now });
    const accepted = new Map<string, number>(); // nonce -> timestamp of its last acceptance
    const outcomes = new Map<string, number>();
    for (let i = 0; i < 20_000; i++) {
      now += next(40);
      const nonce = `n${next(60)}`;
      const timestamp = now - 1_200 + next(1_400);
      const last = accepted.get(nonce);
      const expected =
        timestamp < now - windowMs || timestamp > now + maxClockSkewMs ? 'FEDVAL_ERR_TRUST_TIMESTAMP_OUTSIDE_WINDOW'
        : last !== undefined && last + windowMs >= now ? 'FEDVAL_ERR_TRUST_REPLAYED'
        : undefined;
      const actual = codeOf(() => guard.accept(nonce, timestamp));
      expect(actual, `message ${i}`).toBe(expected);
      if (actual === undefined) accepted.set(nonce, timestamp);
      outcomes.set(String(actual), (outcomes.get(String(actual)) ?? 0) + 1);
    }
    // the schedule exercises all three outcomes substantially
    for (const outcome of ['undefined', 'FEDVAL_ERR_TRUST_REPLAYED', 'FEDVAL_ERR_TRUST_TIMESTAMP_OUTSIDE_WINDOW']) {
      expect(outcomes.get(outcome) ?? 0, outcome).toBeGreaterThan(1_000);
    }
  });
});

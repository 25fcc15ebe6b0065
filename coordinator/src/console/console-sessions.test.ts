// console-sessions.test.ts — console sessions expire, end at logout, stay bounded, and are read from the Cookie header exactly.
import { describe, expect, it } from 'vitest';
import { ConsoleSessions, cookieValue } from './console-sessions.ts';

const officer = { name: 'po', role: 'privacy_officer' as const };

describe('ConsoleSessions', () => {
  it('identifies a live session, forgets it at expiry and at logout', () => {
    let now = 1_000;
    const sessions = new ConsoleSessions({ ttlMs: 500, maxSessions: 10, now: () => now });
    const id = sessions.create(officer);
    expect(id).toMatch(/^[A-Za-z0-9_-]{43}$/); // 32 random bytes, base64url
    expect(sessions.identify(id)).toEqual(officer);
    expect(sessions.identify(`${id}x`)).toBeNull();
    expect(sessions.identify(undefined)).toBeNull();
    now = 1_499;
    expect(sessions.identify(id)).toEqual(officer);
    now = 1_500;
    expect(sessions.identify(id)).toBeNull();
    expect(sessions.size).toBe(0);
    const second = sessions.create(officer);
    sessions.end(second);
    expect(sessions.identify(second)).toBeNull();
  });

  it('keeps at most maxSessions, dropping the oldest', () => {
    const sessions = new ConsoleSessions({ ttlMs: 60_000, maxSessions: 2 });
    const first = sessions.create(officer);
    const second = sessions.create({ name: 'aud', role: 'auditor' });
    const third = sessions.create({ name: 'sp', role: 'sponsor' });
    expect(sessions.size).toBe(2);
    expect(sessions.identify(first)).toBeNull();
    expect(sessions.identify(second)?.role).toBe('auditor');
    expect(sessions.identify(third)?.role).toBe('sponsor');
  });
});

describe('cookieValue', () => {
  it('reads one cookie among several and nothing from a name that merely ends the same', () => {
    expect(cookieValue('a=1; fedval_console=abc; b=2', 'fedval_console')).toBe('abc');
    expect(cookieValue('xfedval_console=abc', 'fedval_console')).toBeUndefined();
    expect(cookieValue(undefined, 'fedval_console')).toBeUndefined();
  });
});

// console-sessions.test.ts — console sessions expire, end at logout, stay bounded, and are read from the Cookie header exactly.
import { describe, expect, it } from 'vitest';
import { ConsoleSessions, cookieValue } from './console-sessions.ts';

const officer = { name: 'po', role: 'privacy_officer' as const };

describe('ConsoleSessions', () => {
  it('identifies a live session, forgets it at expiry and at logout', () => {
    let now = 1_000;
    const sessions = new ConsoleSessions({ ttlMs: 500, maxSessions: 10, maxSessionsPerPrincipal: 10, now: () => now });
    const id = sessions.create(officer)!;
    expect(id).toMatch(/^[A-Za-z0-9_-]{43}$/); // 32 random bytes, base64url
    expect(sessions.identify(id)).toEqual(officer);
    expect(sessions.identify(`${id}x`)).toBeNull();
    expect(sessions.identify(undefined)).toBeNull();
    now = 1_499;
    expect(sessions.identify(id)).toEqual(officer);
    now = 1_500;
    expect(sessions.identify(id)).toBeNull();
    expect(sessions.size).toBe(0);
    const second = sessions.create(officer)!;
    sessions.end(second);
    expect(sessions.identify(second)).toBeNull();
  });

  it('keeps at most maxSessions: when all are live a new login is refused, never another principal\'s session ended', () => {
    let now = 0;
    const sessions = new ConsoleSessions({ ttlMs: 60_000, maxSessions: 2, maxSessionsPerPrincipal: 2, now: () => now });
    const first = sessions.create(officer)!;
    const second = sessions.create({ name: 'aud', role: 'auditor' })!;
    expect(sessions.create({ name: 'sp', role: 'sponsor' })).toBeNull();
    expect(sessions.size).toBe(2);
    expect(sessions.identify(first)).toEqual(officer);
    expect(sessions.identify(second)?.role).toBe('auditor');
    // Once they expire, there is room again.
    now = 60_000;
    expect(sessions.create({ name: 'sp', role: 'sponsor' })).not.toBeNull();
    expect(sessions.size).toBe(1);
  });

  it("caps one principal's sessions: its next login ends its own oldest, and leaves everyone else's", () => {
    const sessions = new ConsoleSessions({ ttlMs: 60_000, maxSessions: 4, maxSessionsPerPrincipal: 2 });
    const auditor = sessions.create({ name: 'aud', role: 'auditor' })!;
    const own = [sessions.create(officer)!, sessions.create(officer)!];
    for (let i = 0; i < 10; i += 1) own.push(sessions.create(officer)!);
    expect(sessions.size).toBe(3);
    expect(sessions.identify(auditor)?.role).toBe('auditor');
    expect(own.filter((id) => sessions.identify(id) !== null)).toEqual(own.slice(-2));
  });
});

describe('cookieValue', () => {
  it('reads one cookie among several and nothing from a name that merely ends the same', () => {
    expect(cookieValue('a=1; fedval_console=abc; b=2', 'fedval_console')).toBe('abc');
    expect(cookieValue('xfedval_console=abc', 'fedval_console')).toBeUndefined();
    expect(cookieValue(undefined, 'fedval_console')).toBeUndefined();
  });
});

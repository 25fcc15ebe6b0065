import { describe, expect, it } from 'vitest';
import { SiteAuthenticator, hashToken } from './site-auth.ts';

describe('site tokens', () => {
  it('hash with SHA-256 (FIPS 180-2 known-answer vector for "abc")', () => {
    expect(hashToken('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('verify only the configured token of the configured site', () => {
    const auth = new SiteAuthenticator([
      { id: 'site-a', token_sha256: hashToken('token-of-site-a-0123456789') },
      { id: 'site-b', token_sha256: hashToken('token-of-site-b-0123456789') },
    ]);
    expect(auth.verify('site-a', 'token-of-site-a-0123456789')).toBe(true);
    expect(auth.verify('site-b', 'token-of-site-a-0123456789')).toBe(false);
    expect(auth.verify('site-a', 'token-of-site-a-012345678')).toBe(false);
    expect(auth.verify('site-c', 'token-of-site-a-0123456789')).toBe(false);
    // The all-zero decoy used for unknown sites never matches a real token's hash.
    expect(auth.verify('unknown', '')).toBe(false);
  });
});

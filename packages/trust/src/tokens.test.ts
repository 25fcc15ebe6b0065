import { describe, expect, it } from 'vitest';
import { TrustError } from './errors.ts';
import { generateToken, hashToken, tokensEqual } from './tokens.ts';

const counting = (size: number): Uint8Array => Uint8Array.from({ length: size }, (_, i) => i);

describe('enrollment tokens', () => {
  it('generates 32 random bytes as unpadded base64url', () => {
    // /usr/bin/python3 -c "import base64; print(base64.urlsafe_b64encode(bytes(range(32))).rstrip(b'=').decode())"
    expect(generateToken(counting)).toBe('AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8');
    const token = generateToken();
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(generateToken()).not.toBe(token);
  });

  it('stores only the SHA-256 of the token', () => {
    expect(hashToken('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'); // FIPS 180-2 B.1
  });

  it('matches the presented token against the stored hash, and nothing else', () => {
    const token = generateToken();
    const stored = hashToken(token);
    expect(tokensEqual(token, stored)).toBe(true);
    expect(tokensEqual(`${token}x`, stored)).toBe(false);
    expect(tokensEqual(token.slice(1), stored)).toBe(false);
    expect(tokensEqual('', stored)).toBe(false);
    expect(tokensEqual(stored, stored)).toBe(false);
    expect(tokensEqual(undefined as unknown as string, stored)).toBe(false);
  });

  it('refuses a stored value that is not a SHA-256 hex digest', () => {
    expect(() => tokensEqual('t', 'not-a-hash')).toThrow(TrustError);
    expect(() => tokensEqual('t', hashToken('t').toUpperCase())).toThrow(TrustError);
  });
});

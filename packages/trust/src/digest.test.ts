import { describe, expect, it } from 'vitest';
import { assertHex32, isHex32, sha256Hex } from './digest.ts';
import { TrustError } from './errors.ts';

describe('sha256Hex', () => {
  it('reproduces the FIPS 180-2 Appendix B known answers', () => {
    expect(sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(sha256Hex('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq')).toBe(
      '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
    );
    expect(sha256Hex(new Uint8Array(0))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });

  it('hashes a string as its UTF-8 bytes', () => {
    expect(sha256Hex('é')).toBe(sha256Hex(new Uint8Array([0xc3, 0xa9])));
  });
});

describe('hex digests from others', () => {
  it('accepts 64 lowercase hex digits only', () => {
    expect(isHex32('a'.repeat(64))).toBe(true);
    expect(isHex32('A'.repeat(64))).toBe(false);
    expect(isHex32('a'.repeat(63))).toBe(false);
    expect(isHex32(`${'a'.repeat(64)}\n`)).toBe(false);
    expect(isHex32(42)).toBe(false);
    expect(() => assertHex32('xyz', 'salt')).toThrow(TrustError);
  });
});

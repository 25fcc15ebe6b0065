import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  generateSiteIdentity, privateKeyFromSeed, publicKeyFingerprint, publicKeyOf, rawPublicKey, sign, verify,
} from './identity.ts';
import { loadPrivateKey, savePrivateKey } from './key-file.ts';
import { codeOf } from '../test-support/trust-error-code.ts';

const hex = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'hex'));
const toHex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

// RFC 8032 §7.1, TEST 1 to TEST 3: SECRET KEY, PUBLIC KEY, MESSAGE, SIGNATURE.
const RFC8032 = [
  {
    name: 'TEST 1',
    secret: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
    public: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    message: '',
    signature:
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
  },
  {
    name: 'TEST 2',
    secret: '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
    public: '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c',
    message: '72',
    signature:
      '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
  },
  {
    name: 'TEST 3',
    secret: 'c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7',
    public: 'fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025',
    message: 'af82',
    signature:
      '6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a',
  },
];

describe('Ed25519 (RFC 8032 §7.1 test vectors)', () => {
  for (const vector of RFC8032) {
    it(`${vector.name}: derives the public key, reproduces the signature, verifies it`, () => {
      const privateKey = privateKeyFromSeed(hex(vector.secret));
      const publicKey = publicKeyOf(privateKey);
      expect(toHex(rawPublicKey(publicKey))).toBe(vector.public);
      expect(toHex(sign(privateKey, hex(vector.message)))).toBe(vector.signature);
      expect(verify(publicKey, hex(vector.message), hex(vector.signature))).toBe(true);
      expect(verify(hex(vector.public), hex(vector.message), hex(vector.signature))).toBe(true);
    });
  }

  it('rejects a signature with one bit flipped, on another message, or under another key', () => {
    const [one, two] = RFC8032;
    const signature = hex(two!.signature);
    const flipped = signature.slice();
    flipped[10]! ^= 0x01;
    expect(verify(hex(two!.public), hex(two!.message), flipped)).toBe(false);
    expect(verify(hex(two!.public), hex('73'), signature)).toBe(false);
    expect(verify(hex(one!.public), hex(two!.message), signature)).toBe(false);
    expect(verify(hex(two!.public), hex(two!.message), signature.subarray(0, 63))).toBe(false);
  });

  it('refuses malformed public keys with a code instead of answering false', () => {
    expect(codeOf(() => verify(new Uint8Array(31), new Uint8Array(0), new Uint8Array(64)))).toBe('FEDVAL_ERR_TRUST_INVALID_PUBLIC_KEY');
    expect(codeOf(() => verify('not base64!', new Uint8Array(0), new Uint8Array(64)))).toBe('FEDVAL_ERR_TRUST_INVALID_PUBLIC_KEY');
    // base64 of 32 bytes, but with a stray character Node's lenient decoder would skip
    const key = Buffer.from(RFC8032[0]!.public, 'hex').toString('base64');
    expect(codeOf(() => verify(`${key.slice(0, 10)}*${key.slice(11)}`, new Uint8Array(0), new Uint8Array(64)))).toBe(
      'FEDVAL_ERR_TRUST_INVALID_PUBLIC_KEY',
    );
  });

  it('fingerprints the raw public key with SHA-256', () => {
    // `printf d75a…511a | xxd -r -p | sha256sum` (coreutils) gives the expected digest
    expect(publicKeyFingerprint(hex(RFC8032[0]!.public))).toBe('21fe31dfa154a261626bf854046fd2271b7bed4b6abe45aa58877ef47f9721b9');
  });

  it('generates distinct identities whose PEM, public key and fingerprint agree', () => {
    const a = generateSiteIdentity();
    const b = generateSiteIdentity();
    expect(a.publicKey).not.toBe(b.publicKey);
    expect(a.privateKeyPem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect(publicKeyOf(a.privateKeyPem)).toBe(a.publicKey);
    expect(a.fingerprint).toBe(publicKeyFingerprint(a.publicKey));
    const message = new TextEncoder().encode('hello');
    expect(verify(a.publicKey, message, sign(a.privateKeyPem, message))).toBe(true);
    expect(verify(b.publicKey, message, sign(a.privateKeyPem, message))).toBe(false);
  });

  it('refuses keys that are not Ed25519 private keys', () => {
    expect(codeOf(() => sign('-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n', new Uint8Array(1)))).toBe(
      'FEDVAL_ERR_TRUST_KEY_INVALID',
    );
    expect(codeOf(() => privateKeyFromSeed(new Uint8Array(31)))).toBe('FEDVAL_ERR_TRUST_KEY_INVALID');
  });
});

describe('private key files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedval-trust-keys-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('saves with mode 0600, loads the same key back, and refuses to overwrite', () => {
    const identity = generateSiteIdentity();
    const path = join(dir, 'site.key');
    savePrivateKey(path, identity.privateKeyPem);
    if (process.platform !== 'win32') expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readFileSync(path, 'utf8')).toBe(identity.privateKeyPem);
    expect(publicKeyOf(loadPrivateKey(path))).toBe(identity.publicKey);
    expect(codeOf(() => savePrivateKey(path, generateSiteIdentity().privateKeyPem))).toBe('FEDVAL_ERR_TRUST_KEY_EXISTS');
    expect(publicKeyOf(loadPrivateKey(path))).toBe(identity.publicKey);
  });

  it('refuses a key file group or others can access (Windows has no such mode bits: there it loads)', () => {
    const path = join(dir, 'loose.key');
    savePrivateKey(path, generateSiteIdentity().privateKeyPem);
    const expected = process.platform === 'win32' ? undefined : 'FEDVAL_ERR_TRUST_KEY_PERMISSIONS';
    for (const mode of [0o640, 0o604, 0o620, 0o601]) {
      chmodSync(path, mode);
      expect(codeOf(() => loadPrivateKey(path)), mode.toString(8)).toBe(expected);
    }
    chmodSync(path, 0o400);
    expect(() => loadPrivateKey(path)).not.toThrow();
  });

  it('reports missing, non-key and directory paths with codes', () => {
    expect(codeOf(() => loadPrivateKey(join(dir, 'absent.key')))).toBe('FEDVAL_ERR_TRUST_KEY_UNREADABLE');
    expect(codeOf(() => loadPrivateKey(dir))).toBe('FEDVAL_ERR_TRUST_KEY_UNREADABLE');
    const junk = join(dir, 'junk.key');
    writeFileSync(junk, 'not a key', { mode: 0o600 });
    expect(codeOf(() => loadPrivateKey(junk))).toBe('FEDVAL_ERR_TRUST_KEY_INVALID');
    expect(codeOf(() => savePrivateKey(join(dir, 'no-such-dir', 'k.key'), generateSiteIdentity().privateKeyPem))).toBe(
      'FEDVAL_ERR_TRUST_KEY_WRITE_FAILED',
    );
  });
});

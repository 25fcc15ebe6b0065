import { describe, expect, it } from 'vitest';
import { deterministicRandom } from '../test-support/deterministic-random.ts';
import { hex, references, toHex } from '../test-support/references.ts';
import { hkdfSha256 } from './hkdf.ts';
import { agreeSecret, agreementPublicKey, generateAgreementKeyPair, x25519 } from './key-agreement.ts';

const BASE_POINT = hex('0900000000000000000000000000000000000000000000000000000000000000');
const code = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (error) {
    return (error as { code?: string }).code;
  }
  return undefined;
};

describe('x25519 (RFC 7748 known answers)', () => {
  it('matches the two single-step vectors of §5.2', () => {
    expect(toHex(x25519(
      hex('a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4'),
      hex('e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c'),
    ))).toBe('c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552');
    // The u-coordinate's top bit is set: X25519 must ignore it.
    expect(toHex(x25519(
      hex('4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d'),
      hex('e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493'),
    ))).toBe('95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957');
  });

  it('matches the iterated vector of §5.2 after 1 and 1,000 iterations', () => {
    let k = BASE_POINT;
    let u = BASE_POINT;
    for (let i = 1; i <= 1000; i++) {
      [k, u] = [x25519(k, u), k];
      if (i === 1) expect(toHex(k)).toBe('422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079');
    }
    expect(toHex(k)).toBe('684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51');
  });

  it('matches the Diffie-Hellman example of §6.1', () => {
    const alice = hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a');
    const bob = hex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb');
    expect(toHex(agreementPublicKey(alice))).toBe('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
    expect(toHex(agreementPublicKey(bob))).toBe('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f');
    const shared = '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742';
    expect(toHex(x25519(alice, agreementPublicKey(bob)))).toBe(shared);
    expect(toHex(x25519(bob, agreementPublicKey(alice)))).toBe(shared);
  });

  it('refuses low-order public keys, whose shared secret is all zeros (RFC 7748 §6.1)', () => {
    const { privateKey } = generateAgreementKeyPair(deterministicRandom('low order'));
    const lowOrder = [
      '0000000000000000000000000000000000000000000000000000000000000000', // u = 0
      '0100000000000000000000000000000000000000000000000000000000000000', // u = 1
      'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800', // a point of order 8
      '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157', // a point of order 8
      'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // u = p − 1
      'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // u = p ≡ 0
    ];
    for (const u of lowOrder) expect(code(() => x25519(privateKey, hex(u)))).toBe('FEDVAL_ERR_SECAGG_LOW_ORDER_KEY');
    expect(code(() => agreeSecret(privateKey, hex(lowOrder[0] as string), { purpose: 'pairwise-mask', studyId: 's', roundId: 'r', siteA: 'a', siteB: 'b' })))
      .toBe('FEDVAL_ERR_SECAGG_LOW_ORDER_KEY');
  });

  it('refuses keys that are not 32 bytes', () => {
    const { privateKey, publicKey } = generateAgreementKeyPair();
    expect(code(() => x25519(privateKey.subarray(1), publicKey))).toBe('FEDVAL_ERR_SECAGG_INVALID_KEY');
    expect(code(() => x25519(privateKey, new Uint8Array(33)))).toBe('FEDVAL_ERR_SECAGG_INVALID_KEY');
    expect(code(() => agreementPublicKey('key' as unknown as Uint8Array))).toBe('FEDVAL_ERR_SECAGG_INVALID_KEY');
  });
});

describe('hkdfSha256 (RFC 5869 appendix A, SHA-256 test cases)', () => {
  it('matches test case 1', () => {
    expect(toHex(hkdfSha256(new Uint8Array(22).fill(0x0b), hex('000102030405060708090a0b0c'), hex('f0f1f2f3f4f5f6f7f8f9'), 42)))
      .toBe('3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865');
  });
  it('matches test case 2 (long inputs)', () => {
    const range = (from: number, to: number) => Uint8Array.from({ length: to - from }, (_, i) => from + i);
    expect(toHex(hkdfSha256(range(0x00, 0x50), range(0x60, 0xb0), range(0xb0, 0x100), 82))).toBe(
      'b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac7827271cb41c65e590e09da3275600c2f09b8'
      + '367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f1d87',
    );
  });
  it('matches test case 3 (empty salt and info)', () => {
    expect(toHex(hkdfSha256(new Uint8Array(22).fill(0x0b), new Uint8Array(0), new Uint8Array(0), 42)))
      .toBe('8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8');
  });
});

describe('agreeSecret', () => {
  const { privateKeys, publicKeys, secrets } = references.agreement;

  it('derives the public keys and pairwise secrets of the independent Python implementation, from both sides', () => {
    for (const [site, key] of Object.entries(privateKeys)) expect(toHex(agreementPublicKey(hex(key)))).toBe(publicKeys[site]);
    expect(secrets.length).toBe(6);
    for (const { siteA, siteB, purpose, studyId, roundId, secret } of secrets) {
      const a = agreeSecret(hex(privateKeys[siteA] as string), hex(publicKeys[siteB] as string), { purpose, studyId, roundId, siteA, siteB });
      const b = agreeSecret(hex(privateKeys[siteB] as string), hex(publicKeys[siteA] as string), { purpose, studyId, roundId, siteA: siteB, siteB: siteA });
      expect(toHex(a)).toBe(secret);
      expect(toHex(b)).toBe(secret);
    }
  });

  it('makes a key pair from 32 bytes of the random source', () => {
    const pair = generateAgreementKeyPair(deterministicRandom('x25519 site-a'));
    expect(toHex(pair.privateKey)).toBe(privateKeys['site-a']);
    expect(toHex(pair.publicKey)).toBe(publicKeys['site-a']);
  });

  it('binds the secret to the purpose, study, round and both sites', () => {
    const a = generateAgreementKeyPair();
    const b = generateAgreementKeyPair();
    const base = { purpose: 'pairwise-mask' as const, studyId: 'study', roundId: 'r1', siteA: 'a', siteB: 'b' };
    const reference = toHex(agreeSecret(a.privateKey, b.publicKey, base));
    for (const changed of [
      { ...base, purpose: 'share-transport' as const }, { ...base, studyId: 'study2' }, { ...base, roundId: 'r2' },
      { ...base, siteB: 'c' }, { ...base, studyId: 'stud', roundId: 'yr1' },
    ]) {
      expect(toHex(agreeSecret(a.privateKey, b.publicKey, changed))).not.toBe(reference);
    }
  });

  it('refuses an incomplete context with a coded error', () => {
    const a = generateAgreementKeyPair();
    const context = { purpose: 'pairwise-mask' as const, studyId: 's', roundId: 'r', siteA: 'a', siteB: 'b' };
    expect(code(() => agreeSecret(a.privateKey, a.publicKey, { ...context, roundId: '' }))).toBe('FEDVAL_ERR_SECAGG_INVALID_ARGUMENT');
    expect(code(() => agreeSecret(a.privateKey, a.publicKey, { ...context, siteB: 'a' }))).toBe('FEDVAL_ERR_SECAGG_INVALID_ARGUMENT');
    expect(code(() => agreeSecret(a.privateKey, a.publicKey, { ...context, purpose: 'other' as 'pairwise-mask' }))).toBe('FEDVAL_ERR_SECAGG_INVALID_ARGUMENT');
  });
});

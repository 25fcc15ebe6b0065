import { describe, expect, it } from 'vitest';
import { deterministicRandom } from '../test-support/deterministic-random.ts';
import { hex, references, toHex } from '../test-support/references.ts';
import { openShares, SEALED_SHARES_BYTES, sealShares } from './share-transport.ts';

const ref = references.shareTransport;
const key = hex(ref.key);
const shares = { x: ref.shares.x, selfMaskSeed: BigInt(ref.shares.selfMaskSeed), agreementKey: BigInt(ref.shares.agreementKey) };

describe('sealShares and openShares (AES-256-GCM)', () => {
  it('seals byte for byte as the independent Python implementation (python3-cryptography AESGCM)', () => {
    const sealed = sealShares(key, ref.binding, shares, deterministicRandom(ref.nonceLabel));
    expect(sealed.length).toBe(SEALED_SHARES_BYTES);
    expect(toHex(sealed)).toBe(ref.sealed);
    expect(openShares(key, ref.binding, hex(ref.sealed))).toEqual(shares);
  });

  it('refuses every single changed byte', () => {
    const sealed = hex(ref.sealed);
    for (let i = 0; i < sealed.length; i++) {
      const tampered = new Uint8Array(sealed);
      tampered[i] = (tampered[i] as number) ^ 0x01;
      expect(() => openShares(key, ref.binding, tampered)).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_SECAGG_SEALED_SHARES_INVALID' }));
    }
  });

  it('opens only for its own study, round, sender and recipient, and only under its key', () => {
    const sealed = hex(ref.sealed);
    const { binding } = ref;
    for (const other of [
      { ...binding, studyId: 'study-2' }, { ...binding, roundId: 'round-8' },
      { ...binding, sender: binding.recipient, recipient: binding.sender }, { ...binding, recipient: 'hospital.c' },
    ]) {
      expect(() => openShares(key, other, sealed)).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_SECAGG_SEALED_SHARES_INVALID' }));
    }
    const wrongKey = new Uint8Array(key);
    wrongKey[0] = (wrongKey[0] as number) ^ 0x80;
    expect(() => openShares(wrongKey, binding, sealed)).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_SECAGG_SEALED_SHARES_INVALID' }));
    expect(() => openShares(key, binding, sealed.subarray(1))).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_SECAGG_SEALED_SHARES_INVALID' }));
  });

  it('refuses bad arguments with coded errors', () => {
    const { binding } = ref;
    expect(() => sealShares(key.subarray(1), binding, shares)).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_SECAGG_INVALID_KEY' }));
    expect(() => sealShares(key, { ...binding, recipient: binding.sender }, shares)).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_SECAGG_INVALID_ARGUMENT' }));
    expect(() => sealShares(key, binding, { ...shares, x: 0 })).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_SECAGG_INVALID_SHARE' }));
    expect(() => sealShares(key, binding, { ...shares, agreementKey: -1n })).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_SECAGG_INVALID_SHARE' }));
  });
});

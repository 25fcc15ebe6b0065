// Reference: SEAL's CoeffModulus::MaxBitCount, which tabulates the HomomorphicEncryption.org standard.
import { describe, expect, it } from 'vitest';
import { maxCoeffModulusBits, POLY_MODULUS_DEGREES, SECURITY_LEVELS } from './security.ts';
import { loadSealRuntime } from './seal-runtime.ts';

describe('security table', () => {
  it('matches SEAL for every degree and level', async () => {
    const { seal } = await loadSealRuntime();
    const level = { 128: seal.SecLevelType.tc128, 192: seal.SecLevelType.tc192, 256: seal.SecLevelType.tc256 } as const;
    for (const bits of SECURITY_LEVELS) {
      for (const degree of POLY_MODULUS_DEGREES) {
        expect(maxCoeffModulusBits(degree, bits), `${degree} @ ${bits}`).toBe(seal.CoeffModulus.MaxBitCount(degree, level[bits]));
      }
    }
    expect(maxCoeffModulusBits(3000, 128)).toBe(0);
  });
});

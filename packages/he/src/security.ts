// security.ts — the HomomorphicEncryption.org security table: largest coefficient modulus per degree and level.

export type SecurityBits = 128 | 192 | 256;

export const SECURITY_LEVELS: readonly SecurityBits[] = [128, 192, 256];

/** Polynomial degrees SEAL supports for BFV, smallest first. */
export const POLY_MODULUS_DEGREES: readonly number[] = [1024, 2048, 4096, 8192, 16384, 32768];

// Largest total bit count of the coefficient modulus for a uniform ternary secret and error
// σ = 3.2, from the Homomorphic Encryption Security Standard (Albrecht et al., HomomorphicEncryption.org,
// 2018, Table 1) as tabulated in SEAL's native/src/seal/util/hestdparms.h.
const MAX_COEFF_MODULUS_BITS: Readonly<Record<SecurityBits, Readonly<Record<number, number>>>> = {
  128: { 1024: 27, 2048: 54, 4096: 109, 8192: 218, 16384: 438, 32768: 881 },
  192: { 1024: 19, 2048: 37, 4096: 75, 8192: 152, 16384: 305, 32768: 611 },
  256: { 1024: 14, 2048: 29, 4096: 58, 8192: 118, 16384: 237, 32768: 476 },
};

/** Largest total coefficient-modulus bits at this degree and security level; 0 for an unknown degree. */
export function maxCoeffModulusBits(degree: number, securityBits: SecurityBits): number {
  return MAX_COEFF_MODULUS_BITS[securityBits][degree] ?? 0;
}

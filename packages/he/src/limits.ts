// limits.ts — the size limits @fedval/he enforces on requests, plans and key bytes, with their defaults.

/** Limits checked before any work is done or any byte reaches SEAL. */
export interface HeLimits {
  /** Longest statistics vector a plan may carry. Default 4,000,000 entries (the protocol's limit). */
  maxVectorLength: number;
  /** Most sites one plan may sum. Default 1,048,576 (2^20) sites. */
  maxSites: number;
  /** Most ciphertexts one contribution may carry. Default 4096 (the protocol's limit). */
  maxCiphertexts: number;
  /** Largest serialized public or secret key accepted. Default 32 MiB. */
  maxKeyBytes: number;
}

export const DEFAULT_HE_LIMITS: Readonly<HeLimits> = Object.freeze({
  maxVectorLength: 4_000_000, // entries
  maxSites: 1 << 20, // sites
  maxCiphertexts: 4096, // ciphertexts per contribution
  maxKeyBytes: 32 * 1024 * 1024, // 32 MiB
});

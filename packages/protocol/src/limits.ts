// limits.ts — the protocol's size and time limits, with their defaults.

/** Limits every peer enforces on the wire. */
export interface ProtocolLimits {
  /** Largest accepted binary message, checked before decoding. Default 64 MiB. */
  maxMessageBytes: number;
  /** Longest accepted string field (ids, names, reasons). Default 4096 characters. */
  maxStringLength: number;
  /** Most ciphertexts one contribution may carry. Default 4096. */
  maxCiphertexts: number;
  /** Longest plaintext statistics vector. Default 4,000,000 entries. */
  maxVectorLength: number;
}

export const DEFAULT_PROTOCOL_LIMITS: Readonly<ProtocolLimits> = Object.freeze({
  maxMessageBytes: 64 * 1024 * 1024, // 64 MiB
  maxStringLength: 4096, // characters
  maxCiphertexts: 4096, // ciphertexts per contribution
  maxVectorLength: 4_000_000, // entries
});

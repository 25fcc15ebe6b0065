// wire-format.ts — fedval's compact BFV ciphertext container: a fixed header, a CRC-32 and bit-packed coefficients.
//
// Layout (little-endian):
//   0  4  magic "FVCT"            12  8  plan fingerprint (first 8 bytes of its SHA-256)
//   4  1  format version (1)      20  4  CRC-32 of bytes 0..19 and of the payload
//   5  1  kind: 1 contribution,   24  …  payload: c0 as N fields of w0 bits, then c1 as N residues
//         2 aggregate                      of bits(q_i) bits for each ciphertext prime q_i in turn
//   6  2  ciphertext index
//   8  4  contributions summed
// c0 holds Y with c0 = 2^d·Y mod q'. A contribution's Y is round(c0/2^d) (w0 = bits(⌊(q'−1+2^(d−1))/2^d⌋)),
// an aggregate's Y is reduced mod q' (bits(q'−1) bits). Every field is checked against its range on read.
import { crc32 } from 'node:zlib';
import { BitReader, limbCount, toLimbs, LIMB_BITS } from './bit-io.ts';
import { HeError } from './errors.ts';
import { bitLength } from './primes.ts';

export const CIPHERTEXT_MAGIC = Uint8Array.of(0x46, 0x56, 0x43, 0x54); // "FVCT"
export const WIRE_FORMAT_VERSION = 1;
export const HEADER_BYTES = 24;
export const FINGERPRINT_BYTES = 8;

/** A vector's ciphertexts in fedval's wire format, in index order: one site's contribution or an aggregate. */
export interface EncryptedVector {
  ciphertexts: Uint8Array[];
}

export type CiphertextKind = 'contribution' | 'aggregate';
const KIND_CODES: Readonly<Record<CiphertextKind, number>> = { contribution: 1, aggregate: 2 };

/** Sizes and ranges of every field of one ciphertext under a plan. */
export interface CiphertextGeometry {
  readonly degree: number;
  /** Ciphertext primes q_1 … q_n (the special prime excluded). */
  readonly primes: readonly bigint[];
  /** q' = Π q_i. */
  readonly modulus: bigint;
  readonly c0DroppedBits: number;
  /** Largest Y of a contribution's c0. */
  readonly c0MaxContribution: bigint;
  readonly c0BitsContribution: number;
  readonly c0BitsAggregate: number;
  readonly primeBits: readonly number[];
  readonly contributionBytes: number;
  readonly aggregateBytes: number;
}

export function ciphertextGeometry(degree: number, primes: readonly bigint[], c0DroppedBits: number): CiphertextGeometry {
  const modulus = primes.reduce((q, p) => q * p, 1n);
  const d = BigInt(c0DroppedBits);
  const c0MaxContribution = c0DroppedBits > 0 ? (modulus - 1n + (1n << (d - 1n))) >> d : modulus - 1n;
  const c0BitsContribution = bitLength(c0MaxContribution);
  const c0BitsAggregate = bitLength(modulus - 1n);
  const primeBits = primes.map((p) => bitLength(p - 1n));
  const c1Bits = primeBits.reduce((a, b) => a + b, 0);
  return {
    degree,
    primes,
    modulus,
    c0DroppedBits,
    c0MaxContribution,
    c0BitsContribution,
    c0BitsAggregate,
    primeBits,
    contributionBytes: HEADER_BYTES + Math.ceil((degree * (c0BitsContribution + c1Bits)) / 8),
    aggregateBytes: HEADER_BYTES + Math.ceil((degree * (c0BitsAggregate + c1Bits)) / 8),
  };
}

export interface CiphertextHeader {
  kind: CiphertextKind;
  index: number;
  contributions: number;
}

export function writeHeader(bytes: Uint8Array, header: CiphertextHeader, fingerprint: Uint8Array): void {
  bytes.set(CIPHERTEXT_MAGIC, 0);
  bytes[4] = WIRE_FORMAT_VERSION;
  bytes[5] = KIND_CODES[header.kind];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  view.setUint16(6, header.index, true);
  view.setUint32(8, header.contributions, true);
  bytes.set(fingerprint, 12);
}

/** Seals a fully written ciphertext with its CRC-32. */
export function writeChecksum(bytes: Uint8Array): void {
  new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).setUint32(20, checksum(bytes), true);
}

function checksum(bytes: Uint8Array): number {
  return crc32(bytes.subarray(HEADER_BYTES), crc32(bytes.subarray(0, 20)));
}

/**
 * Validates everything but the coefficients, before any field is read: type, size, magic,
 * version, checksum, kind, index, plan fingerprint and contribution count.
 */
export function readHeader(
  bytes: unknown,
  geometry: CiphertextGeometry,
  fingerprint: Uint8Array,
  expectedIndex: number,
  maxContributions: number,
): CiphertextHeader {
  if (!(bytes instanceof Uint8Array)) throw new HeError('FEDVAL_ERR_HE_CIPHERTEXT_MALFORMED', `ciphertext ${expectedIndex} is not a byte array`);
  const allowed = [geometry.contributionBytes, geometry.aggregateBytes];
  if (!allowed.includes(bytes.byteLength)) {
    throw new HeError('FEDVAL_ERR_HE_CIPHERTEXT_SIZE', `ciphertext ${expectedIndex} has ${bytes.byteLength} bytes, the plan expects ${geometry.contributionBytes} (contribution) or ${geometry.aggregateBytes} (aggregate)`);
  }
  for (let i = 0; i < CIPHERTEXT_MAGIC.length; i++) {
    if (bytes[i] !== CIPHERTEXT_MAGIC[i]) throw new HeError('FEDVAL_ERR_HE_CIPHERTEXT_MALFORMED', `ciphertext ${expectedIndex} is not a fedval ciphertext`);
  }
  if (bytes[4] !== WIRE_FORMAT_VERSION) throw new HeError('FEDVAL_ERR_HE_CIPHERTEXT_MALFORMED', `ciphertext ${expectedIndex} has format version ${bytes[4]}, expected ${WIRE_FORMAT_VERSION}`);
  if (new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(20, true) !== checksum(bytes)) {
    throw new HeError('FEDVAL_ERR_HE_CIPHERTEXT_CORRUPT', `ciphertext ${expectedIndex} fails its CRC-32`);
  }
  const kind = bytes[5] === 1 ? 'contribution' : bytes[5] === 2 ? 'aggregate' : undefined;
  if (!kind) throw new HeError('FEDVAL_ERR_HE_CIPHERTEXT_MALFORMED', `ciphertext ${expectedIndex} has an unknown kind`);
  const expectedSize = kind === 'contribution' ? geometry.contributionBytes : geometry.aggregateBytes;
  if (bytes.byteLength !== expectedSize) {
    throw new HeError('FEDVAL_ERR_HE_CIPHERTEXT_SIZE', `ciphertext ${expectedIndex} is a ${kind} of ${bytes.byteLength} bytes, expected ${expectedSize}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const index = view.getUint16(6, true);
  if (index !== expectedIndex) throw new HeError('FEDVAL_ERR_HE_CIPHERTEXT_MALFORMED', `ciphertext at position ${expectedIndex} claims index ${index}`);
  for (let i = 0; i < FINGERPRINT_BYTES; i++) {
    if (bytes[12 + i] !== fingerprint[i]) throw new HeError('FEDVAL_ERR_HE_PLAN_MISMATCH', `ciphertext ${expectedIndex}`);
  }
  const contributions = view.getUint32(8, true);
  if (kind === 'contribution' ? contributions !== 1 : contributions < 1 || contributions > maxContributions) {
    throw new HeError('FEDVAL_ERR_HE_CIPHERTEXT_MALFORMED', `ciphertext ${expectedIndex} claims ${contributions} contributions`);
  }
  return { kind, index, contributions };
}

/** One field group of a ciphertext payload: N values of `bits` bits, each ≤ `max`. */
export interface FieldGroup {
  readonly bits: number;
  readonly limbs: number;
  readonly maxLimbs: Float64Array;
}

/** c0 then one group per ciphertext prime. */
export function fieldGroups(geometry: CiphertextGeometry, kind: CiphertextKind): FieldGroup[] {
  const c0Bits = kind === 'contribution' ? geometry.c0BitsContribution : geometry.c0BitsAggregate;
  const c0Max = kind === 'contribution' ? geometry.c0MaxContribution : geometry.modulus - 1n;
  const groups = [{ bits: c0Bits, max: c0Max }, ...geometry.primes.map((q, i) => ({ bits: geometry.primeBits[i] as number, max: q - 1n }))];
  return groups.map(({ bits, max }) => ({ bits, limbs: limbCount(bits), maxLimbs: toLimbs(max, limbCount(bits)) }));
}

/**
 * Streams every field of the payload as 24-bit limbs, checking each against its maximum;
 * `visit(group, coefficient, limbs, count)` sees the field's `count` limbs in a reused scratch array.
 */
export function readFields(
  bytes: Uint8Array,
  geometry: CiphertextGeometry,
  kind: CiphertextKind,
  index: number,
  visit?: (group: number, coefficient: number, limbs: Float64Array, count: number) => void,
): void {
  const reader = new BitReader(bytes, HEADER_BYTES);
  const scratch = new Float64Array(limbCount(Math.max(geometry.c0BitsAggregate, geometry.c0BitsContribution)) + 1);
  const groups = fieldGroups(geometry, kind);
  for (let g = 0; g < groups.length; g++) {
    const { bits, limbs, maxLimbs } = groups[g] as FieldGroup;
    for (let i = 0; i < geometry.degree; i++) {
      reader.readLimbs(bits, scratch);
      if (exceeds(scratch, maxLimbs, limbs)) {
        throw new HeError('FEDVAL_ERR_HE_CIPHERTEXT_CORRUPT', `ciphertext ${index} has a coefficient outside its modulus`);
      }
      visit?.(g, i, scratch, limbs);
    }
  }
}

function exceeds(value: Float64Array, max: Float64Array, limbs: number): boolean {
  for (let j = limbs - 1; j >= 0; j--) {
    const a = value[j] as number;
    const b = max[j] as number;
    if (a !== b) return a > b;
  }
  return false;
}

export { LIMB_BITS };

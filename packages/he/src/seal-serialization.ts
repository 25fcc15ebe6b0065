// seal-serialization.ts — SEAL 4.1's binary format: header checks for keys, and uncompressed ciphertexts read and built byte by byte.
//
// SEALHeader (16 bytes, SEAL native/src/seal/serialization.h): magic 0xA15E (u16), header size 16
// (u8), version major 4 and minor (u8, u8), compression mode 0 none / 1 zlib / 2 zstd (u8),
// reserved 0 (u16), total size including the header (u64).
// Ciphertext::save_members (SEAL native/src/seal/ciphertext.cpp), uncompressed: parms_id (4 × u64),
// is_ntt_form (u8), size (u64), poly_modulus_degree (u64), coeff_modulus_size (u64), scale (f64),
// correction_factor (u64), then a DynArray: its own SEALHeader, a u64 count and count × u64
// coefficients, polynomial by polynomial, prime by prime.
import { HeError } from './errors.ts';

export const SEAL_MAGIC = 0xa15e;
export const SEAL_HEADER_BYTES = 16;
export const SEAL_VERSION_MAJOR = 4;
const CIPHERTEXT_FIXED_BYTES = SEAL_HEADER_BYTES + 32 + 1 + 5 * 8 + SEAL_HEADER_BYTES + 8; // 113

export type SealComprMode = 0 | 1 | 2;

/** Checks a SEAL object's header against its byte length and the limit, before SEAL sees the bytes. */
export function checkSealHeader(bytes: unknown, maxBytes: number, what: string): SealComprMode {
  if (!(bytes instanceof Uint8Array)) throw new HeError('FEDVAL_ERR_HE_KEY_MALFORMED', `${what} is not a byte array`);
  if (bytes.byteLength > maxBytes) throw new HeError('FEDVAL_ERR_HE_KEY_MALFORMED', `${what} has ${bytes.byteLength} bytes, the limit is ${maxBytes}`);
  if (bytes.byteLength < SEAL_HEADER_BYTES) throw new HeError('FEDVAL_ERR_HE_KEY_MALFORMED', `${what} is shorter than a SEAL header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint16(0, true) !== SEAL_MAGIC || bytes[2] !== SEAL_HEADER_BYTES) throw new HeError('FEDVAL_ERR_HE_KEY_MALFORMED', `${what} does not start with a SEAL header`);
  if (bytes[3] !== SEAL_VERSION_MAJOR) throw new HeError('FEDVAL_ERR_HE_KEY_MALFORMED', `${what} was written by SEAL ${bytes[3]}.x, this is SEAL ${SEAL_VERSION_MAJOR}.x`);
  const mode = bytes[5] as number;
  if (mode > 2 || view.getUint16(6, true) !== 0) throw new HeError('FEDVAL_ERR_HE_KEY_MALFORMED', `${what} has an invalid SEAL header`);
  if (view.getBigUint64(8, true) !== BigInt(bytes.byteLength)) {
    throw new HeError('FEDVAL_ERR_HE_KEY_MALFORMED', `${what} is ${bytes.byteLength} bytes but its header says ${view.getBigUint64(8, true)} (truncated or padded)`);
  }
  return mode as SealComprMode;
}

export interface SealCiphertextShape {
  /** parms_id of the level the ciphertext is at. */
  parmsId: BigUint64Array;
  degree: number;
  /** Number of primes at that level. */
  primeCount: number;
}

export function sealCiphertextBytes(shape: SealCiphertextShape): number {
  return CIPHERTEXT_FIXED_BYTES + 2 * shape.primeCount * shape.degree * 8;
}

/**
 * The 2 · primeCount · N residues of a fresh two-polynomial ciphertext SEAL saved uncompressed.
 * Its shape is ours to know, so any difference is an internal failure.
 */
export function readSealCiphertext(bytes: Uint8Array, shape: SealCiphertextShape): BigUint64Array {
  const count = 2 * shape.primeCount * shape.degree;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const ok =
    bytes.byteLength === sealCiphertextBytes(shape) &&
    view.getUint16(0, true) === SEAL_MAGIC &&
    bytes[5] === 0 &&
    view.getBigUint64(8, true) === BigInt(bytes.byteLength) &&
    shape.parmsId.every((word, i) => view.getBigUint64(16 + 8 * i, true) === word) &&
    bytes[48] === 0 &&
    view.getBigUint64(49, true) === 2n &&
    view.getBigUint64(57, true) === BigInt(shape.degree) &&
    view.getBigUint64(65, true) === BigInt(shape.primeCount) &&
    view.getBigUint64(105, true) === BigInt(count);
  if (!ok) throw new HeError('FEDVAL_ERR_HE_SEAL_FAILURE', 'SEAL produced a ciphertext of an unexpected shape');
  const data = new BigUint64Array(count);
  for (let i = 0, at = CIPHERTEXT_FIXED_BYTES; i < count; i++, at += 8) data[i] = view.getBigUint64(at, true);
  return data;
}

/** An uncompressed SEAL ciphertext of two polynomials from residues laid out as readSealCiphertext returns them. */
export function buildSealCiphertext(shape: SealCiphertextShape, data: BigUint64Array): Uint8Array {
  const count = 2 * shape.primeCount * shape.degree;
  if (data.length !== count) throw new HeError('FEDVAL_ERR_HE_SEAL_FAILURE', 'wrong number of residues');
  const bytes = new Uint8Array(sealCiphertextBytes(shape));
  const view = new DataView(bytes.buffer);
  writeSealHeader(view, 0, bytes.byteLength);
  shape.parmsId.forEach((word, i) => view.setBigUint64(16 + 8 * i, word, true));
  bytes[48] = 0; // not in NTT form
  view.setBigUint64(49, 2n, true);
  view.setBigUint64(57, BigInt(shape.degree), true);
  view.setBigUint64(65, BigInt(shape.primeCount), true);
  view.setFloat64(73, 1.0, true); // scale, unused by BFV
  view.setBigUint64(81, 1n, true); // correction factor, unused by BFV
  writeSealHeader(view, 89, SEAL_HEADER_BYTES + 8 + 8 * count);
  view.setBigUint64(105, BigInt(count), true);
  for (let i = 0, at = CIPHERTEXT_FIXED_BYTES; i < count; i++, at += 8) view.setBigUint64(at, data[i] as bigint, true);
  return bytes;
}

function writeSealHeader(view: DataView, at: number, size: number): void {
  view.setUint16(at, SEAL_MAGIC, true);
  view.setUint8(at + 2, SEAL_HEADER_BYTES);
  view.setUint8(at + 3, SEAL_VERSION_MAJOR);
  view.setUint8(at + 4, 1); // minor version 4.1
  view.setUint8(at + 5, 0); // uncompressed
  view.setUint16(at + 6, 0, true);
  view.setBigUint64(at + 8, BigInt(size), true);
}

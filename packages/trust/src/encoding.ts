// encoding.ts — strict base64 and the injectable source of random bytes.
import { randomBytes } from 'node:crypto';

/** Returns `size` random bytes. Production uses the operating system CSPRNG; tests pass a fixed source. */
export type RandomBytes = (size: number) => Uint8Array;

export const systemRandomBytes: RandomBytes = (size) => randomBytes(size);

/** `size` bytes from `random`, checked: a source that returns the wrong length is a programming error. */
export function drawBytes(random: RandomBytes, size: number): Uint8Array {
  const bytes = random(size);
  if (!(bytes instanceof Uint8Array) || bytes.length !== size) {
    throw new TypeError(`random source returned ${bytes instanceof Uint8Array ? bytes.length : 'no'} bytes, expected ${size}`);
  }
  return bytes;
}

export function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/**
 * Decodes standard padded base64 (RFC 4648 §4) and returns undefined unless the text is the one canonical
 * encoding of its bytes (Node's own decoder silently skips stray characters) and, when given, of `length` bytes.
 */
export function fromBase64Strict(text: unknown, length?: number): Uint8Array | undefined {
  if (typeof text !== 'string' || text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64');
  if (bytes.toString('base64') !== text) return undefined;
  if (length !== undefined && bytes.length !== length) return undefined;
  return new Uint8Array(bytes);
}

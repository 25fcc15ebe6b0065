// random-source.ts — the injectable source of random bytes (the OS CSPRNG in production, a fixed stream in tests).
import { randomBytes } from 'node:crypto';

/** Returns `size` random bytes. Production uses {@link systemRandomBytes}; tests pass a deterministic source. */
export type RandomBytes = (size: number) => Uint8Array;

/** The operating system's CSPRNG (node:crypto randomBytes). */
export const systemRandomBytes: RandomBytes = (size) => new Uint8Array(randomBytes(size));

/** `size` bytes from `random`, checked: a source that returns the wrong length is a programming error. */
export function drawBytes(random: RandomBytes, size: number): Uint8Array {
  const bytes = random(size);
  if (!(bytes instanceof Uint8Array) || bytes.length !== size) {
    throw new TypeError(`random source returned ${bytes instanceof Uint8Array ? bytes.length : 'no'} bytes, expected ${size}`);
  }
  return bytes;
}

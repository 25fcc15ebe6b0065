// deterministic-random.ts — the tests' reproducible byte source, the same stream make_references.py draws from:
// SHA-256(label ‖ counter as 4 bytes big-endian) for counter = 0, 1, 2, …, concatenated and served in order.
import { createHash } from 'node:crypto';
import type { RandomBytes } from '../src/random-source.ts';

export function deterministicRandom(label: string): RandomBytes {
  let counter = 0;
  let buffer = Buffer.alloc(0);
  return (size) => {
    while (buffer.length < size) {
      const index = Buffer.alloc(4);
      index.writeUInt32BE(counter++);
      buffer = Buffer.concat([buffer, createHash('sha256').update(label, 'utf8').update(index).digest()]);
    }
    const out = new Uint8Array(buffer.subarray(0, size));
    buffer = buffer.subarray(size);
    return out;
  };
}

export const streamBytes = (label: string, size: number): Uint8Array => deterministicRandom(label)(size);

// ciphertext-frames.ts — a list of ciphertexts kept as one binary column: each prefixed by its length (uint32, big-endian).
/** Concatenates byte strings, each prefixed by its length (uint32, big-endian). */
export function joinFrames(frames: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(frames.reduce((total, frame) => total + 4 + frame.byteLength, 0));
  const view = new DataView(out.buffer);
  let at = 0;
  for (const frame of frames) {
    view.setUint32(at, frame.byteLength);
    out.set(frame, at + 4);
    at += 4 + frame.byteLength;
  }
  return out;
}

/** The byte strings joinFrames concatenated, each a copy. */
export function splitFrames(bytes: Uint8Array): Uint8Array[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const frames: Uint8Array[] = [];
  for (let at = 0; at < bytes.byteLength; ) {
    const length = view.getUint32(at);
    frames.push(bytes.slice(at + 4, at + 4 + length));
    at += 4 + length;
  }
  return frames;
}

// categorical-dictionary.ts — turns a column's cells into stable codes of a growing dictionary, without a JS string per cell.
import { MISSING_TOKENS } from './data-source.ts';

/** Slots of the raw-key table per entry it may hold (load factor ≤ 1/2). */
const SLOTS_PER_ENTRY = 2;

/**
 * One categorical column's dictionary for a whole read: texts are trimmed, missing tokens map to −1, and a code means
 * the same text from the first batch to the last (codes are only appended). Short cells (≤ 12 UTF-8 bytes, as an engine
 * stores them inline) are looked up by their raw bytes in an open-addressing table, so a repeated cell costs no string;
 * longer cells and numbers go through a Map.
 */
export class CategoricalDictionary {
  /** Code → trimmed text. */
  readonly levels: string[] = [];
  readonly #codeOfText = new Map<string, number>();
  readonly #codeOfNumber = new Map<number, number>();
  /** Raw-key table: per slot 4 words (length, then up to 12 bytes as 3 little-endian words); `#slotCode` −2 = empty. */
  #keys = new Uint32Array(0);
  #slotCode = new Int32Array(0);
  #mask = 0;
  #used = 0;

  constructor() {
    this.#resize(64);
  }

  /** Code of a text cell (trimmed; a missing token gives −1). */
  codeOfText(text: string): number {
    const trimmed = text.trim();
    if (MISSING_TOKENS.has(trimmed)) return -1;
    let code = this.#codeOfText.get(trimmed);
    if (code === undefined) {
      code = this.levels.length;
      this.levels.push(trimmed);
      this.#codeOfText.set(trimmed, code);
    }
    return code;
  }

  /** Code of a numeric cell: NaN is missing; the text is JavaScript's shortest form (1 → "1", 0.5 → "0.5"). */
  codeOfNumber(value: number): number {
    if (Number.isNaN(value)) return -1;
    let code = this.#codeOfNumber.get(value);
    if (code === undefined) {
      code = this.codeOfText(String(value));
      this.#codeOfNumber.set(value, code);
    }
    return code;
  }

  /**
   * Code of a short cell given as its byte length and the 3 little-endian words holding its bytes (zero past the end);
   * a new key's text is decoded once from `bytes[at, at + length)` (UTF-8).
   */
  codeOfInline(length: number, w1: number, w2: number, w3: number, bytes: Uint8Array, at: number): number {
    let slot = this.#slotOf(length, w1, w2, w3);
    const keys = this.#keys;
    for (;;) {
      const code = this.#slotCode[slot] as number;
      if (code === -2) break;
      const key = slot * 4;
      if (keys[key] === length && keys[key + 1] === w1 >>> 0 && keys[key + 2] === w2 >>> 0 && keys[key + 3] === w3 >>> 0) return code;
      slot = (slot + 1) & this.#mask;
    }
    const code = this.codeOfText(Buffer.from(bytes.buffer, bytes.byteOffset + at, length).toString('utf8'));
    if ((this.#used + 1) * SLOTS_PER_ENTRY > this.#slotCode.length) this.#resize(this.#slotCode.length * 2);
    this.#insert(length, w1, w2, w3, code);
    return code;
  }

  #slotOf(length: number, w1: number, w2: number, w3: number): number {
    return (Math.imul(length ^ w1, 0x9e3779b1) ^ Math.imul(w2, 0x85ebca6b) ^ Math.imul(w3, 0xc2b2ae35)) & this.#mask;
  }

  /** Puts a key that is not in the table into its first free slot. */
  #insert(length: number, w1: number, w2: number, w3: number, code: number): void {
    let slot = this.#slotOf(length, w1, w2, w3);
    while (this.#slotCode[slot] !== -2) slot = (slot + 1) & this.#mask;
    const key = slot * 4;
    this.#keys[key] = length;
    this.#keys[key + 1] = w1;
    this.#keys[key + 2] = w2;
    this.#keys[key + 3] = w3;
    this.#slotCode[slot] = code;
    this.#used += 1;
  }

  #resize(slots: number): void {
    const oldKeys = this.#keys;
    const oldCodes = this.#slotCode;
    this.#keys = new Uint32Array(slots * 4);
    this.#slotCode = new Int32Array(slots).fill(-2);
    this.#mask = slots - 1;
    this.#used = 0;
    for (let s = 0; s < oldCodes.length; s += 1) {
      const code = oldCodes[s] as number;
      if (code === -2) continue;
      const key = s * 4;
      this.#insert(oldKeys[key] as number, oldKeys[key + 1] as number, oldKeys[key + 2] as number, oldKeys[key + 3] as number, code);
    }
  }
}

import { describe, expect, it } from 'vitest';
import { CategoricalDictionary } from './categorical-dictionary.ts';

/**
 * The words an engine stores for an inline string of at most 12 bytes (length, then the bytes, zero past the end), and
 * the 16-byte slot they sit in, with the text's bytes at offset 4.
 */
function inline(text: string): [number, number, number, number, Uint8Array, number] {
  const slot = Buffer.alloc(16);
  const length = slot.write(text, 4, 'utf8');
  slot.writeUInt32LE(length, 0);
  return [length, slot.readUInt32LE(4), slot.readUInt32LE(8), slot.readUInt32LE(12), slot, 4];
}

describe('CategoricalDictionary', () => {
  it('gives one stable code per trimmed text, whether a cell arrives as bytes, text or a number; missing tokens are −1', () => {
    const dictionary = new CategoricalDictionary();
    const byBytes = (text: string) => dictionary.codeOfInline(...inline(text));
    expect(byBytes('b')).toBe(0);
    expect(byBytes(' a ')).toBe(1);
    expect(dictionary.codeOfText('a')).toBe(1);
    expect(byBytes('b')).toBe(0);
    expect(dictionary.codeOfNumber(1)).toBe(2);
    expect(byBytes('1')).toBe(2);
    expect(dictionary.codeOfText('postmenopausal women')).toBe(3);
    for (const missing of ['', 'NA', ' NA', 'NULL', 'N/A']) expect(byBytes(missing)).toBe(-1);
    expect(dictionary.codeOfNumber(Number.NaN)).toBe(-1);
    expect(dictionary.levels).toEqual(['b', 'a', '1', 'postmenopausal women']);
  });

  it('keeps every code through the growth of its byte table', () => {
    const dictionary = new CategoricalDictionary();
    const texts = Array.from({ length: 500 }, (_, i) => `L${i}é`);
    const codes = texts.map((text) => dictionary.codeOfInline(...inline(text)));
    expect(codes).toEqual(texts.map((_, i) => i));
    // A known key is never decoded again: bytes that say something else change nothing.
    const other = Buffer.from('never decoded again');
    expect(texts.map((text) => dictionary.codeOfInline(...(inline(text).slice(0, 4) as [number, number, number, number]), other, 0))).toEqual(codes);
    expect(dictionary.levels).toEqual(texts);
  });
});

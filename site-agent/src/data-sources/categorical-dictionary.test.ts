import { describe, expect, it } from 'vitest';
import { CategoricalDictionary } from './categorical-dictionary.ts';

/** The words an engine stores for an inline string of at most 12 bytes: length, then the bytes, zero past the end. */
function inline(text: string): [number, number, number, number] {
  const bytes = Buffer.alloc(12);
  const length = bytes.write(text, 'utf8');
  return [length, bytes.readUInt32LE(0), bytes.readUInt32LE(4), bytes.readUInt32LE(8)];
}

describe('CategoricalDictionary', () => {
  it('gives one stable code per trimmed text, whether a cell arrives as bytes, text or a number; missing tokens are −1', () => {
    const dictionary = new CategoricalDictionary();
    const byBytes = (text: string) => dictionary.codeOfInline(...inline(text), () => text);
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
    const codes = texts.map((text) => dictionary.codeOfInline(...inline(text), () => text));
    expect(codes).toEqual(texts.map((_, i) => i));
    expect(texts.map((text) => dictionary.codeOfInline(...inline(text), () => 'never decoded again'))).toEqual(codes);
    expect(dictionary.levels).toEqual(texts);
  });
});

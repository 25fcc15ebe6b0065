import { describe, expect, it } from 'vitest';
import { canonicalJson, canonicalJsonBytes } from './canonical-json.ts';
import { TrustError } from './errors.ts';
import { codeOf } from '../test-support/trust-error-code.ts';

// Every expected value below is transcribed from RFC 8785 (JSON Canonicalization Scheme), section by section.

/** The IEEE 754 double with the given big-endian bit pattern. */
function double(bits: string): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setBigUint64(0, BigInt(`0x${bits}`));
  return view.getFloat64(0);
}

describe('canonicalJson (RFC 8785)', () => {
  // §3.2.2 input, as JSON source text, so the parser's handling of 1E30, 4.50 and the escapes is part of the test.
  const SECTION_3_2_2_INPUT = String.raw`{
    "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
    "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
    "literals": [null, true, false]
  }`;

  it('§3.2.2 + §3.2.4: the sample canonicalizes to exactly the UTF-8 bytes the RFC prints', () => {
    const expected = `
      7b 22 6c 69 74 65 72 61 6c 73 22 3a 5b 6e 75 6c 6c 2c 74 72
      75 65 2c 66 61 6c 73 65 5d 2c 22 6e 75 6d 62 65 72 73 22 3a
      5b 33 33 33 33 33 33 33 33 33 2e 33 33 33 33 33 33 33 2c 31
      65 2b 33 30 2c 34 2e 35 2c 30 2e 30 30 32 2c 31 65 2d 32 37
      5d 2c 22 73 74 72 69 6e 67 22 3a 22 e2 82 ac 24 5c 75 30 30
      30 66 5c 6e 41 27 42 5c 22 5c 5c 5c 5c 5c 22 2f 22 7d`.replace(/\s+/g, '');
    expect(Buffer.from(canonicalJsonBytes(JSON.parse(SECTION_3_2_2_INPUT))).toString('hex')).toBe(expected);
  });

  it('§3.2.3: sorts member names by UTF-16 code units (the RFC\'s sorting test data)', () => {
    const input = JSON.parse(String.raw`{
      "\u20ac": "Euro Sign",
      "\r": "Carriage Return",
      "\ufb33": "Hebrew Letter Dalet With Dagesh",
      "1": "One",
      "\ud83d\ude00": "Emoji: Grinning Face",
      "\u0080": "Control",
      "\u00f6": "Latin Small Letter O With Diaeresis"
    }`) as Record<string, string>;
    const order = [...canonicalJson(input).matchAll(/:"([^"]+)"/g)].map((m) => m[1]);
    expect(order).toEqual([
      'Carriage Return',
      'One',
      'Control',
      'Latin Small Letter O With Diaeresis',
      'Euro Sign',
      'Emoji: Grinning Face',
      'Hebrew Letter Dalet With Dagesh',
    ]);
  });

  it('Appendix B: serializes every finite IEEE 754 sample exactly as the RFC lists it', () => {
    const table: [string, string][] = [
      ['0000000000000000', '0'],
      ['8000000000000000', '0'],
      ['0000000000000001', '5e-324'],
      ['8000000000000001', '-5e-324'],
      ['7fefffffffffffff', '1.7976931348623157e+308'],
      ['ffefffffffffffff', '-1.7976931348623157e+308'],
      ['4340000000000000', '9007199254740992'],
      ['c340000000000000', '-9007199254740992'],
      ['4430000000000000', '295147905179352830000'],
      ['44b52d02c7e14af5', '9.999999999999997e+22'],
      ['44b52d02c7e14af6', '1e+23'],
      ['44b52d02c7e14af7', '1.0000000000000001e+23'],
      ['444b1ae4d6e2ef4e', '999999999999999700000'],
      ['444b1ae4d6e2ef4f', '999999999999999900000'],
      ['444b1ae4d6e2ef50', '1e+21'],
      ['3eb0c6f7a0b5ed8c', '9.999999999999997e-7'],
      ['3eb0c6f7a0b5ed8d', '0.000001'],
      ['41b3de4355555553', '333333333.3333332'],
      ['41b3de4355555554', '333333333.33333325'],
      ['41b3de4355555555', '333333333.3333333'],
      ['41b3de4355555556', '333333333.3333334'],
      ['41b3de4355555557', '333333333.33333343'],
      ['becbf647612f3696', '-0.0000033333333333333333'],
      ['43143ff3c1cb0959', '1424953923781206.2'],
    ];
    for (const [bits, text] of table) expect(canonicalJson(double(bits)), bits).toBe(text);
  });

  it('Appendix B: refuses the NaN and Infinity samples', () => {
    expect(codeOf(() => canonicalJson(double('7fffffffffffffff')))).toBe('FEDVAL_ERR_TRUST_NOT_CANONICAL_JSON');
    expect(codeOf(() => canonicalJson(double('7ff0000000000000')))).toBe('FEDVAL_ERR_TRUST_NOT_CANONICAL_JSON');
  });

  it('sorts nested objects, keeps array order, and writes no whitespace', () => {
    // cyberphone/json-canonicalization testdata "structures" (the RFC authors' reference implementation)
    const input = JSON.parse('{"1": {"f": {"f": "hi","F": 5} ,"\\n": 56.0},"10": { },"": "empty","a": { },"111": [ { } ],"A": { }}');
    expect(canonicalJson(input)).toBe('{"":"empty","1":{"\\n":56,"f":{"F":5,"f":"hi"}},"10":{},"111":[{}],"A":{},"a":{}}');
  });

  it('does not depend on the order in which members were added', () => {
    expect(canonicalJson({ b: 1, a: [3, { d: true, c: null }] })).toBe(canonicalJson({ a: [3, { c: null, d: true }], b: 1 }));
  });

  it('refuses values outside the JSON data model, naming the path but never the value', () => {
    const cases: [string, unknown][] = [
      ['$.x', { x: Number.POSITIVE_INFINITY }],
      ['$.x', { x: undefined }],
      ['$[1]', [1, () => 2]],
      ['$.n', { n: 10n }],
      ['$.s', { s: Symbol('s') }],
      ['$.d', { d: new Date(0) }],
      ['$.m', { m: new Map() }],
      ['$.t', { t: new Uint8Array(2) }],
      ['$.lone', { lone: 'secret-\ud800-value' }],
      ['$[1]', [1, , 3]], // eslint-disable-line no-sparse-arrays
      ['$', Object.assign({}, { [Symbol('k')]: 1 })],
    ];
    for (const [path, value] of cases) {
      let caught: unknown;
      try {
        canonicalJson(value);
      } catch (error) {
        caught = error;
      }
      expect(caught, path).toBeInstanceOf(TrustError);
      expect((caught as TrustError).code).toBe('FEDVAL_ERR_TRUST_NOT_CANONICAL_JSON');
      expect((caught as TrustError).message).toContain(`${path}:`);
      expect((caught as TrustError).message).not.toContain('secret');
    }
  });

  it('refuses cycles and excessive nesting, and accepts a repeated (acyclic) reference', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(codeOf(() => canonicalJson(cyclic))).toBe('FEDVAL_ERR_TRUST_NOT_CANONICAL_JSON');
    let deep: unknown = 0;
    for (let i = 0; i < 200; i++) deep = [deep];
    expect(codeOf(() => canonicalJson(deep))).toBe('FEDVAL_ERR_TRUST_NOT_CANONICAL_JSON');
    const shared = { k: 1 };
    expect(canonicalJson({ a: shared, b: shared })).toBe('{"a":{"k":1},"b":{"k":1}}');
    expect(canonicalJson(Object.assign(Object.create(null), { z: 1, y: 2 }))).toBe('{"y":2,"z":1}');
  });
});

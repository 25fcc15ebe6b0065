// canonical-json.ts — the JSON Canonicalization Scheme (RFC 8785): the exact bytes fedval hashes and signs.
import { TrustError } from './errors.ts';

/** A value canonicalJson accepts: what JSON.parse can return, with finite numbers only. */
export type JsonValue = null | boolean | number | string | readonly JsonValue[] | { readonly [key: string]: JsonValue };

const MAX_DEPTH = 128; // nesting levels of arrays and objects
const LONE_SURROGATE = /\p{Cs}/u; // with the u flag a well-formed surrogate pair is one code point, never Cs

/**
 * Serializes `value` per RFC 8785: object members sorted by their names' UTF-16 code units (§3.2.3),
 * no whitespace, strings and numbers exactly as ECMAScript's JSON.stringify and Number.prototype.toString
 * write them (§3.2.2; -0 becomes 0). Refuses, naming the path (never the value), anything outside the
 * I-JSON data model (RFC 7493): non-finite numbers, bigint, undefined, functions, symbols, strings with
 * lone surrogates, objects that are not plain (Date, Map, class instances, typed arrays), symbol keys,
 * array holes, cycles and nesting deeper than 128 levels.
 */
export function canonicalJson(value: unknown): string {
  const out: string[] = [];
  write(value, '$', 0, new Set(), out);
  return out.join('');
}

/** canonicalJson(value) as UTF-8 bytes (RFC 8785 §3.2.4): what is hashed and signed. */
export function canonicalJsonBytes(value: unknown): Uint8Array {
  return new Uint8Array(Buffer.from(canonicalJson(value), 'utf8'));
}

/** True for a non-null, non-array object whose prototype is Object.prototype or null: what JSON.parse makes. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

function refuse(path: string, problem: string): never {
  throw new TrustError('FEDVAL_ERR_TRUST_NOT_CANONICAL_JSON', `${path}: ${problem}`);
}

function writeString(text: string, path: string, out: string[]): void {
  if (LONE_SURROGATE.test(text)) refuse(path, 'string contains a lone surrogate (not valid Unicode)');
  out.push(JSON.stringify(text));
}

function write(value: unknown, path: string, depth: number, ancestors: Set<object>, out: string[]): void {
  switch (typeof value) {
    case 'string':
      writeString(value, path, out);
      return;
    case 'number':
      if (!Number.isFinite(value)) refuse(path, 'number is not finite');
      out.push(String(value));
      return;
    case 'boolean':
      out.push(value ? 'true' : 'false');
      return;
    case 'object':
      break;
    default:
      refuse(path, `${typeof value} is not a JSON value`);
  }
  if (value === null) {
    out.push('null');
    return;
  }
  if (depth >= MAX_DEPTH) refuse(path, `nested deeper than ${MAX_DEPTH} levels`);
  if (ancestors.has(value)) refuse(path, 'value contains itself (cycle)');
  ancestors.add(value);
  if (Array.isArray(value)) {
    out.push('[');
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out.push(',');
      if (!(i in value)) refuse(`${path}[${i}]`, 'array has a hole');
      write(value[i], `${path}[${i}]`, depth + 1, ancestors, out);
    }
    out.push(']');
  } else {
    if (!isPlainObject(value)) refuse(path, 'object is not a plain object');
    if (Object.getOwnPropertySymbols(value).length > 0) refuse(path, 'object has symbol keys');
    const record = value as Record<string, unknown>;
    const keys = Object.keys(record).sort(); // default sort compares UTF-16 code units, as §3.2.3 requires
    out.push('{');
    keys.forEach((key, i) => {
      const member = `${path}.${key}`;
      if (i > 0) out.push(',');
      writeString(key, member, out);
      out.push(':');
      write(record[key], member, depth + 1, ancestors, out);
    });
    out.push('}');
  }
  ancestors.delete(value);
}

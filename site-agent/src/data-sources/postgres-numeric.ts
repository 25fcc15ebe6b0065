// postgres-numeric.ts — PostgreSQL's binary `numeric` (base-10000 digits) to the nearest double, as Number() of its text.
import { AgentError } from '../errors.ts';

/** Sign words of numeric_send (PostgreSQL src/backend/utils/adt/numeric.c: NUMERIC_POS, _NEG, _NAN, _PINF, _NINF). */
const NUMERIC_POS = 0x0000;
const NUMERIC_NEG = 0x4000;
const NUMERIC_NAN = 0xc000;
const NUMERIC_PINF = 0xd000;
const NUMERIC_NINF = 0xf000;

/** Exact powers of ten as doubles: 10^0 … 10^22 are all exactly representable (2^53 > 5^22). */
const POWERS_OF_TEN = Array.from({ length: 23 }, (_, i) => Number(`1e${i}`));

/**
 * Decodes one binary `numeric` value (numeric_send: int16 ndigits, int16 weight, uint16 sign, uint16 dscale, then
 * ndigits base-10000 digits; value = Σ digit[i] · 10000^(weight − i)) at `bytes[offset, offset + length)`.
 *
 * Returns the double nearest to the exact decimal value (round half to even), which is what `Number()` gives for the
 * value's text (numeric_out prints it exactly): NaN for 'NaN', ±Infinity for '±Infinity' and for values beyond the
 * double range, ±0 below it. Fast path (Clinger 1990, "How to read floating point numbers accurately", PLDI: an
 * integer mantissa ≤ 2^53 times or divided by an exact power of ten ≤ 10^22 is one correctly rounded operation);
 * otherwise the exact decimal is written out and read by Number(), which rounds correctly (ECMA-262 StringToNumber).
 */
export function decodeNumeric(bytes: Uint8Array, offset: number, length: number): number {
  if (length < 8) throw malformed();
  const ndigits = (bytes[offset]! << 8) | bytes[offset + 1]!;
  const weight = (((bytes[offset + 2]! << 8) | bytes[offset + 3]!) << 16) >> 16;
  const sign = (bytes[offset + 4]! << 8) | bytes[offset + 5]!;
  if (length !== 8 + 2 * ndigits) throw malformed();
  if (sign === NUMERIC_NAN) return Number.NaN;
  if (sign === NUMERIC_PINF) return Number.POSITIVE_INFINITY;
  if (sign === NUMERIC_NINF) return Number.NEGATIVE_INFINITY;
  if (sign !== NUMERIC_POS && sign !== NUMERIC_NEG) throw malformed();
  let mantissa = 0;
  let exact = true;
  for (let i = 0, p = offset + 8; i < ndigits; i += 1, p += 2) {
    const digit = (bytes[p]! << 8) | bytes[p + 1]!;
    if (digit > 9999) throw malformed();
    if (exact) {
      mantissa = mantissa * 10_000 + digit;
      // Every step is exact while the true value stays ≤ 2^53 − 1; rounding is monotonic, so a computed value
      // above that bound means the true one is above it too.
      if (mantissa > Number.MAX_SAFE_INTEGER) exact = false;
    }
  }
  if (ndigits === 0 || (exact && mantissa === 0)) return 0;
  let exponent = 4 * (weight - ndigits + 1);
  if (exact) {
    while (mantissa % 10 === 0) {
      mantissa /= 10;
      exponent += 1;
    }
    let value: number | undefined;
    if (exponent === 0) value = mantissa;
    else if (exponent > 0 && exponent <= 22) value = mantissa * POWERS_OF_TEN[exponent]!;
    else if (exponent < 0 && exponent >= -22) value = mantissa / POWERS_OF_TEN[-exponent]!;
    if (value !== undefined) return sign === NUMERIC_NEG ? -value : value;
  }
  let digits = '';
  for (let i = 0, p = offset + 8; i < ndigits; i += 1, p += 2) digits += String((bytes[p]! << 8) | bytes[p + 1]!).padStart(4, '0');
  return Number(`${sign === NUMERIC_NEG ? '-' : ''}${digits}e${4 * (weight - ndigits + 1)}`);
}

function malformed(): AgentError {
  return new AgentError('FEDVAL_ERR_AGENT_DATA_MALFORMED', 'PostgreSQL sent a numeric value that is not in numeric_send format');
}

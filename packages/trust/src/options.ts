// options.ts — merging caller options over frozen defaults: unknown keys refused, every problem listed in one error.
import { TrustError } from './errors.ts';

/** Checks one option value; returns a short description of the problem, or undefined when valid. */
export type OptionRule = (value: unknown) => string | undefined;

export function resolveOptions<T extends object>(
  what: string,
  defaults: Readonly<T>,
  options: Partial<T> | undefined,
  rules: { readonly [K in keyof T]: OptionRule },
): Readonly<T> {
  const merged: Record<string, unknown> = { ...defaults };
  const problems: string[] = [];
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw new TrustError('FEDVAL_ERR_TRUST_INVALID_OPTIONS', `${what}: options must be an object`);
  }
  for (const [key, value] of Object.entries(options ?? {})) {
    if (!Object.hasOwn(rules, key)) problems.push(`${key}: unknown option`);
    else if (value !== undefined) merged[key] = value;
  }
  for (const [key, rule] of Object.entries(rules) as [string, OptionRule][]) {
    const problem = rule(merged[key]);
    if (problem) problems.push(`${key}: ${problem}`);
  }
  if (problems.length > 0) throw new TrustError('FEDVAL_ERR_TRUST_INVALID_OPTIONS', `${what}: ${problems.join('; ')}`);
  return Object.freeze(merged) as Readonly<T>;
}

export function integerIn(min: number, max: number): OptionRule {
  return (value) =>
    Number.isSafeInteger(value) && (value as number) >= min && (value as number) <= max
      ? undefined
      : `expected an integer from ${min} to ${max}`;
}

export const isFunction: OptionRule = (value) => (typeof value === 'function' ? undefined : 'expected a function');

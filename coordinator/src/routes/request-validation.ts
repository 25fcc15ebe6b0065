// request-validation.ts — zod validation of REST inputs into coded 400 errors.
import type { z } from 'zod';
import { CoordinatorError } from '../errors.ts';

/** Parses with a strict schema; throws FEDVAL_ERR_COORD_INVALID_REQUEST naming every problem (paths and rules, never values). */
export function parseRequest<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const problems = result.error.issues.slice(0, 20).map((issue) => `${what}${issue.path.length ? '.' : ''}${issue.path.join('.')}: ${issue.message}`);
  throw new CoordinatorError('FEDVAL_ERR_COORD_INVALID_REQUEST', problems.join('; '));
}

/** Epoch milliseconds as an ISO 8601 string. */
export function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}

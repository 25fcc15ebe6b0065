// request-validation.ts — zod validation of REST inputs (the schemas of @fedval/protocol) into coded 400 errors.
import { listProblems } from '@fedval/schema';
import type { FastifySchemaCompiler } from 'fastify';
import { z } from 'zod';
import { CoordinatorError } from '../errors.ts';

/** Most problems one refusal lists. */
const MAX_PROBLEMS = 20;

/**
 * FEDVAL_ERR_COORD_INVALID_REQUEST naming every problem (up to 20) with @fedval/schema's listProblems: each field as
 * the client wrote it (`body.metric_spec.bins …`, `unknown property "body.metric_spec.calibrationBins"`), never values.
 */
function invalidRequest(error: z.ZodError, what: string): CoordinatorError {
  return new CoordinatorError('FEDVAL_ERR_COORD_INVALID_REQUEST', listProblems(error, [what]).slice(0, MAX_PROBLEMS).join('; '));
}

const PART_NAMES: Record<string, string> = { body: 'body', params: 'params', querystring: 'query', headers: 'headers' };

/**
 * Fastify validator compiler for routes whose `schema` parts are zod schemas: the parsed value (defaults applied)
 * replaces the raw one, and a request that does not match is refused with FEDVAL_ERR_COORD_INVALID_REQUEST listing every
 * problem. Fastify validates params, then body, then query, after access control (preParsing) has run.
 */
export const zodValidatorCompiler: FastifySchemaCompiler<z.ZodType> = ({ schema, httpPart }) => {
  if (!(schema instanceof z.ZodType)) throw new CoordinatorError('FEDVAL_ERR_COORD_INTERNAL', `route schema of ${String(httpPart)} is not a zod schema`);
  const what = PART_NAMES[httpPart ?? 'body'] ?? String(httpPart);
  return (value: unknown) => {
    // Fastify passes null for a missing body; a request without a query string has an empty one.
    const result = schema.safeParse(httpPart === 'querystring' ? (value ?? {}) : (value ?? undefined));
    return result.success ? { value: result.data } : { error: invalidRequest(result.error, what) };
  };
};

/** Epoch milliseconds as an ISO 8601 string. */
export function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}

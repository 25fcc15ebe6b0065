// problems.ts — a refused document's zod issues as sentences naming each field as the sender wrote it.
import type { z } from 'zod';

/** Longest unknown key echoed back, in characters: a hostile key is never reflected in full. */
const MAX_ECHOED_KEY = 40;

function truncate(text: string): string {
  return text.length > MAX_ECHOED_KEY ? `${text.slice(0, MAX_ECHOED_KEY)}…` : text;
}

/** `groups[1].cuts`, as the sender wrote it (the schema's keys are the sender's spelling). */
function pathText(path: readonly PropertyKey[]): string {
  let text = '';
  for (const part of path) {
    if (typeof part === 'number') text += `[${part}]`;
    else text += text === '' ? truncate(String(part)) : `.${truncate(String(part))}`;
  }
  return text;
}

/**
 * Every problem of a refused document, once each, in order: `field message` (messages are written
 * to follow the field's name, "must be …"), `unknown property "field"` for keys the schema does not
 * know, and the message alone for a problem of the whole document.
 */
export function listProblems(error: z.ZodError): string[] {
  const problems: string[] = [];
  for (const issue of error.issues) {
    const where = pathText(issue.path);
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) problems.push(`unknown property "${where === '' ? truncate(key) : `${where}.${truncate(key)}`}"`);
    } else if (issue.code === 'invalid_union' && issue.errors.length > 0 && issue.message === 'Invalid input') {
      problems.push(where === '' ? 'does not match any allowed form' : `${where} does not match any allowed form`);
    } else {
      problems.push(where === '' ? issue.message : `${where} ${issue.message}`);
    }
  }
  return [...new Set(problems)];
}

/**
 * Parses `value` with `schema`; on refusal throws `refuse(problems)` — the owning package's coded
 * error, listing every problem at once.
 */
export function parseDocument<S extends z.ZodType>(schema: S, value: unknown, refuse: (problems: string[]) => Error): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw refuse(listProblems(result.error));
  return result.data;
}

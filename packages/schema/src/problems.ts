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
 * to follow the field's name, "must be …"; zod's default messages get `field: Message`),
 * `unknown property "field"` for keys the schema does not know, and the message alone for a problem
 * of the whole document. A union that refused the value is reported in the form the sender was
 * evidently writing: of the branches that accepted the value's type, the one with the fewest problems.
 * `prefix` names where the document sits (`['body']` gives `body.metric_spec.bins …`).
 */
export function listProblems(error: z.ZodError, prefix: readonly PropertyKey[] = []): string[] {
  const problems: string[] = [];
  collect(error.issues, prefix, problems);
  return [...new Set(problems)];
}

/** Whether a union branch refused the value's very type (a string for an object form, an object for a literal). */
function refusedOutright(branch: readonly z.core.$ZodIssue[]): boolean {
  return branch.some((issue) => issue.path.length === 0 && (issue.code === 'invalid_type' || issue.code === 'invalid_value'));
}

function collect(issues: readonly z.core.$ZodIssue[], prefix: readonly PropertyKey[], problems: string[]): void {
  for (const issue of issues) {
    const path = [...prefix, ...issue.path];
    const where = pathText(path);
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) problems.push(`unknown property "${where === '' ? truncate(key) : `${where}.${truncate(key)}`}"`);
      continue;
    }
    if (issue.code === 'invalid_union') {
      // The form the sender was evidently writing: of the branches that accepted the value's type, the one with the fewest problems.
      const candidates = issue.errors.filter((branch) => !refusedOutright(branch));
      const closest = candidates.reduce<readonly z.core.$ZodIssue[] | undefined>((best, branch) => (best === undefined || branch.length < best.length ? branch : best), undefined);
      if (closest !== undefined) {
        collect(closest, path, problems);
        continue;
      }
    }
    problems.push(where === '' ? issue.message : `${where}${followsField(issue.message) ? ' ' : ': '}${issue.message}`);
  }
}

/** Messages written to follow the field's name start in lower case ("must be …"); zod's own ("Invalid input: …") get a colon. */
function followsField(message: string): boolean {
  const first = message.charAt(0);
  return first !== '' && first === first.toLowerCase();
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

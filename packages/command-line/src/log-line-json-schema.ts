// log-line-json-schema.ts — the log-line schema as JSON Schema text (the committed log-line.schema.json, for SIEMs).
import { z } from 'zod';
import { logLineSchema } from './log-lines.ts';

/** JSON Schema (draft 2020-12) of one log line, as committed in packages/command-line/log-line.schema.json. */
export function logLineJsonSchemaText(): string {
  const schema = z.toJSONSchema(logLineSchema, { target: 'draft-2020-12' });
  return `${JSON.stringify({ title: 'fedval log line', ...schema }, null, 2)}\n`;
}

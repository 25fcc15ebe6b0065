// plain-text.ts — the one rule for free text in a fedval document: no control characters (U+0000–U+001F, U+007F).
import type { z } from 'zod';

/** A C0 control character or DEL: PostgreSQL refuses U+0000 in text, and none of them belongs in a name or a label. */
export const CONTROL_CHARACTER = /[\u0000-\u001f\u007f]/;

/** What a refused field is told (it follows the field's name: `body.name must not contain …`). */
export const CONTROL_CHARACTER_MESSAGE = 'must not contain control characters (U+0000 to U+001F, U+007F)';

/** `schema` that also refuses any control character, so every store keeps exactly what the sender wrote. */
export function plainText<S extends z.ZodString>(schema: S): S {
  return schema.refine((value) => !CONTROL_CHARACTER.test(value), { error: CONTROL_CHARACTER_MESSAGE });
}

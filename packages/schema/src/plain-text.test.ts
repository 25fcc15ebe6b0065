// Free text refuses every C0 control character and DEL, and keeps everything else (any script, no-break spaces, emoji).
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { plainText } from './plain-text.ts';
import { listProblems } from './problems.ts';

const document = z.strictObject({ name: plainText(z.string().min(1).max(16)) });

describe('plainText', () => {
  it('refuses U+0000 to U+001F and U+007F, one by one, naming the field', () => {
    const controls = [...Array.from({ length: 0x20 }, (_, code) => code), 0x7f];
    expect(controls).toHaveLength(33);
    for (const code of controls) {
      const result = document.safeParse({ name: `a${String.fromCharCode(code)}b` });
      expect(result.success, `U+${code.toString(16).padStart(4, '0')}`).toBe(false);
      if (!result.success) expect(listProblems(result.error)).toEqual(['name must not contain control characters (U+0000 to U+001F, U+007F)']);
    }
  });

  it('accepts text of any script (U+0080 and above are not refused), and keeps the other checks of the string', () => {
    for (const name of ['Site A', 'Zürich–Nord', '病院 東', 'x\u0080y', 'a\u00a0b', '✓']) expect(document.parse({ name })).toEqual({ name });
    expect(document.safeParse({ name: '' }).success).toBe(false);
    expect(document.safeParse({ name: 'x'.repeat(17) }).success).toBe(false);
  });
});

// Problem lists of refused documents: every problem once, fields named as sent, unions reported in the form the sender was writing.
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { listProblems, parseDocument } from './problems.ts';

const document = z.strictObject({
  name: z.string({ error: 'must be a string' }),
  sizes: z.array(z.int({ error: 'must be an integer' })),
  layout: z.union([z.literal('auto'), z.strictObject({ edges: z.array(z.int()), fine_bins: z.int({ error: 'must be an integer' }) }), z.strictObject({ bins: z.int({ error: 'must be an integer' }) })], {
    error: "must be 'auto' or a layout",
  }),
});

function problemsOf(value: unknown): string[] {
  const result = document.safeParse(value);
  if (result.success) throw new Error('accepted');
  return listProblems(result.error);
}

describe('listProblems', () => {
  it('names each field as sent, with indices, and unknown keys (truncated)', () => {
    expect(problemsOf({ name: 3, sizes: [1, 'x'], layout: 'auto', ['k'.repeat(100)]: 1 })).toEqual([
      'name must be a string',
      'sizes[1] must be an integer',
      `unknown property "${'k'.repeat(40)}…"`,
    ]);
  });

  it('names fields under a prefix saying where the document sits', () => {
    const result = document.safeParse({ name: 3, sizes: [], layout: 'auto', extra: 1 });
    expect(result.success ? [] : listProblems(result.error, ['body'])).toEqual(['body.name must be a string', 'unknown property "body.extra"']);
  });

  it('reports a union in the form the sender was writing, or the union’s own message', () => {
    expect(problemsOf({ name: 'a', sizes: [], layout: { edges: [0, 1], fine_bins: 'x', fineBins: 2 } })).toEqual(['layout.fine_bins must be an integer', 'unknown property "layout.fineBins"']);
    expect(problemsOf({ name: 'a', sizes: [], layout: 'best' })).toEqual(["layout must be 'auto' or a layout"]);
  });

  it('parseDocument returns the data or throws the owner’s error with every problem', () => {
    expect(parseDocument(document, { name: 'a', sizes: [1], layout: { bins: 3 } }, (p) => new Error(p.join('; ')))).toEqual({ name: 'a', sizes: [1], layout: { bins: 3 } });
    expect(() => parseDocument(document, { sizes: 'x', layout: 1 }, (p) => new RangeError(p.join('; ')))).toThrow(
      new RangeError("name must be a string; sizes: Invalid input: expected array, received string; layout must be 'auto' or a layout"),
    );
  });
});

// html.ts — the console's one HTML escaping helper: a tagged template that escapes every interpolated value unless it is already markup.

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' };

/** Markup built by `html` (or a constant): interpolated as is. */
export class SafeHtml {
  readonly markup: string;
  constructor(markup: string) {
    this.markup = markup;
  }
  toString(): string {
    return this.markup;
  }
}

/** Escapes text for an HTML element's content or a quoted attribute value (OWASP XSS prevention rules 1 and 2). */
export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"'`]/g, (c) => ESCAPES[c] as string);
}

/**
 * Builds markup: each interpolated value is escaped, except SafeHtml (made by this tag) and arrays of values, which are
 * interpolated item by item under the same rule; null, undefined and false interpolate nothing.
 */
export function html(strings: TemplateStringsArray, ...values: unknown[]): SafeHtml {
  let out = strings[0] as string;
  values.forEach((value, i) => {
    out += fragment(value) + (strings[i + 1] as string);
  });
  return new SafeHtml(out);
}

function fragment(value: unknown): string {
  if (value === null || value === undefined || value === false) return '';
  if (value instanceof SafeHtml) return value.markup;
  if (Array.isArray(value)) return value.map(fragment).join('');
  return escapeHtml(value);
}

// html.test.ts — the console's escaping helper: every character that can open markup or end an attribute is escaped.
import { describe, expect, it } from 'vitest';
import { escapeHtml, html, SafeHtml } from './html.ts';

describe('escapeHtml', () => {
  it('escapes the characters that open a tag, an entity or end a quoted attribute', () => {
    // Expected values written by hand from the HTML spec's named character references.
    expect(escapeHtml(`<img src=x onerror="alert('1')">&\``)).toBe('&lt;img src=x onerror=&quot;alert(&#39;1&#39;)&quot;&gt;&amp;&#96;');
    expect(escapeHtml('plain text, é ü 数')).toBe('plain text, é ü 数');
    expect(escapeHtml(42)).toBe('42');
  });
});

describe('html', () => {
  it('escapes interpolated values, keeps nested markup and arrays, drops null, undefined and false', () => {
    const name = '<script>alert(1)</script>';
    const inner = html`<b>${name}</b>`;
    expect(inner).toBeInstanceOf(SafeHtml);
    expect(html`<td title="${'a"b'}">${inner}</td>`.markup).toBe('<td title="a&quot;b"><b>&lt;script&gt;alert(1)&lt;/script&gt;</b></td>');
    expect(html`<ul>${['<a>', html`<li>x</li>`]}</ul>`.markup).toBe('<ul>&lt;a&gt;<li>x</li></ul>');
    expect(html`[${null}${undefined}${false}${0}]`.markup).toBe('[0]');
  });
  it('never trusts a string that merely looks like markup', () => {
    expect(html`${{ toString: () => '<i>' }}`.markup).toBe('&lt;i&gt;');
    expect(String(html`${'<i>'}`)).toBe('&lt;i&gt;');
  });
});

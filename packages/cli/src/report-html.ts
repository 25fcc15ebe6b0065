// report-html.ts — the validation report as one self-contained HTML page: no script, nothing loaded from the network, every value escaped.
import type { ReportBlock, ReportContent } from './report-sections.ts';

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const esc = (value: unknown): string => String(value).replace(/[&<>"']/g, (c) => ESCAPES[c] as string);

/** The page's Content Security Policy: nothing may load or run; inline styles and the inline SVG only. */
export const REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'";

const STYLE =
  'body{font:14px/1.45 system-ui,sans-serif;max-width:1000px;margin:2em auto;color:#222}table{border-collapse:collapse;margin:.4em 0 1.4em}' +
  'td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}th{background:#f2f2f2}p.caption{color:#555;margin:.8em 0 .2em}' +
  'figure{margin:0 0 1.5em}figcaption{color:#555}pre{background:#f6f6f6;padding:.6em}.em{font-weight:600}small{color:#666}';

function block(item: ReportBlock): string {
  if (item.kind === 'paragraph') return `<p${item.emphasis ? ' class="em"' : ''}>${esc(item.text)}</p>`;
  if (item.kind === 'preformatted') return `<pre>${esc(item.text)}</pre>`;
  const { caption, header, rows } = item.table;
  return `${caption ? `<p class="caption">${esc(caption)}</p>` : ''}<table><tr>${header.map((cell) => `<th>${esc(cell)}</th>`).join('')}</tr>${rows
    .map((row) => `<tr>${row.map((cell) => `<td>${esc(cell)}</td>`).join('')}</tr>`)
    .join('')}</table>`;
}

/**
 * Vega's SVG with what a page must not carry removed: the XML namespace declarations name no resource, but a reader
 * checking for URLs should find none, and inline SVG in HTML needs none.
 */
function inlineSvg(svg: string): string {
  return svg.replace(/\s+xmlns(:xlink)?="[^"]*"/g, '');
}

/** Renders the report content as a page. */
export function renderReportHtml(content: ReportContent): string {
  const sections = content.sections.map((section) => `<section id="${esc(section.id)}"><h2>${esc(section.heading)}</h2>${section.blocks.map(block).join('\n')}</section>`).join('\n');
  const figures = content.figures
    .map((figure, i) => `<figure id="figure-${esc(figure.id)}">${inlineSvg(figure.svg)}<figcaption>Figure ${i + 1}. ${esc(figure.title)}</figcaption></figure>`)
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="${REPORT_CSP}">
<title>${esc(content.title)}</title><style>${STYLE}</style></head><body>
<h1>${esc(content.title)}</h1>
<p><small>${esc(content.subtitle)}</small></p>
${sections}
${figures ? `<section id="figures"><h2>Figures</h2>${figures}</section>` : ''}
</body></html>
`;
}

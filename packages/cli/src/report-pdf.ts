// report-pdf.ts — the validation report as a PDF made without a browser: PDFKit for the text and tables, SVG-to-PDFKit for Vega's SVG charts.
import PDFDocument from 'pdfkit';
import SVGtoPDF from 'svg-to-pdfkit';
import type { ReportContent, ReportTable } from './report-sections.ts';

const MARGIN = 50; // pt
const FONT = 'Helvetica';
const BOLD = 'Helvetica-Bold';
const BODY_SIZE = 9; // pt
const CELL_PADDING = 3; // pt

/**
 * The standard PDF fonts encode WinAnsi (Latin-1) only: any other character is shown as `?` rather than as a wrong
 * glyph, so the PDF never says something the released JSON does not.
 */
const latin1 = (text: string): string => text.replace(/[^\u0009\u000a\u0020-\u007e\u00a0-\u00ff]/g, '?');

function drawTable(doc: PDFKit.PDFDocument, table: ReportTable): void {
  const width = doc.page.width - 2 * MARGIN;
  const columns = table.header.length;
  // Column widths in proportion to the longest cell of each column, each at least as wide as its longest word.
  doc.font(BOLD).fontSize(BODY_SIZE);
  const cellsOf = (c: number) => [table.header[c] ?? '', ...table.rows.map((row) => row[c] ?? '')];
  const longest = table.header.map((_, c) => Math.min(70, Math.max(4, ...cellsOf(c).map((cell) => cell.length))));
  const minimum = table.header.map((_, c) => Math.min(width / 3, Math.max(...cellsOf(c).flatMap((cell) => latin1(cell).split(/\s+/)).map((word) => doc.widthOfString(word))) + 2 * CELL_PADDING + 1));
  const total = longest.reduce((a, b) => a + b, 0);
  const widths = longest.map((n, c) => Math.max(minimum[c] as number, (n / total) * width));
  const spare = widths.reduce((a, b) => a + b, 0) - width;
  if (spare > 0) {
    // Too wide: take the excess from the columns above their minimum, in proportion to what they have above it.
    const room = widths.reduce((a, w, c) => a + (w - (minimum[c] as number)), 0);
    for (let c = 0; c < columns; c += 1) widths[c] = (widths[c] as number) - (room > 0 ? (spare * ((widths[c] as number) - (minimum[c] as number))) / room : spare / columns);
  } else for (let c = 0; c < columns; c += 1) widths[c] = (widths[c] as number) * (width / (width + spare));
  if (table.caption) {
    doc.font(FONT).fontSize(BODY_SIZE).fillColor('#555').text(latin1(table.caption), MARGIN, doc.y, { width });
    doc.moveDown(0.2);
  }
  const drawRow = (cells: string[], header: boolean): void => {
    doc.font(header ? BOLD : FONT).fontSize(BODY_SIZE);
    const heights = cells.map((cell, c) => doc.heightOfString(latin1(cell), { width: (widths[c] as number) - 2 * CELL_PADDING }));
    const height = Math.max(...heights, BODY_SIZE) + 2 * CELL_PADDING;
    if (doc.y + height > doc.page.height - MARGIN) doc.addPage();
    const top = doc.y;
    let x = MARGIN;
    cells.forEach((cell, c) => {
      const w = widths[c] as number;
      if (header) doc.rect(x, top, w, height).fill('#f0f0f0');
      doc.rect(x, top, w, height).lineWidth(0.5).stroke('#bbbbbb');
      doc.fillColor('#222').text(latin1(cell), x + CELL_PADDING, top + CELL_PADDING, { width: w - 2 * CELL_PADDING, lineBreak: true });
      x += w;
    });
    doc.x = MARGIN;
    doc.y = top + height;
  };
  drawRow(table.header, true);
  for (const row of table.rows) drawRow(row, false);
  doc.moveDown(0.8);
}

/** Renders the report content as a PDF (A4); `createdAt` is written as the document's creation date. */
export async function renderReportPdf(content: ReportContent, createdAt: Date): Promise<Uint8Array> {
  const doc = new PDFDocument({ size: 'A4', margin: MARGIN, info: { Title: latin1(content.title), Creator: 'fedval', Producer: 'fedval (PDFKit)', CreationDate: createdAt, ModDate: createdAt } });
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    doc.on('data', (chunk: Buffer) => chunks.push(chunk));
    doc.on('end', () => resolve());
    doc.on('error', reject);
  });
  const width = doc.page.width - 2 * MARGIN;
  doc.font(BOLD).fontSize(16).fillColor('#222').text(latin1(content.title), { width });
  doc.moveDown(0.3);
  doc.font(FONT).fontSize(BODY_SIZE).fillColor('#555').text(latin1(content.subtitle), { width });
  doc.moveDown(0.8);
  for (const section of content.sections) {
    if (doc.y > doc.page.height - MARGIN - 80) doc.addPage();
    doc.font(BOLD).fontSize(13).fillColor('#222').text(latin1(section.heading), MARGIN, doc.y, { width });
    doc.moveDown(0.3);
    for (const block of section.blocks) {
      if (block.kind === 'table') drawTable(doc, block.table);
      else {
        doc.font(block.kind === 'preformatted' ? 'Courier' : block.emphasis ? BOLD : FONT).fontSize(block.kind === 'preformatted' ? 7 : BODY_SIZE).fillColor('#222');
        doc.text(latin1(block.text), MARGIN, doc.y, { width });
        doc.moveDown(0.5);
      }
    }
  }
  // Each figure on its own page, headed "Figure N." (the text pages come first).
  content.figures.forEach((figure, i) => {
    doc.addPage();
    doc.font(BOLD).fontSize(11).fillColor('#222').text(latin1(`Figure ${i + 1}. ${figure.title}`), MARGIN, MARGIN, { width });
    const size = /<svg[^>]*\swidth="([\d.]+)"[^>]*\sheight="([\d.]+)"/.exec(figure.svg);
    const svgWidth = Number(size?.[1] ?? width);
    const svgHeight = Number(size?.[2] ?? width);
    const scale = Math.min(width / svgWidth, (doc.page.height - 2 * MARGIN - 40) / svgHeight);
    SVGtoPDF(doc, figure.svg, MARGIN, doc.y + 10, { width: svgWidth * scale, height: svgHeight * scale, assumePt: true, fontCallback: () => FONT });
  });
  doc.end();
  await done;
  return new Uint8Array(Buffer.concat(chunks));
}

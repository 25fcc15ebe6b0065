// report-command.ts — `fedval report`: a released round's validation report (HTML, PDF, model card) and its signed evidence bundle, written to a directory.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { packageVersion } from '@fedval/command-line';
import type { ReportChart } from './report-charts.ts';
import { fetchReleasedRound } from './report-document.ts';
import type { ReleasedRoundOptions, ReportDocument } from './report-document.ts';
import { renderReportHtml } from './report-html.ts';
import { reportContent } from './report-sections.ts';
import { modelCard } from './model-card.ts';
import { EVIDENCE_FILES, EVIDENCE_MANIFEST, makeEvidenceManifest } from './evidence-bundle.ts';
import { CliError } from './errors.ts';
import { keyHolderIdentity } from './key-holder.ts';

/** Formats `--format` accepts; `json` (report.json, the evidence manifest) is always written. */
export const REPORT_FORMATS = ['html', 'pdf', 'json', 'model-card'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];
/** Default `--format`: every format. */
export const DEFAULT_REPORT_FORMATS: readonly ReportFormat[] = REPORT_FORMATS;

/** File names inside the output directory. */
export const REPORT_FILES = Object.freeze({ html: EVIDENCE_FILES[0], pdf: EVIDENCE_FILES[1], modelCard: EVIDENCE_FILES[2], manifest: EVIDENCE_MANIFEST });

/** Parses `--format html,pdf,...`; an unknown format is a coded error naming the known ones. */
export function parseReportFormats(value: string): ReportFormat[] {
  const formats = value.split(',').map((item) => item.trim()).filter((item) => item !== '');
  const unknown = formats.filter((item) => !(REPORT_FORMATS as readonly string[]).includes(item));
  if (unknown.length > 0 || formats.length === 0) throw new CliError('FEDVAL_ERR_CLI_REPORT_FORMAT', `${unknown.join(', ') || '(none)'}; known: ${REPORT_FORMATS.join(', ')}`);
  return [...new Set(formats)] as ReportFormat[];
}

export interface WriteReportOptions {
  out: string;
  /** Default: every format. */
  formats?: readonly ReportFormat[] | undefined;
  /** The report maker's Ed25519 signing key file (read, or created 0600 when absent): it signs report.json. */
  signingKey: string;
  /** Clock (tests). Default: now. */
  now?: () => Date;
}

export interface WrittenReport {
  out: string;
  round_id: string;
  files: { name: string; bytes: number }[];
  /** The release's signer and report.json's signer: what `fedval evidence verify --key-holder --signer` pins. */
  key_holder_fingerprint: string;
  maker_fingerprint: string;
  /** Wall-clock milliseconds: charts, HTML, PDF, the whole report. */
  timings_ms: { charts: number; html: number; pdf: number; total: number };
}

const SOFTWARE = `fedval ${packageVersion(new URL('../package.json', import.meta.url))}`;

/** Writes the report files of a verified released round and report.json (its evidence manifest, signed) into `out`. */
// The chart (Vega) and PDF (PDFKit) libraries are loaded by the report that draws them, not by every `fedval` command:
// together they add about a second to a process's start-up (the key holder's `keys init` and `decrypt`, `simulate`).
export async function writeReport(doc: ReportDocument, options: WriteReportOptions): Promise<WrittenReport> {
  const started = performance.now();
  const formats = new Set(options.formats ?? DEFAULT_REPORT_FORMATS);
  const madeAt = (options.now ?? (() => new Date()))();
  const metrics = doc.released.metrics;
  let figures: ReportChart[] = [];
  const chartsStarted = performance.now();
  if ((formats.has('html') || formats.has('pdf')) && metrics.task === 'binary') figures = await (await import('./report-charts.ts')).binaryCharts(metrics);
  const chartsMs = performance.now() - chartsStarted;
  const content = reportContent(doc, figures, madeAt.toISOString(), SOFTWARE);
  const files = new Map<string, Uint8Array>();
  const htmlStarted = performance.now();
  if (formats.has('html')) files.set(REPORT_FILES.html, new Uint8Array(Buffer.from(renderReportHtml(content), 'utf8')));
  const htmlMs = performance.now() - htmlStarted;
  const pdfStarted = performance.now();
  if (formats.has('pdf')) files.set(REPORT_FILES.pdf, await (await import('./report-pdf.ts')).renderReportPdf(content, madeAt));
  const pdfMs = performance.now() - pdfStarted;
  if (formats.has('model-card')) files.set(REPORT_FILES.modelCard, new Uint8Array(Buffer.from(`${JSON.stringify(modelCard(doc), null, 2)}\n`, 'utf8')));
  const maker = keyHolderIdentity(options.signingKey);
  const manifest = makeEvidenceManifest(doc, files, { at: madeAt.toISOString(), software: SOFTWARE }, maker.privateKey);
  await mkdir(options.out, { recursive: true });
  for (const [name, bytes] of files) await writeFile(join(options.out, name), bytes);
  await writeFile(join(options.out, REPORT_FILES.manifest), manifest);
  return {
    out: options.out,
    round_id: doc.round.round_id,
    files: [...files, [REPORT_FILES.manifest, manifest] as const].map(([name, bytes]) => ({ name, bytes: bytes.byteLength })),
    key_holder_fingerprint: doc.key_holder_fingerprint,
    maker_fingerprint: maker.fingerprint,
    timings_ms: { charts: chartsMs, html: htmlMs, pdf: pdfMs, total: performance.now() - started },
  };
}

/** `fedval report`: reads the released round from the coordinator (verified against the key holder's signed release) and writes the report. */
export async function makeReport(options: ReleasedRoundOptions & WriteReportOptions): Promise<WrittenReport> {
  return writeReport(await fetchReleasedRound(options), options);
}

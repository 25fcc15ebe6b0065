// console-report.ts — a released round's validation report for the console, made server-side by `fedval report`'s own code from what the reader's role may see.
import { packageVersion } from '@fedval/command-line';
import { releasedPrivacySchema } from '@fedval/protocol';
import type { ModelView, RoundView, StudyView } from '@fedval/protocol';
import { TrustError, verifyReleaseStatement } from '@fedval/trust';
import { CoordinatorError } from '../errors.ts';
import type { ROUND_READERS } from '../routes/rounds.ts';

/** Starts loading the report code (charting and PDF libraries, seconds on a cold start) in the background, at login. */
export function warmReportCode(): void {
  import('@fedval/cli').catch(() => {}); // a failure surfaces, coded, when a report is asked for
}

/** The report page's Content Security Policy: the report's own (inline styles and inline SVG, nothing runs or loads), and no framing. */
export async function reportCsp(): Promise<string> {
  const { REPORT_CSP } = await import('@fedval/cli');
  return `${REPORT_CSP}; frame-ancestors 'none'`;
}

const SOFTWARE = `fedval coordinator ${packageVersion(new URL('../../package.json', import.meta.url))} console`;

/**
 * Renders the report of a released round as `fedval report` writes report.html, from the round as the REST API serves
 * it to this reader (a sponsor's copy has no per-site privacy). The result is checked against the key holder's signed
 * release statement first, exactly as `fedval report` checks it: a stored result that the statement does not bind is
 * refused. The statement's signer is not pinned here (the console is the coordinator's); `fedval report --key-holder`
 * and `fedval evidence verify` are how a reader checks it against a key it holds.
 */
export async function renderRoundReport(round: RoundView, study: StudyView, model: ModelView | null, now: Date, readerRole: (typeof ROUND_READERS)[number]): Promise<string> {
  // Loaded on first use: the charting and PDF libraries are not needed to run a coordinator.
  const { binaryCharts, releaseMismatches, renderReportHtml, reportContent, reportDocumentSchema } = await import('@fedval/cli');
  if (!round.result || round.closed_at === undefined) throw new CoordinatorError('FEDVAL_ERR_COORD_CONSOLE_NOT_RELEASED', `round is ${round.state}, release ${round.release}`);
  if (!round.result.signed_release) throw new CoordinatorError('FEDVAL_ERR_COORD_CONSOLE_NOT_RELEASED', 'released without a signed statement');
  let verified: ReturnType<typeof verifyReleaseStatement>;
  try {
    verified = verifyReleaseStatement(round.result.signed_release);
  } catch (cause) {
    if (cause instanceof TrustError) throw new CoordinatorError('FEDVAL_ERR_COORD_CONSOLE_REPORT_MISMATCH', cause.code, { cause });
    throw cause;
  }
  const reportStudy = {
    study_id: study.study_id, name: study.name, model_id: study.model_id, score_column: study.score_column, metric_spec: study.metric_spec, privacy: study.privacy, release: study.release,
  };
  const released = {
    metrics: round.result.metrics,
    privacy: releasedPrivacySchema.parse(round.result.privacy ?? {}),
    contributions: round.result.contributions,
    sites: round.result.sites,
  };
  const times = { round_id: round.round_id, created_at: round.created_at, closed_at: round.closed_at };
  // The per-site reports must be there for a role that may see them: a stored result without them is refused.
  const problems = releaseMismatches(verified.statement, released, reportStudy, times, readerRole);
  if (problems.length > 0) throw new CoordinatorError('FEDVAL_ERR_COORD_CONSOLE_REPORT_MISMATCH', problems.join('; '));
  const doc = reportDocumentSchema.parse({
    study: reportStudy, model, round: times, released, release: verified.signed, key_holder_fingerprint: verified.keyHolderFingerprint, key_holder_pinned: false, reader_role: readerRole,
  });
  const figures = doc.released.metrics.task === 'binary' ? await binaryCharts(doc.released.metrics) : [];
  return renderReportHtml(reportContent(doc, figures, now.toISOString(), SOFTWARE));
}

// audit.ts — `fedval audit verify` and `fedval audit cross-check`: checking audit trails offline, from their files alone.
import { join, resolve } from 'node:path';
import { crossCheckRound, isRoundEntry, readAuditLog, verifyAuditLog } from '@fedval/trust';
import type { AuditEntry, AuditVerification, RoundDiscrepancy } from '@fedval/trust';
import { CliError } from './errors.ts';

/** File name of the audit trail in a coordinator's or an agent's data directory. */
export const AUDIT_FILE = 'audit.jsonl';

export interface AuditVerifyReport {
  file: string;
  verification: AuditVerification;
}

/** Verifies `<dir>/audit.jsonl`; a missing or unreadable file throws FEDVAL_ERR_TRUST_AUDIT_UNREADABLE. */
export function verifyAuditDir(dir: string): AuditVerifyReport {
  const file = join(resolve(dir), AUDIT_FILE);
  return { file, verification: verifyAuditLog(file) };
}

/** One line for people: intact with its size and head, or the first broken entry (line, seq, reason). */
export function describeVerification(report: AuditVerifyReport): string {
  const v = report.verification;
  if (v.ok) return `${report.file}: intact, ${v.entries} entries, head ${v.head}`;
  const seq = v.seq === undefined ? '' : `, seq ${v.seq}`;
  return `${report.file}: BROKEN at line ${v.line}${seq}: ${v.reason}${v.detail ? ` (${v.detail})` : ''}; the ${v.intactEntries} entries before it are intact`;
}

export interface AuditShowReport extends AuditVerifyReport {
  /** The entries read (of one round with `round`), up to the first broken one. */
  entries: AuditEntry[];
}

/** Reads `<dir>/audit.jsonl` for people, verifying it as it goes; with `round`, only that round's entries. */
export function showAuditDir(dir: string, round?: string): AuditShowReport {
  const file = join(resolve(dir), AUDIT_FILE);
  const { verification, entries } = readAuditLog(file, round ? { select: (entry) => isRoundEntry(entry, round) } : {});
  return { file, verification, entries: [...entries] };
}

/** Parses `SITE=DIR`. */
export function parseSiteDir(text: string): { site: string; dir: string } {
  const at = text.indexOf('=');
  const site = text.slice(0, at);
  const dir = text.slice(at + 1);
  if (at <= 0 || !dir || !/^[A-Za-z0-9._:-]{1,128}$/.test(site)) {
    throw new CliError('FEDVAL_ERR_CLI_USAGE', `--site ${text}: expected SITE=DIR (a site id and the agent's data directory)`);
  }
  return { site, dir };
}

export interface CrossCheckReport {
  round: string;
  /** Each log's verification; the comparison is only made when all are intact. */
  logs: { party: string; file: string; verification: AuditVerification }[];
  /** Null when a log is broken: contents of a broken log prove nothing. */
  discrepancies: RoundDiscrepancy[] | null;
}

/**
 * Verifies the coordinator's log and each site's, then compares, for one round, what each site logged as sent
 * (`contribution.sent`) with what the coordinator logged as received (`contribution.received`).
 */
export function crossCheckAuditDirs(options: { coordinatorDir: string; sites: { site: string; dir: string }[]; round: string }): CrossCheckReport {
  const object = `round:${options.round}`;
  const select = (entry: AuditEntry): boolean => entry.object === object;
  const read = (party: string, dir: string) => {
    const file = join(resolve(dir), AUDIT_FILE);
    const { verification, entries } = readAuditLog(file, { select });
    return { party, file, verification, entries };
  };
  const coordinator = read('coordinator', options.coordinatorDir);
  const sites = options.sites.map(({ site, dir }) => read(`site:${site}`, dir));
  const logs = [coordinator, ...sites].map(({ party, file, verification }) => ({ party, file, verification }));
  if (logs.some((log) => !log.verification.ok)) return { round: options.round, logs, discrepancies: null };
  const siteLogs = Object.fromEntries(options.sites.map(({ site }, i) => [site, sites[i]!.entries]));
  return { round: options.round, logs, discrepancies: crossCheckRound(siteLogs, coordinator.entries, options.round) };
}

/** Lines for people: each log's state, then each discrepancy or agreement. */
export function describeCrossCheck(report: CrossCheckReport): string[] {
  const lines = report.logs.map((log) => `${log.party}: ${describeVerification({ file: log.file, verification: log.verification })}`);
  if (report.discrepancies === null) {
    lines.push(`round ${report.round}: not compared, a log is broken`);
  } else if (report.discrepancies.length === 0) {
    lines.push(`round ${report.round}: the logs agree`);
  } else {
    for (const d of report.discrepancies) lines.push(`round ${report.round}: ${d.kind} ${JSON.stringify(d)}`);
  }
  return lines;
}

// audit.ts — `fedval audit verify`, `anchors` and `cross-check`: checking audit trails offline, from their files alone.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  conflictingAnchors, crossCheckRound, isRoundEntry, parseAuditAnchor, parseAuditAnchors, readAuditLog, recordedAuditHeads, verifyAuditLog,
} from '@fedval/trust';
import type { AnchoredParty, AuditEntry, AuditHead, AuditVerification, RoundDiscrepancy } from '@fedval/trust';
import { CliError } from './errors.ts';

/** File name of the audit trail in a coordinator's or an agent's data directory. */
export const AUDIT_FILE = 'audit.jsonl';

/**
 * Longest line of the key holder's own trail, written and read back: its `roster.pinned` entry lists every site's key
 * fingerprint (up to 1 MiB of details). Every other trail is read with the 64 KiB default of @fedval/trust.
 */
export const KEY_HOLDER_AUDIT_LINE_BYTES = 4 * 1024 * 1024; // 4 MiB

/** A key directory holds the key holder's plan and public key (`KEY_FILES` of key-holder.ts) beside its trail. */
function isKeyDir(dir: string): boolean {
  return existsSync(join(dir, 'plan.json')) && existsSync(join(dir, 'public.key'));
}

/** How to read `<dir>/audit.jsonl`: the key holder's trail with its longer lines, any other with the defaults. */
export function trailReadOptions(dir: string, keyHolder = isKeyDir(dir)): { maxLineBytes?: number } {
  return keyHolder ? { maxLineBytes: KEY_HOLDER_AUDIT_LINE_BYTES } : {};
}

export interface AuditVerifyReport {
  file: string;
  verification: AuditVerification;
}

/**
 * Verifies `<dir>/audit.jsonl` against `anchors` (heads of it another party kept: each must still be in the log); a
 * missing or unreadable file throws FEDVAL_ERR_TRUST_AUDIT_UNREADABLE.
 */
export function verifyAuditDir(dir: string, anchors: readonly AuditHead[] = []): AuditVerifyReport {
  const file = join(resolve(dir), AUDIT_FILE);
  return { file, verification: verifyAuditLog(file, { anchors, ...trailReadOptions(dir) }) };
}

/** The anchors of `--anchor SEQ:HASH` (repeatable) and `--anchors FILE`; throws FEDVAL_ERR_CLI_USAGE naming the bad one. */
export function anchorsFromOptions(options: { anchor?: string[]; anchors?: string | undefined }): AuditHead[] {
  try {
    return [
      ...(options.anchor ?? []).map(parseAuditAnchor),
      ...(options.anchors ? parseAuditAnchors(readFileSync(options.anchors, 'utf8')) : []),
    ];
  } catch (cause) {
    throw new CliError('FEDVAL_ERR_CLI_USAGE', `--anchor/--anchors: ${(cause as Error).message}`, { cause });
  }
}

/** Parses `--party`: `coordinator`, `key-holder` or `site:ID`. */
export function parseParty(text: string): { party: AnchoredParty; siteId?: string } {
  if (text === 'coordinator') return { party: 'coordinator' };
  if (text === 'key-holder') return { party: 'key_holder' };
  const site = /^site:([A-Za-z0-9._:-]{1,128})$/.exec(text)?.[1];
  if (site) return { party: 'site', siteId: site };
  throw new CliError('FEDVAL_ERR_CLI_USAGE', `--party ${text}: expected coordinator, key-holder or site:ID`);
}

export interface AnchorsReport {
  /** Whose heads these are: `coordinator`, `key-holder` or `site:ID`. */
  party: string;
  /** The trail that kept them. */
  file: string;
  verification: AuditVerification;
  anchors: AuditHead[];
  /** Seqs for which the party showed two different heads (two histories). */
  conflicts: number[];
}

/** The heads of `party` kept in `<dir>/audit.jsonl` (read up to its first break): anchors for the party's own trail. */
export function anchorsInDir(dir: string, party: string): AnchorsReport {
  const { party: kind, siteId } = parseParty(party);
  const file = join(resolve(dir), AUDIT_FILE);
  const { verification, entries } = readAuditLog(file, trailReadOptions(dir));
  const anchors = recordedAuditHeads(entries, kind, siteId);
  return { party, file, verification, anchors, conflicts: conflictingAnchors(anchors) };
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
  const { verification, entries } = readAuditLog(file, { ...trailReadOptions(dir), ...(round ? { select: (entry: AuditEntry) => isRoundEntry(entry, round) } : {}) });
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

export interface CrossCheckLog {
  party: string;
  file: string;
  /** The chain checked against every head of this trail the other trails kept. */
  verification: AuditVerification;
  /** How many such heads (anchors) there were. */
  anchors: number;
  /** Seqs for which the other trails kept two different heads of this one (it showed two histories). */
  conflicts: number[];
}

export interface CrossCheckReport {
  /** The round compared, or null when only the trails were checked. */
  round: string | null;
  /** Each trail's verification against the heads of it that the others kept; the round is compared only when all hold. */
  logs: CrossCheckLog[];
  /** Null when a trail is broken, cut short or rewound, or no round was asked for: contents of such a trail prove nothing. */
  discrepancies: RoundDiscrepancy[] | null;
}

/**
 * Checks the trails against each other, then (with `round`) compares them. Each site and the key holder kept the
 * coordinator's heads they saw, and the coordinator kept each site's and the key holder's: every trail is verified
 * against the heads of it the others kept, so a trail cut short, emptied or rewound (rewritten from an earlier entry)
 * is reported as `anchor_mismatch`. Then, for `round`, what each site logged as sent (`contribution.sent`) is compared
 * with what the coordinator logged as received (`contribution.received`).
 */
export function crossCheckAuditDirs(options: { coordinatorDir: string; sites: { site: string; dir: string }[]; keyDir?: string | undefined; round?: string | undefined }): CrossCheckReport {
  const read = (party: string, dir: string) => {
    const file = join(resolve(dir), AUDIT_FILE);
    const readOptions = trailReadOptions(dir, party === 'key-holder');
    return { party, file, readOptions, entries: readAuditLog(file, readOptions).entries };
  };
  const coordinator = read('coordinator', options.coordinatorDir);
  const sites = options.sites.map(({ site, dir }) => ({ site, ...read(`site:${site}`, dir) }));
  const keyHolder = options.keyDir ? read('key-holder', options.keyDir) : undefined;
  const check = (log: { party: string; file: string; readOptions: { maxLineBytes?: number } }, anchors: AuditHead[]): CrossCheckLog => ({
    party: log.party,
    file: log.file,
    verification: verifyAuditLog(log.file, { anchors, ...log.readOptions }),
    anchors: anchors.length,
    conflicts: conflictingAnchors(anchors),
  });
  const coordinatorAnchors = [...sites, ...(keyHolder ? [keyHolder] : [])].flatMap((log) => recordedAuditHeads(log.entries, 'coordinator'));
  const logs = [
    check(coordinator, coordinatorAnchors),
    ...sites.map((log) => check(log, recordedAuditHeads(coordinator.entries, 'site', log.site))),
    ...(keyHolder ? [check(keyHolder, recordedAuditHeads(coordinator.entries, 'key_holder'))] : []),
  ];
  const round = options.round ?? null;
  if (round === null || logs.some((log) => !log.verification.ok)) return { round, logs, discrepancies: null };
  const object = `round:${round}`;
  const ofRound = (entries: AuditEntry[]): AuditEntry[] => entries.filter((entry) => entry.object === object);
  const siteLogs = Object.fromEntries(sites.map((log) => [log.site, ofRound(log.entries)]));
  return { round, logs, discrepancies: crossCheckRound(siteLogs, ofRound(coordinator.entries), round) };
}

/** Lines for people: each log's state, then each discrepancy or agreement. */
export function describeCrossCheck(report: CrossCheckReport): string[] {
  const lines = report.logs.map((log) => {
    const anchored = ` (checked against ${log.anchors} head${log.anchors === 1 ? '' : 's'} kept by the other trails)`;
    const forked = log.conflicts.length > 0 ? `; TWO HISTORIES shown for seq ${log.conflicts.join(', ')}` : '';
    return `${log.party}: ${describeVerification({ file: log.file, verification: log.verification })}${anchored}${forked}`;
  });
  if (report.round === null) return lines;
  if (report.discrepancies === null) {
    lines.push(`round ${report.round}: not compared, a trail is broken, cut short or rewound`);
  } else if (report.discrepancies.length === 0) {
    lines.push(`round ${report.round}: the logs agree`);
  } else {
    for (const d of report.discrepancies) lines.push(`round ${report.round}: ${d.kind} ${JSON.stringify(d)}`);
  }
  return lines;
}

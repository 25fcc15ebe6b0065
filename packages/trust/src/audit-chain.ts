// audit-chain.ts — reading an audit.jsonl and verifying its hash chain entry by entry, in bounded memory.
import { closeSync, openSync, readSync } from 'node:fs';
import type { AuditEntry, AuditHead } from './audit-entry.ts';
import { AUDIT_GENESIS_HASH, hashAuditEntry, parseStoredEntry } from './audit-entry.ts';
import { isHex32 } from './digest.ts';
import { TrustError } from './errors.ts';
import type { OptionRule } from './options.ts';
import { integerIn, resolveOptions } from './options.ts';

/** Why verification stopped at a line. */
export type AuditBreakReason =
  | 'malformed' // not one canonical JSON entry with the nine fields
  | 'hash_mismatch' // the entry's content was changed after it was written
  | 'bad_sequence' // seq is not the line's position: an entry was deleted, inserted or moved before it
  | 'broken_link' // prev is not the previous entry's hash: an entry was inserted, replaced or moved
  | 'torn_tail' // the last line has no line end: a write was interrupted (crash)
  | 'anchor_mismatch'; // a head published earlier is no longer in the log: the log was cut short or rewritten

export type AuditVerification =
  | { readonly ok: true; readonly entries: number; readonly head: string }
  | {
      readonly ok: false;
      /** 1-based line of the first broken entry. */
      readonly line: number;
      /** That entry's seq, when it could be read. */
      readonly seq?: number;
      readonly reason: AuditBreakReason;
      /** One sentence for people; names fields, never their values. */
      readonly detail: string;
      /** Entries before the break, all intact. */
      readonly intactEntries: number;
    };

export interface AuditReadOptions {
  /**
   * Heads published or countersigned earlier (`AuditLog#head`, `auditHead`): each must still be in the log with the
   * same hash. The chain alone cannot reveal that its newest entries were removed or that the whole file was
   * rewritten; an anchor can. Default none.
   */
  anchors: readonly AuditHead[];
  /** Longest line accepted, in bytes. Default 65,536 (64 KiB). */
  maxLineBytes: number;
}

export interface ReadAuditLogOptions extends AuditReadOptions {
  /** Which verified entries to return (all by default). Entries after a break are never returned. */
  select: (entry: AuditEntry) => boolean;
}

export const DEFAULT_AUDIT_READ_OPTIONS: Readonly<AuditReadOptions> = Object.freeze({
  anchors: Object.freeze([]),
  maxLineBytes: 64 * 1024, // 64 KiB; the key holder, whose roster entry lists every site, passes more for its own trail
});

const MAX_LINE_BYTES = 16 * 1024 * 1024; // 16 MiB, upper bound of maxLineBytes
const READ_CHUNK_BYTES = 64 * 1024; // 64 KiB

const anchorsRule: OptionRule = (value) => {
  if (!Array.isArray(value)) return 'expected an array of { seq, hash }';
  for (const anchor of value as unknown[]) {
    const { seq, hash } = (anchor ?? {}) as Partial<AuditHead>;
    if (!Number.isSafeInteger(seq) || (seq as number) < 0 || !isHex32(hash)) {
      return 'each anchor needs a non-negative integer seq and a lowercase hex SHA-256 hash';
    }
    if (seq === 0 && hash !== AUDIT_GENESIS_HASH) return 'the head of seq 0 is the genesis hash';
  }
  return undefined;
};

export const auditReadRules = { anchors: anchorsRule, maxLineBytes: integerIn(1024, MAX_LINE_BYTES) };

export function resolveAuditReadOptions(options: Partial<AuditReadOptions> | undefined): Readonly<AuditReadOptions> {
  return resolveOptions('audit log reading', DEFAULT_AUDIT_READ_OPTIONS, options, auditReadRules);
}

/** Outcome of scanning a log: the verification, the last intact entry, and the byte length of the intact prefix. */
export interface ChainScan {
  readonly verification: AuditVerification;
  readonly head: AuditHead;
  readonly intactBytes: number;
}

interface RawLine {
  /** File offset just after this line's line end. */
  readonly end: number;
  /** The line without its line end; null when it exceeds maxLineBytes (a line this writer never produces). */
  readonly bytes: Buffer | null;
  readonly terminated: boolean;
}

function* readLines(fd: number, maxLineBytes: number): Generator<RawLine> {
  const chunk = Buffer.allocUnsafe(READ_CHUNK_BYTES);
  let position = 0;
  let parts: Buffer[] = [];
  let partBytes = 0;
  for (;;) {
    const read = readSync(fd, chunk, 0, READ_CHUNK_BYTES, position);
    if (read === 0) break;
    const view = chunk.subarray(0, read);
    let from = 0;
    for (;;) {
      const newline = view.indexOf(0x0a, from);
      const end = newline === -1 ? read : newline;
      partBytes += end - from;
      if (partBytes <= maxLineBytes && end > from) parts.push(Buffer.from(view.subarray(from, end)));
      if (newline === -1) break;
      yield { end: position + newline + 1, bytes: partBytes <= maxLineBytes ? Buffer.concat(parts) : null, terminated: true };
      parts = [];
      partBytes = 0;
      from = newline + 1;
    }
    position += read;
  }
  if (partBytes > 0) yield { end: position, bytes: partBytes <= maxLineBytes ? Buffer.concat(parts) : null, terminated: false };
}

function seqOf(value: unknown): number | undefined {
  const seq = typeof value === 'object' && value !== null ? (value as { seq?: unknown }).seq : undefined;
  return Number.isSafeInteger(seq) ? (seq as number) : undefined;
}

/** Verifies the log open at `fd` from its first byte, calling `onEntry` with each intact entry in order. */
export function scanAuditChain(fd: number, options: Readonly<AuditReadOptions>, onEntry?: (entry: AuditEntry) => void): ChainScan {
  // Several hashes may be anchored at one seq (a party showed two histories): the entry must match each.
  const anchors = new Map<number, string[]>();
  for (const { seq, hash } of options.anchors) anchors.set(seq, [...(anchors.get(seq) ?? []), hash]);
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let head: AuditHead = { seq: 0, hash: AUDIT_GENESIS_HASH };
  let intactBytes = 0;
  let line = 0;
  const broken = (reason: AuditBreakReason, detail: string, seq?: number): ChainScan => ({
    verification: { ok: false, line, ...(seq === undefined ? {} : { seq }), reason, detail, intactEntries: head.seq },
    head,
    intactBytes,
  });

  for (const raw of readLines(fd, options.maxLineBytes)) {
    line++;
    if (raw.bytes === null) return broken('malformed', `the line is longer than ${options.maxLineBytes} bytes`);
    if (!raw.terminated) return broken('torn_tail', 'the last line has no line end: a write was interrupted');
    let text: string;
    let value: unknown;
    try {
      text = decoder.decode(raw.bytes);
    } catch {
      return broken('malformed', 'the line is not valid UTF-8');
    }
    try {
      value = JSON.parse(text);
    } catch {
      return broken('malformed', 'the line is not JSON');
    }
    const seq = seqOf(value);
    const { entry, problems } = parseStoredEntry(value, text);
    if (entry === null) return broken('malformed', problems.join('; '), seq);
    if (hashAuditEntry(entry) !== entry.hash) {
      return broken('hash_mismatch', 'the entry does not match its own hash: it was changed after it was written', seq);
    }
    if (entry.seq !== head.seq + 1) {
      return broken('bad_sequence', `expected seq ${head.seq + 1}: an entry was deleted, inserted or moved`, seq);
    }
    if (entry.prev !== head.hash) {
      return broken('broken_link', "prev is not the previous entry's hash: an entry was inserted, replaced or moved", seq);
    }
    const anchored = anchors.get(entry.seq);
    if (anchored !== undefined && anchored.some((hash) => hash !== entry.hash)) {
      return broken('anchor_mismatch', 'the entry differs from the head published for this seq: the log was rewritten', seq);
    }
    head = { seq: entry.seq, hash: entry.hash };
    intactBytes = raw.end;
    onEntry?.(entry);
  }
  const beyond = [...anchors.keys()].filter((seq) => seq > head.seq);
  if (beyond.length > 0) {
    line = head.seq + 1;
    return broken('anchor_mismatch', `the log ends at seq ${head.seq}, before the published head seq ${Math.min(...beyond)}: entries were removed`);
  }
  return { verification: { ok: true, entries: head.seq, head: head.hash }, head, intactBytes };
}

/** Opens `path` with `flags`, runs `use`, closes. Open and read failures become FEDVAL_ERR_TRUST_AUDIT_UNREADABLE. */
export function withAuditFile<T>(path: string, flags: 'r' | 'r+', use: (fd: number) => T): T {
  let fd: number;
  try {
    fd = openSync(path, flags);
  } catch (cause) {
    throw new TrustError('FEDVAL_ERR_TRUST_AUDIT_UNREADABLE', path, { cause });
  }
  try {
    return use(fd);
  } catch (cause) {
    if (cause instanceof TrustError) throw cause;
    throw new TrustError('FEDVAL_ERR_TRUST_AUDIT_UNREADABLE', path, { cause });
  } finally {
    closeSync(fd);
  }
}

/** Throws the coded error for a failed verification: FEDVAL_ERR_TRUST_AUDIT_TORN_TAIL or FEDVAL_ERR_TRUST_AUDIT_BROKEN. */
export function throwForBrokenChain(path: string, verification: AuditVerification): void {
  if (verification.ok) return;
  const where = `${path} line ${verification.line} (${verification.reason}: ${verification.detail})`;
  throw new TrustError(verification.reason === 'torn_tail' ? 'FEDVAL_ERR_TRUST_AUDIT_TORN_TAIL' : 'FEDVAL_ERR_TRUST_AUDIT_BROKEN', where);
}

/**
 * Verifies the whole log at `path` and names the FIRST broken entry. Edits, deletions, insertions and reorderings
 * anywhere before the last entry are always detected; removing the newest entries, or rewriting the file with every
 * hash recomputed, is detected only against an `anchors` head published earlier. An empty file is a valid empty log.
 * Throws FEDVAL_ERR_TRUST_AUDIT_UNREADABLE when the file cannot be opened or read.
 */
export function verifyAuditLog(path: string, options?: Partial<AuditReadOptions>): AuditVerification {
  const resolved = resolveAuditReadOptions(options);
  return withAuditFile(path, 'r', (fd) => scanAuditChain(fd, resolved).verification);
}

/** Verifies the log and returns its entries that `select` keeps, up to the first break (see verifyAuditLog). */
export function readAuditLog(
  path: string,
  options?: Partial<ReadAuditLogOptions>,
): { verification: AuditVerification; entries: AuditEntry[] } {
  const { select, ...rest } = options ?? {};
  if (select !== undefined && typeof select !== 'function') {
    throw new TrustError('FEDVAL_ERR_TRUST_INVALID_OPTIONS', 'audit log reading: select: expected a function');
  }
  const resolved = resolveAuditReadOptions(rest);
  const entries: AuditEntry[] = [];
  const verification = withAuditFile(path, 'r', (fd) =>
    scanAuditChain(fd, resolved, (entry) => {
      if (select === undefined || select(entry)) entries.push(entry);
    }).verification,
  );
  return { verification, entries };
}

/**
 * The head `{ seq, hash }` of the intact log at `path`, for a party to publish or sign. Throws
 * FEDVAL_ERR_TRUST_AUDIT_BROKEN or FEDVAL_ERR_TRUST_AUDIT_TORN_TAIL when the chain does not verify.
 */
export function auditHead(path: string, options?: Partial<AuditReadOptions>): AuditHead {
  const resolved = resolveAuditReadOptions(options);
  return withAuditFile(path, 'r', (fd) => {
    const scan = scanAuditChain(fd, resolved);
    throwForBrokenChain(path, scan.verification);
    return scan.head;
  });
}

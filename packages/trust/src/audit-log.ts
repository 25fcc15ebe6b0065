// audit-log.ts — the append-only audit.jsonl writer: verifies the chain it extends, writes each entry durably before returning.
import { appendFileSync, closeSync, fstatSync, fsyncSync, ftruncateSync, openSync, readSync } from 'node:fs';
import { dirname } from 'node:path';
import type { AuditReadOptions } from './audit-chain.ts';
import { auditReadRules, DEFAULT_AUDIT_READ_OPTIONS, scanAuditChain, throwForBrokenChain, withAuditFile } from './audit-chain.ts';
import type { AuditEntry, AuditEvent, AuditHead, UnsealedAuditEntry } from './audit-entry.ts';
import { eventProblems, hashAuditEntry, isAuditTimestamp } from './audit-entry.ts';
import type { JsonValue } from './canonical-json.ts';
import { canonicalJson, isPlainObject } from './canonical-json.ts';
import { sha256Hex } from './digest.ts';
import { syncDirectory, writeNewFileDurably } from './durable-file.ts';
import { TrustError } from './errors.ts';
import { integerIn, isFunction, resolveOptions } from './options.ts';

export interface AuditLogOptions extends Omit<AuditReadOptions, 'anchors'> {
  /** Clock for entry timestamps. Default `() => new Date()`. */
  now: () => Date;
  /** Largest `details` object, measured as canonical JSON. Default 16,384 bytes (16 KiB). */
  maxDetailsBytes: number;
}

export const DEFAULT_AUDIT_LOG_OPTIONS: Readonly<AuditLogOptions> = Object.freeze({
  now: () => new Date(),
  maxDetailsBytes: 16 * 1024, // 16 KiB
  maxLineBytes: DEFAULT_AUDIT_READ_OPTIONS.maxLineBytes,
});

const AUDIT_FILE_MODE = 0o640; // owner writes, group (auditors) reads, others nothing
const COPY_CHUNK_BYTES = 64 * 1024; // 64 KiB

/** Logs open in this process, by device and inode, so two writers can never interleave one chain. */
const openLogs = new Set<string>();

function fileIdentity(fd: number): string {
  const stat = fstatSync(fd);
  if (!stat.isFile()) throw new TrustError('FEDVAL_ERR_TRUST_AUDIT_UNREADABLE', 'not a regular file');
  return `${stat.dev}:${stat.ino}`;
}

/**
 * An open `audit.jsonl`. `open` verifies the existing chain and refuses to extend a broken one; `append` writes one
 * line with the file's O_APPEND descriptor and fsyncs it before returning, so the event is on disk before the action
 * it records proceeds. Appends are synchronous, hence serialized within the process; one process owns a log.
 */
export class AuditLog {
  readonly #path: string;
  readonly #fd: number;
  readonly #identity: string;
  readonly #options: Readonly<AuditLogOptions>;
  #head: AuditHead;
  #size: number;
  #state: 'open' | 'failed' | 'closed' = 'open';
  /** Entries written with `{ sync: false }` and not fsynced since. */
  #unsynced = 0;

  private constructor(path: string, fd: number, identity: string, options: Readonly<AuditLogOptions>, head: AuditHead, size: number) {
    this.#path = path;
    this.#fd = fd;
    this.#identity = identity;
    this.#options = options;
    this.#head = head;
    this.#size = size;
  }

  /**
   * Opens (creating if absent, mode 0640) the log at `path` and verifies its whole chain. Throws
   * FEDVAL_ERR_TRUST_AUDIT_BROKEN (naming the first broken line), FEDVAL_ERR_TRUST_AUDIT_TORN_TAIL (a crash cut the
   * last line: see quarantineTornTail), FEDVAL_ERR_TRUST_AUDIT_ALREADY_OPEN or FEDVAL_ERR_TRUST_AUDIT_UNREADABLE.
   */
  static open(path: string, options?: Partial<AuditLogOptions>): AuditLog {
    const resolved = resolveOptions('audit log', DEFAULT_AUDIT_LOG_OPTIONS, options, {
      now: isFunction,
      maxDetailsBytes: integerIn(2, 1024 * 1024),
      maxLineBytes: auditReadRules.maxLineBytes,
    });
    let fd: number;
    try {
      fd = openSync(path, 'a+', AUDIT_FILE_MODE);
    } catch (cause) {
      throw new TrustError('FEDVAL_ERR_TRUST_AUDIT_UNREADABLE', path, { cause });
    }
    try {
      const identity = fileIdentity(fd);
      if (openLogs.has(identity)) throw new TrustError('FEDVAL_ERR_TRUST_AUDIT_ALREADY_OPEN', path);
      const scan = scanAuditChain(fd, { anchors: [], maxLineBytes: resolved.maxLineBytes });
      throwForBrokenChain(path, scan.verification);
      if (scan.intactBytes === 0) syncDirectory(dirname(path));
      openLogs.add(identity);
      return new AuditLog(path, fd, identity, resolved, scan.head, scan.intactBytes);
    } catch (cause) {
      closeSync(fd);
      if (cause instanceof TrustError) throw cause;
      throw new TrustError('FEDVAL_ERR_TRUST_AUDIT_UNREADABLE', path, { cause });
    }
  }

  get path(): string {
    return this.#path;
  }

  /** The newest entry's `{ seq, hash }`: publish or sign it so later truncation or rewriting can be detected. */
  get head(): AuditHead {
    return this.#head;
  }

  /**
   * Appends one entry for `event` and returns it as written (with seq, ts, prev and hash) once it is on disk.
   * With `{ sync: false }` the entry is written but not fsynced: it survives the process, and survives the machine
   * once {@link sync} returns (group commit: many entries, one fsync).
   * Throws FEDVAL_ERR_TRUST_INVALID_AUDIT_EVENT (every problem listed; nothing written),
   * FEDVAL_ERR_TRUST_AUDIT_MODIFIED (another writer changed the file), FEDVAL_ERR_TRUST_AUDIT_WRITE_FAILED, or
   * FEDVAL_ERR_TRUST_AUDIT_CLOSED. After a failed write the log refuses further appends: reopen it to re-verify.
   */
  append(event: AuditEvent, options: { sync?: boolean } = {}): AuditEntry {
    if (this.#state === 'closed') throw new TrustError('FEDVAL_ERR_TRUST_AUDIT_CLOSED', this.#path);
    if (this.#state === 'failed') {
      throw new TrustError('FEDVAL_ERR_TRUST_AUDIT_WRITE_FAILED', `${this.#path}: an earlier write failed; reopen the log to re-verify it`);
    }
    const unsealed = this.#unsealedEntry(event);
    const entry: AuditEntry = Object.freeze({ ...unsealed, hash: hashAuditEntry(unsealed) });
    const line = Buffer.from(`${canonicalJson(entry)}\n`, 'utf8');
    if (line.length - 1 > this.#options.maxLineBytes) {
      throw new TrustError('FEDVAL_ERR_TRUST_INVALID_AUDIT_EVENT', `the entry would be longer than maxLineBytes (${this.#options.maxLineBytes})`);
    }
    try {
      const size = fstatSync(this.#fd).size;
      if (size !== this.#size) {
        this.#state = 'failed';
        throw new TrustError('FEDVAL_ERR_TRUST_AUDIT_MODIFIED', `${this.#path}: ${size} bytes on disk, ${this.#size} written by this log`);
      }
      appendFileSync(this.#fd, line);
      if (options.sync !== false) {
        fsyncSync(this.#fd);
        this.#unsynced = 0; // one fsync covers every entry written before
      }
    } catch (cause) {
      this.#state = 'failed';
      if (cause instanceof TrustError) throw cause;
      throw new TrustError('FEDVAL_ERR_TRUST_AUDIT_WRITE_FAILED', this.#path, { cause });
    }
    this.#size += line.length;
    if (options.sync === false) this.#unsynced += 1;
    this.#head = Object.freeze({ seq: entry.seq, hash: entry.hash });
    return entry;
  }

  /**
   * Forces every entry written so far to disk (fsync). Throws FEDVAL_ERR_TRUST_AUDIT_WRITE_FAILED (after which the log
   * refuses appends), also when entries written unsynced can no longer be synced because an earlier write failed (a
   * failed fsync may have dropped them: a later one proves nothing), and FEDVAL_ERR_TRUST_AUDIT_CLOSED when the log was
   * closed with such entries. Returns at once when nothing is left to sync.
   */
  sync(): void {
    if (this.#state === 'closed') {
      if (this.#unsynced > 0) throw new TrustError('FEDVAL_ERR_TRUST_AUDIT_CLOSED', `${this.#path}: closed with ${this.#unsynced} entries not synced`);
      return;
    }
    if (this.#state === 'failed') {
      if (this.#unsynced > 0) {
        throw new TrustError('FEDVAL_ERR_TRUST_AUDIT_WRITE_FAILED', `${this.#path}: ${this.#unsynced} entries not synced, and an earlier write failed`);
      }
      return;
    }
    try {
      fsyncSync(this.#fd);
      this.#unsynced = 0;
    } catch (cause) {
      this.#state = 'failed';
      throw new TrustError('FEDVAL_ERR_TRUST_AUDIT_WRITE_FAILED', this.#path, { cause });
    }
  }

  /** Closes the file. Idempotent. */
  close(): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    openLogs.delete(this.#identity);
    closeSync(this.#fd);
  }

  #unsealedEntry(event: AuditEvent): UnsealedAuditEntry {
    if (typeof event !== 'object' || event === null) {
      throw new TrustError('FEDVAL_ERR_TRUST_INVALID_AUDIT_EVENT', 'expected an object with actor, action and object');
    }
    const problems = eventProblems(event);
    let details: { readonly [key: string]: JsonValue } = {};
    if (isPlainObject(event.details)) {
      try {
        const json = canonicalJson(event.details);
        if (Buffer.byteLength(json, 'utf8') > this.#options.maxDetailsBytes) {
          problems.push(`details: larger than maxDetailsBytes (${this.#options.maxDetailsBytes})`);
        }
        details = JSON.parse(json) as typeof details; // a snapshot: later changes by the caller cannot alter the entry
      } catch (cause) {
        problems.push(`details: ${cause instanceof Error ? cause.message : 'not canonical JSON'}`);
      }
    }
    let ts: unknown;
    try {
      ts = this.#options.now().toISOString();
    } catch {
      ts = undefined;
    }
    if (!isAuditTimestamp(ts)) problems.push('clock: now() did not return a valid Date');
    if (problems.length > 0) throw new TrustError('FEDVAL_ERR_TRUST_INVALID_AUDIT_EVENT', problems.join('; '));
    return {
      seq: this.#head.seq + 1,
      ts: ts as string,
      actor: event.actor,
      action: event.action,
      object: event.object,
      reason: event.reason ?? null,
      details,
      prev: this.#head.hash,
    };
  }
}

/** What quarantineTornTail moved out of the log. */
export interface TornTailQuarantine {
  /** Byte length of the intact log, where the torn line began and where the log was cut. */
  readonly offset: number;
  /** Length of the torn fragment in bytes. */
  readonly bytes: number;
  /** SHA-256 (hex) of the fragment. */
  readonly sha256: string;
  /** The side file now holding the fragment: `<path>.torn-<offset>-<first 12 hex digits of sha256>`. */
  readonly savedTo: string;
}

/**
 * Recovers a log whose last line a crash cut short: copies the fragment to a side file (kept as evidence), cuts the
 * log back to its intact prefix and fsyncs both. Returns null, changing nothing, when the log verifies. Throws
 * FEDVAL_ERR_TRUST_AUDIT_BROKEN when the chain is broken anywhere else (that is tampering or damage, not a crash,
 * and is never repaired). The caller should then append an entry recording the recovery with these figures.
 */
export function quarantineTornTail(path: string, options?: Partial<Pick<AuditReadOptions, 'maxLineBytes'>>): TornTailQuarantine | null {
  const resolved = resolveOptions('audit log recovery', { maxLineBytes: DEFAULT_AUDIT_READ_OPTIONS.maxLineBytes }, options, {
    maxLineBytes: auditReadRules.maxLineBytes,
  });
  return withAuditFile(path, 'r+', (fd) => {
    if (openLogs.has(fileIdentity(fd))) throw new TrustError('FEDVAL_ERR_TRUST_AUDIT_ALREADY_OPEN', path);
    const scan = scanAuditChain(fd, { anchors: [], maxLineBytes: resolved.maxLineBytes });
    if (scan.verification.ok) return null;
    if (scan.verification.reason !== 'torn_tail') throwForBrokenChain(path, scan.verification);
    const fragment = readFrom(fd, scan.intactBytes); // at most maxLineBytes: a longer tail is reported as malformed
    const sha256 = sha256Hex(fragment);
    const savedTo = `${path}.torn-${scan.intactBytes}-${sha256.slice(0, 12)}`;
    try {
      writeNewFileDurably(savedTo, fragment, AUDIT_FILE_MODE);
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new TrustError('FEDVAL_ERR_TRUST_AUDIT_WRITE_FAILED', savedTo, { cause });
      }
    }
    ftruncateSync(fd, scan.intactBytes);
    fsyncSync(fd);
    return Object.freeze({ offset: scan.intactBytes, bytes: fragment.length, sha256, savedTo });
  });
}

function readFrom(fd: number, offset: number): Buffer {
  const parts: Buffer[] = [];
  for (let position = offset; ; ) {
    const chunk = Buffer.allocUnsafe(COPY_CHUNK_BYTES);
    const read = readSync(fd, chunk, 0, COPY_CHUNK_BYTES, position);
    if (read === 0) return Buffer.concat(parts);
    parts.push(chunk.subarray(0, read));
    position += read;
  }
}

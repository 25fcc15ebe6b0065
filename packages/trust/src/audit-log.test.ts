import { appendFileSync, copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { auditHead, readAuditLog, verifyAuditLog } from './audit-chain.ts';
import type { AuditEntry, AuditEvent } from './audit-entry.ts';
import { AUDIT_GENESIS_HASH, hashAuditEntry } from './audit-entry.ts';
import { AuditLog, quarantineTornTail } from './audit-log.ts';
import { canonicalJson } from './canonical-json.ts';
import { sha256Hex } from './digest.ts';
import { TrustError } from './errors.ts';
import { codeOf } from '../test-support/trust-error-code.ts';

const REFERENCES = new URL('../references/', import.meta.url);
const root = mkdtempSync(join(tmpdir(), 'fedval-trust-audit-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let counter = 0;
let path: string;
beforeEach(() => {
  path = join(root, `audit-${++counter}.jsonl`);
});

function fixedClock(start = Date.UTC(2025, 0, 31, 12, 0, 0)): () => Date {
  let t = start;
  return () => new Date((t += 1500));
}

const EVENTS: AuditEvent[] = [
  { actor: 'site:site-a', action: 'config.loaded', object: 'config:agent.yaml', details: { sha256: sha256Hex('config') } },
  { actor: 'site:site-a', action: 'connection.accepted', object: 'coordinator:wss://coord.example' },
  { actor: 'site:site-a', action: 'task.accepted', object: 'round:r-1', details: { model: sha256Hex('model') } },
  { actor: 'site:site-a', action: 'contribution.sent', object: 'round:r-1', details: { sha256: sha256Hex('c1'), epsilon: 0.5 } },
  { actor: 'site:site-a', action: 'task.refused', object: 'round:r-2', reason: 'FEDVAL_ERR_DP_BUDGET_EXCEEDED' },
  { actor: 'role:site-admin:bob', action: 'model.approved', object: `model:${sha256Hex('m2')}`, reason: 'reviewed' },
];

function writeLog(file: string, events: readonly AuditEvent[] = EVENTS): AuditEntry[] {
  const log = AuditLog.open(file, { now: fixedClock() });
  try {
    return events.map((event) => log.append(event));
  } finally {
    log.close();
  }
}

const linesOf = (file: string): string[] => readFileSync(file, 'utf8').split('\n').slice(0, -1);
const writeLines = (file: string, lines: readonly string[]): void => writeFileSync(file, lines.map((l) => `${l}\n`).join(''));

/** The entry with `changes`, its own hash recomputed: what a forger who knows the format writes. */
function forge(entry: AuditEntry, changes: Partial<AuditEntry>): string {
  const { hash: _hash, ...rest } = { ...entry, ...changes };
  return canonicalJson({ ...rest, hash: hashAuditEntry(rest) });
}

describe('AuditLog: writing', () => {
  it('appends linked, numbered, timestamped entries, one canonical JSON line each, that verify', () => {
    const entries = writeLog(path);
    expect(entries.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(entries[0]!.prev).toBe(AUDIT_GENESIS_HASH);
    for (let i = 1; i < entries.length; i++) expect(entries[i]!.prev).toBe(entries[i - 1]!.hash);
    expect(entries[0]!.ts).toBe('2025-01-31T12:00:01.500Z');
    expect(entries[1]!.reason).toBeNull();
    expect(entries[1]!.details).toEqual({});
    expect(linesOf(path)).toEqual(entries.map((e) => canonicalJson(e)));
    expect(verifyAuditLog(path)).toEqual({ ok: true, entries: 6, head: entries[5]!.hash });
    expect(auditHead(path)).toEqual({ seq: 6, hash: entries[5]!.hash });
  });

  it('lets an auditor recompute each hash from the line text alone: drop the last "hash" member, SHA-256 the rest (README)', () => {
    const entries = writeLog(path, [
      ...EVENTS,
      { actor: 'coordinator', action: 'release.decrypted', object: 'round:r-1', reason: 'a "quoted", reason', details: { a: 1, hash: 'f'.repeat(64), object: 'x' } },
    ]);
    linesOf(path).forEach((line, i) => {
      const cut = line.lastIndexOf(',"hash":"');
      const unsealed = line.slice(0, cut) + line.slice(cut + 74);
      expect(sha256Hex(unsealed)).toBe(entries[i]!.hash);
    });
  });

  it('continues the chain after reopening', () => {
    const first = writeLog(path, EVENTS.slice(0, 2));
    const log = AuditLog.open(path);
    expect(log.head).toEqual({ seq: 2, hash: first[1]!.hash });
    const next = log.append(EVENTS[2]!);
    log.close();
    expect(next.seq).toBe(3);
    expect(next.prev).toBe(first[1]!.hash);
    expect(verifyAuditLog(path)).toEqual({ ok: true, entries: 3, head: next.hash });
  });

  it('verifies and extends a log written by an independent Python implementation (references/make_references.py)', () => {
    const expected = JSON.parse(readFileSync(new URL('expected-python.json', REFERENCES), 'utf8')) as {
      audit: { entries: number; head: string };
    };
    copyFileSync(new URL('audit-python.jsonl', REFERENCES), path);
    expect(verifyAuditLog(path)).toEqual({ ok: true, ...expected.audit });
    const log = AuditLog.open(path);
    const entry = log.append({ actor: 'site:site-a', action: 'contribution.sent', object: 'round:r-3' });
    log.close();
    expect(entry).toMatchObject({ seq: expected.audit.entries + 1, prev: expected.audit.head });
    expect(verifyAuditLog(path)).toEqual({ ok: true, entries: expected.audit.entries + 1, head: entry.hash });
  });

  it('stores a snapshot of details: later changes by the caller cannot alter the entry', () => {
    const details = { codes: ['A'], epsilon: -0 };
    const log = AuditLog.open(path);
    const entry = log.append({ actor: 'coordinator', action: 'release.decrypted', object: 'round:r-1', details });
    details.codes.push('B');
    log.close();
    expect(entry.details).toEqual({ codes: ['A'], epsilon: 0 });
    expect(readAuditLog(path).entries[0]!.details).toEqual({ codes: ['A'], epsilon: 0 });
  });

  it('refuses invalid events listing every problem, and writes nothing', () => {
    const log = AuditLog.open(path, { maxDetailsBytes: 100 });
    log.append(EVENTS[0]!);
    const size = statSync(path).size;
    let caught: unknown;
    try {
      log.append({ actor: 'site a', action: 'Task', object: 'round:\nr-1', reason: 7 as unknown as string, details: { big: 'x'.repeat(200) } });
    } catch (error) {
      caught = error;
    }
    expect((caught as TrustError).code).toBe('FEDVAL_ERR_TRUST_INVALID_AUDIT_EVENT');
    for (const field of ['actor', 'action', 'object', 'reason', 'details']) expect((caught as TrustError).message).toContain(`${field}:`);
    expect((caught as TrustError).message).not.toContain('xxxx');
    const invalid: unknown[] = [
      { actor: 'coordinator', action: 'x.y', object: 'o', details: [1] },
      { actor: 'coordinator', action: 'x.y', object: 'o', details: { when: new Date(0) } },
      { actor: 'coordinator', action: 'x.y', object: 'o', details: { n: Number.NaN } },
      { actor: 'coordinator', action: 'nodot', object: 'o' },
      { actor: 'coordinator', action: 'x.y', object: '' },
      null,
    ];
    for (const event of invalid) expect(codeOf(() => log.append(event as AuditEvent))).toBe('FEDVAL_ERR_TRUST_INVALID_AUDIT_EVENT');
    expect(statSync(path).size).toBe(size);
    expect(log.append(EVENTS[1]!).seq).toBe(2);
    log.close();
  });

  it('refuses a second writer in the same process, and appends after close', () => {
    const log = AuditLog.open(path);
    expect(codeOf(() => AuditLog.open(path))).toBe('FEDVAL_ERR_TRUST_AUDIT_ALREADY_OPEN');
    log.close();
    log.close();
    expect(codeOf(() => log.append(EVENTS[0]!))).toBe('FEDVAL_ERR_TRUST_AUDIT_CLOSED');
    AuditLog.open(path).close();
  });

  it('stops appending when another writer changed the file behind its back', () => {
    const log = AuditLog.open(path);
    log.append(EVENTS[0]!);
    appendFileSync(path, 'intruder\n');
    expect(codeOf(() => log.append(EVENTS[1]!))).toBe('FEDVAL_ERR_TRUST_AUDIT_MODIFIED');
    expect(codeOf(() => log.append(EVENTS[1]!))).toBe('FEDVAL_ERR_TRUST_AUDIT_WRITE_FAILED');
    log.close();
    expect(verifyAuditLog(path)).toMatchObject({ ok: false, line: 2, reason: 'malformed' });
  });

  it('refuses to report unsynced entries as synced once the log failed or closed', () => {
    const log = AuditLog.open(path);
    log.append(EVENTS[0]!, { sync: false });
    log.sync();
    log.append(EVENTS[1]!, { sync: false });
    appendFileSync(path, 'intruder\n');
    expect(codeOf(() => log.append(EVENTS[2]!))).toBe('FEDVAL_ERR_TRUST_AUDIT_MODIFIED');
    expect(codeOf(() => log.sync())).toBe('FEDVAL_ERR_TRUST_AUDIT_WRITE_FAILED'); // EVENTS[1] was never synced
    log.close();
    expect(codeOf(() => log.sync())).toBe('FEDVAL_ERR_TRUST_AUDIT_CLOSED');

    const other = join(root, 'closed-unsynced.jsonl');
    const closing = AuditLog.open(other);
    closing.append(EVENTS[0]!, { sync: false });
    closing.close();
    expect(codeOf(() => closing.sync())).toBe('FEDVAL_ERR_TRUST_AUDIT_CLOSED');
    const synced = AuditLog.open(other);
    synced.append(EVENTS[1]!, { sync: false });
    synced.append(EVENTS[2]!); // its fsync covers the entry before
    synced.close();
    expect(codeOf(() => synced.sync())).toBeUndefined();
  });

  it('validates its options once, listing every problem', () => {
    let caught: unknown;
    try {
      AuditLog.open(path, { maxDetailsBytes: 0, maxLineBytes: 1.5, colour: 'red' } as never);
    } catch (error) {
      caught = error;
    }
    expect((caught as TrustError).code).toBe('FEDVAL_ERR_TRUST_INVALID_OPTIONS');
    expect((caught as TrustError).message).toMatch(/colour: unknown option.*maxDetailsBytes.*maxLineBytes/);
    expect(codeOf(() => AuditLog.open(path, { now: () => new Date(Number.NaN) }).append(EVENTS[0]!))).toBe(
      'FEDVAL_ERR_TRUST_INVALID_AUDIT_EVENT',
    );
  });

  it('reports a log it cannot open or read with a code', () => {
    expect(codeOf(() => verifyAuditLog(join(root, 'absent.jsonl')))).toBe('FEDVAL_ERR_TRUST_AUDIT_UNREADABLE');
    expect(codeOf(() => AuditLog.open(join(root, 'no-such-dir', 'audit.jsonl')))).toBe('FEDVAL_ERR_TRUST_AUDIT_UNREADABLE');
    expect(codeOf(() => AuditLog.open(root))).toBe('FEDVAL_ERR_TRUST_AUDIT_UNREADABLE');
  });

  it('treats an empty file as an empty log whose head is the genesis hash', () => {
    writeFileSync(path, '');
    expect(verifyAuditLog(path)).toEqual({ ok: true, entries: 0, head: AUDIT_GENESIS_HASH });
    expect(auditHead(path)).toEqual({ seq: 0, hash: AUDIT_GENESIS_HASH });
  });
});

describe('verifyAuditLog: tampering is detected at the first broken entry', () => {
  let entries: AuditEntry[];
  let lines: string[];
  beforeEach(() => {
    entries = writeLog(path);
    lines = linesOf(path);
  });

  it('an edited field', () => {
    writeLines(path, lines.map((l, i) => (i === 2 ? l.replace('"round:r-1"', '"round:r-9"') : l)));
    expect(verifyAuditLog(path)).toMatchObject({ ok: false, line: 3, seq: 3, reason: 'hash_mismatch', intactEntries: 2 });
  });

  it('an edited field whose own hash was recomputed: the next entry no longer links to it', () => {
    writeLines(path, lines.map((l, i) => (i === 2 ? forge(entries[2]!, { object: 'round:r-9' }) : l)));
    expect(verifyAuditLog(path)).toMatchObject({ ok: false, line: 4, seq: 4, reason: 'broken_link' });
  });

  it('a deleted line', () => {
    writeLines(path, lines.filter((_, i) => i !== 2));
    expect(verifyAuditLog(path)).toMatchObject({ ok: false, line: 3, seq: 4, reason: 'bad_sequence' });
  });

  it('two swapped lines', () => {
    writeLines(path, [lines[0]!, lines[2]!, lines[1]!, ...lines.slice(3)]);
    expect(verifyAuditLog(path)).toMatchObject({ ok: false, line: 2, seq: 3, reason: 'bad_sequence' });
  });

  it('an inserted line with the right seq and a recomputed own hash but a wrong prev', () => {
    const forged = forge(entries[2]!, { reason: 'forged', prev: sha256Hex('not the previous entry') });
    writeLines(path, [...lines.slice(0, 2), forged, ...lines.slice(2)]);
    expect(verifyAuditLog(path)).toMatchObject({ ok: false, line: 3, seq: 3, reason: 'broken_link' });
  });

  it('an inserted line that links correctly: the displaced entry after it breaks', () => {
    const forged = forge(entries[2]!, { reason: 'forged' });
    writeLines(path, [...lines.slice(0, 3), forged, ...lines.slice(3)]);
    expect(verifyAuditLog(path)).toMatchObject({ ok: false, line: 4, seq: 3, reason: 'bad_sequence' });
  });

  it('a forged entry appended at the end without the real head', () => {
    writeLines(path, [...lines, forge(entries[5]!, { seq: 7, reason: 'forged' })]);
    expect(verifyAuditLog(path)).toMatchObject({ ok: false, line: 7, seq: 7, reason: 'broken_link' });
  });

  it('a file cut in the middle of the last line (a crash during a write): torn_tail, reported distinctly', () => {
    const bytes = readFileSync(path);
    writeFileSync(path, bytes.subarray(0, bytes.length - 40));
    expect(verifyAuditLog(path)).toMatchObject({ ok: false, line: 6, reason: 'torn_tail', intactEntries: 5 });
    writeFileSync(path, bytes.subarray(0, bytes.length - 1)); // everything but the line end
    expect(verifyAuditLog(path)).toMatchObject({ ok: false, line: 6, reason: 'torn_tail' });
  });

  it('newest entries removed at a line boundary: invisible to the chain alone, caught by a published head', () => {
    const published = { seq: 6, hash: entries[5]!.hash };
    writeLines(path, lines.slice(0, 4));
    expect(verifyAuditLog(path)).toEqual({ ok: true, entries: 4, head: entries[3]!.hash });
    expect(verifyAuditLog(path, { anchors: [published] })).toMatchObject({ ok: false, line: 5, reason: 'anchor_mismatch', intactEntries: 4 });
  });

  it('the whole log rewritten with every hash recomputed: caught by a published head', () => {
    const published = { seq: 6, hash: entries[5]!.hash };
    const rewritten = [...lines.slice(0, 2)];
    let prev = entries[1]!.hash;
    for (const entry of entries.slice(2)) {
      const line = forge(entry, { prev, ...(entry.seq === 3 ? { reason: 'rewritten' } : {}) });
      rewritten.push(line);
      prev = (JSON.parse(line) as AuditEntry).hash;
    }
    writeLines(path, rewritten);
    expect(verifyAuditLog(path)).toMatchObject({ ok: true, entries: 6 });
    expect(verifyAuditLog(path, { anchors: [published] })).toMatchObject({ ok: false, line: 6, seq: 6, reason: 'anchor_mismatch' });
    expect(verifyAuditLog(path, { anchors: [{ seq: 2, hash: entries[1]!.hash }] })).toMatchObject({ ok: true });
  });

  it('lines that are not exactly one canonical entry', () => {
    const variants: [string, string][] = [
      ['not JSON', '{"seq":'],
      ['blank line', ''],
      ['extra field', canonicalJson({ ...entries[2]!, note: 'x' })],
      ['missing field', canonicalJson(Object.fromEntries(Object.entries(entries[2]!).filter(([k]) => k !== 'reason')))],
      ['whitespace', lines[2]!.replace('"seq":3', '"seq": 3')],
      ['duplicate member hiding a value', lines[2]!.replace('{"action":"task.accepted"', '{"action":"task.refused","action":"task.accepted"')],
      ['bad timestamp', forge(entries[2]!, { ts: '2025-01-31 12:00:00' })],
    ];
    for (const [name, line] of variants) {
      writeLines(path, lines.map((l, i) => (i === 2 ? line : l)));
      expect(verifyAuditLog(path), name).toMatchObject({ ok: false, line: 3, reason: 'malformed' });
    }
    // Each field of a stored entry is checked by auditEntrySchema, every problem named.
    writeLines(path, lines.map((l, i) => (i === 2 ? canonicalJson({ ...entries[2]!, seq: 0, prev: 'x', note: 'x' }) : l)));
    const verification = verifyAuditLog(path);
    expect(verification).toMatchObject({ ok: false, line: 3, reason: 'malformed' });
    for (const part of ['seq must be a positive integer', 'prev must be a lowercase hex SHA-256', 'unknown property "note"']) {
      expect(!verification.ok && verification.detail).toContain(part);
    }
    writeLines(path, lines.map((l, i) => (i === 2 ? lines[2]!.replace('"seq":3', '"seq": 3') : l)));
    expect(verifyAuditLog(path)).toMatchObject({ ok: false, line: 3, reason: 'malformed', detail: 'line is not in canonical JSON form' });
    writeFileSync(path, Buffer.concat([Buffer.from(`${lines[0]}\n`), Buffer.from([0xff, 0xfe, 0x0a])]));
    expect(verifyAuditLog(path)).toMatchObject({ ok: false, line: 2, reason: 'malformed', detail: 'the line is not valid UTF-8' });
  });

  it('a line longer than maxLineBytes, terminated or not', () => {
    writeLines(path, [lines[0]!, 'x'.repeat(70_000)]);
    expect(verifyAuditLog(path)).toMatchObject({ ok: false, line: 2, reason: 'malformed' }); // the default: 64 KiB
    writeFileSync(path, `${lines[0]}\n${'x'.repeat(70_000)}`);
    expect(verifyAuditLog(path)).toMatchObject({ ok: false, line: 2, reason: 'malformed' });
    expect(verifyAuditLog(path, { maxLineBytes: 4 * 1024 * 1024 })).toMatchObject({ ok: false, line: 2, reason: 'torn_tail' });
  });

  it('AuditLog.open refuses to extend a broken or torn log, and leaves it untouched', () => {
    writeLines(path, lines.filter((_, i) => i !== 2));
    const broken = readFileSync(path);
    expect(codeOf(() => AuditLog.open(path))).toBe('FEDVAL_ERR_TRUST_AUDIT_BROKEN');
    expect(readFileSync(path)).toEqual(broken);
    const intact = Buffer.from(lines.map((l) => `${l}\n`).join(''));
    writeFileSync(path, intact.subarray(0, intact.length - 10));
    expect(codeOf(() => AuditLog.open(path))).toBe('FEDVAL_ERR_TRUST_AUDIT_TORN_TAIL');
    expect(codeOf(() => auditHead(path))).toBe('FEDVAL_ERR_TRUST_AUDIT_TORN_TAIL');
  });

  it('readAuditLog returns the selected entries up to the first break', () => {
    expect(readAuditLog(path, { select: (e) => e.object === 'round:r-1' }).entries.map((e) => e.seq)).toEqual([3, 4]);
    writeLines(path, lines.map((l, i) => (i === 3 ? l.replace('"round:r-1"', '"round:r-9"') : l)));
    const { verification, entries: kept } = readAuditLog(path, { select: (e) => e.object === 'round:r-1' });
    expect(verification).toMatchObject({ ok: false, line: 4 });
    expect(kept.map((e) => e.seq)).toEqual([3]);
  });
});

describe('quarantineTornTail', () => {
  it('moves the torn fragment to a side file, cuts the log to its intact prefix, and lets it be extended', () => {
    const entries = writeLog(path);
    const bytes = readFileSync(path);
    const intact = bytes.subarray(0, bytes.length - linesOf(path)[5]!.length - 1);
    const fragment = bytes.subarray(intact.length, bytes.length - 25);
    writeFileSync(path, Buffer.concat([intact, fragment]));

    const moved = quarantineTornTail(path);
    expect(moved).toEqual({
      offset: intact.length,
      bytes: fragment.length,
      sha256: sha256Hex(fragment),
      savedTo: `${path}.torn-${intact.length}-${sha256Hex(fragment).slice(0, 12)}`,
    });
    expect(readFileSync(moved!.savedTo)).toEqual(fragment);
    expect(readFileSync(path)).toEqual(intact);
    expect(verifyAuditLog(path)).toEqual({ ok: true, entries: 5, head: entries[4]!.hash });

    const log = AuditLog.open(path);
    const recovery = log.append({ actor: 'site:site-a', action: 'audit.recovered', object: 'audit:audit.jsonl', details: { ...moved! } });
    log.close();
    expect(recovery.seq).toBe(6);
    expect(verifyAuditLog(path)).toMatchObject({ ok: true, entries: 6 });
  });

  it('changes nothing on an intact log and refuses to repair tampering', () => {
    writeLog(path);
    expect(quarantineTornTail(path)).toBeNull();
    const lines = linesOf(path);
    writeLines(path, lines.filter((_, i) => i !== 1));
    const before = readFileSync(path);
    expect(codeOf(() => quarantineTornTail(path))).toBe('FEDVAL_ERR_TRUST_AUDIT_BROKEN');
    expect(readFileSync(path)).toEqual(before);
  });

  it('refuses while the log is open in this process', () => {
    const log = AuditLog.open(path);
    expect(codeOf(() => quarantineTornTail(path))).toBe('FEDVAL_ERR_TRUST_AUDIT_ALREADY_OPEN');
    log.close();
  });
});

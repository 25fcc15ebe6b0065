// audit-entry.ts — one audit trail entry: its fields, the rules they follow, and its SHA-256 link.
import { listProblems } from '@fedval/schema';
import { z } from 'zod';
import type { JsonValue } from './canonical-json.ts';
import { canonicalJson, canonicalJsonBytes, isPlainObject } from './canonical-json.ts';
import { isHex32, sha256Hex } from './digest.ts';

/** `prev` of the first entry: 64 zeros. */
export const AUDIT_GENESIS_HASH = '0'.repeat(64);

/** What a caller records. The log adds `seq`, `ts`, `prev` and `hash`. */
export interface AuditEvent {
  /** Who acted: `coordinator`, `key-holder`, `site:<siteId>`, `role:<role>:<name>`. Letters, digits and `. _ @ : -`, 1–256 characters. */
  actor: string;
  /** What happened, dotted lowercase words: `connection.accepted`, `task.refused`, `contribution.sent`. 3–128 characters. */
  action: string;
  /** What it happened to: `round:r-123`, `model:<sha256>`, `config:agent.yaml`. 1–512 characters, no control characters. */
  object: string;
  /** Why: a refusal code, an approval note; null when there is nothing to say. At most 2048 characters. Default null. */
  reason?: string | null;
  /** Small JSON object of codes, hashes, ε spent: never row-level data. Default {}. */
  details?: { readonly [key: string]: JsonValue };
}

/** One line of `audit.jsonl`, as written and as read back after verification. */
export interface AuditEntry {
  /** Position in the log, 1 for the first entry. */
  readonly seq: number;
  /** When the entry was written: ISO 8601 UTC with milliseconds, `2025-01-31T12:00:00.000Z`. */
  readonly ts: string;
  readonly actor: string;
  readonly action: string;
  readonly object: string;
  readonly reason: string | null;
  readonly details: { readonly [key: string]: JsonValue };
  /** `hash` of the previous entry, AUDIT_GENESIS_HASH for the first. */
  readonly prev: string;
  /** SHA-256 (hex) of the canonical JSON (RFC 8785) of every other field of this entry. */
  readonly hash: string;
}

/** The newest entry of a log, as a party publishes or signs it: `{ seq: 0, hash: AUDIT_GENESIS_HASH }` for an empty log. */
export interface AuditHead {
  readonly seq: number;
  readonly hash: string;
}

export type UnsealedAuditEntry = Omit<AuditEntry, 'hash'>;

const ENTRY_KEYS = ['action', 'actor', 'details', 'hash', 'object', 'prev', 'reason', 'seq', 'ts'] as const;
const ACTOR = /^[A-Za-z0-9._@:-]{1,256}$/;
const ACTION = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/;
const MAX_ACTION_LENGTH = 128; // characters
const MAX_OBJECT_LENGTH = 512; // characters
const MAX_REASON_LENGTH = 2048; // characters
const CONTROL = /\p{Cc}/u;
const ISO_UTC_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** `hash` of an entry: SHA-256 of the canonical JSON of all its other fields. */
export function hashAuditEntry(entry: UnsealedAuditEntry): string {
  const { seq, ts, actor, action, object, reason, details, prev } = entry;
  return sha256Hex(canonicalJsonBytes({ seq, ts, actor, action, object, reason, details, prev }));
}

/** True when `ts` is an ISO 8601 UTC timestamp with milliseconds naming a real instant, as Date#toISOString writes. */
export function isAuditTimestamp(ts: unknown): ts is string {
  return typeof ts === 'string' && ISO_UTC_MS.test(ts) && !Number.isNaN(Date.parse(ts)) && new Date(ts).toISOString() === ts;
}

/** Problems with the caller-supplied fields (actor, action, object, reason, details); empty when valid. */
export function eventProblems(event: Partial<Record<keyof AuditEvent, unknown>>): string[] {
  const problems: string[] = [];
  const { actor, action, object, reason, details } = event;
  if (typeof actor !== 'string' || !ACTOR.test(actor)) {
    problems.push('actor: expected 1-256 letters, digits or . _ @ : -');
  }
  if (typeof action !== 'string' || action.length > MAX_ACTION_LENGTH || !ACTION.test(action)) {
    problems.push('action: expected dotted lowercase words such as task.refused (at most 128 characters)');
  }
  if (typeof object !== 'string' || object.length === 0 || object.length > MAX_OBJECT_LENGTH || CONTROL.test(object)) {
    problems.push('object: expected 1-512 characters without control characters');
  }
  if (reason !== null && reason !== undefined && (typeof reason !== 'string' || reason.length > MAX_REASON_LENGTH)) {
    problems.push('reason: expected null or a string of at most 2048 characters');
  }
  if (details !== undefined && !isPlainObject(details)) problems.push('details: expected a plain JSON object');
  return problems;
}

const must = (what: string) => ({ error: `must be ${what}` });
const sha256Field = z.string(must('a lowercase hex SHA-256')).refine(isHex32, must('a lowercase hex SHA-256'));

/**
 * An entry as stored, one per line: exactly the nine fields, each of its type and rule. What a reader
 * of a log (verifyAuditLog, readAuditLog) parses every line with; it also checks the line is the
 * entry's canonical JSON (see {@link parseStoredEntry}).
 */
export const auditEntrySchema = z.strictObject(
  {
    seq: z.int(must('a positive integer')).min(1, must('a positive integer')),
    ts: z.string(must('an ISO 8601 UTC timestamp with milliseconds')).refine(isAuditTimestamp, must('an ISO 8601 UTC timestamp with milliseconds')),
    actor: z.string(must('1-256 letters, digits or . _ @ : -')).regex(ACTOR, must('1-256 letters, digits or . _ @ : -')),
    action: z
      .string(must('dotted lowercase words such as task.refused (at most 128 characters)'))
      .max(MAX_ACTION_LENGTH, must('dotted lowercase words such as task.refused (at most 128 characters)'))
      .regex(ACTION, must('dotted lowercase words such as task.refused (at most 128 characters)')),
    object: z
      .string(must('1-512 characters without control characters'))
      .min(1, must('1-512 characters without control characters'))
      .max(MAX_OBJECT_LENGTH, must('1-512 characters without control characters'))
      .refine((object) => !CONTROL.test(object), must('1-512 characters without control characters')),
    reason: z.string(must('null or a string of at most 2048 characters')).max(MAX_REASON_LENGTH, must('null or a string of at most 2048 characters')).nullable(),
    // Its values are checked as JSON by the canonical-spelling rule: the line must be the entry's canonical JSON.
    details: z.custom<{ readonly [key: string]: JsonValue }>(isPlainObject, must('a plain JSON object')),
    prev: sha256Field,
    hash: sha256Field,
  },
  must('a JSON object'),
);

/**
 * A parsed line as a whole entry ({@link auditEntrySchema}), and the line byte-identical to the entry's
 * canonical JSON (so no duplicate member, no alternative spelling can hide in it): the entry, or every problem.
 */
export function parseStoredEntry(value: unknown, line: string): { entry: AuditEntry; problems: [] } | { entry: null; problems: string[] } {
  const parsed = auditEntrySchema.safeParse(value);
  if (!parsed.success) return { entry: null, problems: listProblems(parsed.error) };
  if (!isCanonicalSpelling(value, line)) return { entry: null, problems: ['line is not in canonical JSON form'] };
  return { entry: parsed.data, problems: [] };
}

function isCanonicalSpelling(value: unknown, line: string): boolean {
  try {
    return canonicalJson(value) === line;
  } catch {
    return false; // e.g. a number that overflowed to Infinity when parsed
  }
}

/**
 * One line for people: `#seq ts actor action object [reason=…] key=value …`, details in their stored order (strings
 * bare, anything else as JSON). Used by `fedval audit show` and `fedval-agent audit show`.
 */
export function formatAuditEntry(entry: AuditEntry): string {
  const details = Object.entries(entry.details)
    .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
    .join(' ');
  return `#${entry.seq} ${entry.ts} ${entry.actor} ${entry.action} ${entry.object}${entry.reason ? ` reason=${entry.reason}` : ''}${details ? ` ${details}` : ''}`;
}

/** Whether an entry belongs to a round: its object is `round:<id>`, or its details name the round. */
export function isRoundEntry(entry: AuditEntry, roundId: string): boolean {
  return entry.object === `round:${roundId}` || entry.details.round === roundId;
}

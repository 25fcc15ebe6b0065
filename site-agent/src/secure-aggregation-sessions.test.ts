import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, describe, expect, it } from 'vitest';
import { AGENT_DATABASE_FILE } from './agent-database.ts';
import { AgentError } from './errors.ts';
import { openSiteState } from './site-state.ts';
import type { SiteState } from './site-state.ts';

const OPTIONS = { threshold: 2, minSites: 2, roster: [['site-a', 'a'.repeat(64)], ['site-b', 'b'.repeat(64)]] as [string, string][] };
const OWN = { x: 1, selfMaskSeed: 5n, agreementKey: 7n };
const SENT = [{ site: 'site-b', sealed: new Uint8Array([1, 2, 3]) }];

describe('SecaggSessions (secagg_sessions of agent.sqlite)', () => {
  const opened: SiteState[] = [];
  const open = (): { state: SiteState; dir: string } => {
    const dir = mkdtempSync(join(tmpdir(), 'fedval-secagg-sessions-'));
    const state = openSiteState(dir);
    opened.push(state);
    return { state, dir };
  };
  afterEach(() => {
    for (const state of opened.splice(0)) state.close();
  });

  it('keeps one session per round: a second create writes nothing and says so', () => {
    const { state } = open();
    const secrets = new Uint8Array(randomBytes(96));
    expect(state.secaggSessions.create('round-1', 'study', 5_000, OPTIONS, secrets, 1_000)).toBe(true);
    expect(state.secaggSessions.create('round-1', 'study', 9_000, OPTIONS, new Uint8Array(96), 1_000)).toBe(false);
    const kept = state.secaggSessions.find('round-1');
    expect(kept?.deadline).toBe(5_000);
    expect(Buffer.from(kept?.secrets ?? []).equals(Buffer.from(secrets))).toBe(true);
  });

  it('records the shares once, and never after the secrets were wiped', () => {
    const { state } = open();
    const sessions = state.secaggSessions;
    sessions.create('round-1', 'study', 5_000, OPTIONS, new Uint8Array(96), 1_000);
    sessions.create('round-2', 'study', 5_000, OPTIONS, new Uint8Array(96), 1_000);
    expect(sessions.recordShared('round-1', [], OWN, SENT, 2_000)).toBe(true);
    expect(sessions.recordShared('round-1', [], { ...OWN, x: 2 }, [], 2_000)).toBe(false);
    expect(sessions.find('round-1')?.shared?.own).toEqual(OWN);
    expect(sessions.recordShared('round-absent', [], OWN, SENT, 2_000)).toBe(false);
    expect(sessions.wipeExpired(5_000)).toEqual(['round-1', 'round-2']);
    expect(sessions.recordShared('round-2', [], OWN, SENT, 6_000)).toBe(false);
    expect(sessions.find('round-2')).toMatchObject({ secrets: null, shared: null, inbox: null });
  });

  it('wipes only the rounds past their deadline, keeps their rows, and names the next deadline', () => {
    const { state } = open();
    const sessions = state.secaggSessions;
    sessions.create('round-early', 'study', 2_000, OPTIONS, new Uint8Array(96), 1_000);
    sessions.create('round-late', 'study', 8_000, OPTIONS, new Uint8Array(96), 1_000);
    sessions.recordInbox('round-early', SENT, 1_500);
    expect(sessions.nextDeadline(1_000)).toBe(2_000);
    expect(sessions.wipeExpired(1_999)).toEqual([]);
    expect(sessions.wipeExpired(2_000)).toEqual(['round-early']);
    expect(sessions.find('round-early')).toMatchObject({ roundId: 'round-early', deadline: 2_000, secrets: null, inbox: null });
    expect(sessions.find('round-late')?.secrets).not.toBeNull();
    expect(sessions.nextDeadline(2_000)).toBe(8_000);
    expect(sessions.wipeExpired(2_000)).toEqual([]);
    expect(sessions.wipeExpired(8_000)).toEqual(['round-late']);
    expect(sessions.nextDeadline(8_000)).toBeUndefined();
  });

  it('leaves no wiped secret in the database file or its write-ahead log (secure_delete, WAL truncated)', () => {
    const { state, dir } = open();
    expect(state.db.prepare('PRAGMA secure_delete').get()).toEqual({ secure_delete: 1 });
    const secrets = new Uint8Array(randomBytes(96));
    state.secaggSessions.create('round-1', 'study', 2_000, OPTIONS, secrets, 1_000);
    const onDisk = (): Buffer => Buffer.concat(['', '-wal'].filter((suffix) => existsSync(join(dir, AGENT_DATABASE_FILE + suffix))).map((suffix) => readFileSync(join(dir, AGENT_DATABASE_FILE + suffix))));
    expect(onDisk().includes(Buffer.from(secrets))).toBe(true);
    expect(state.secaggSessions.wipeExpired(2_000)).toEqual(['round-1']);
    expect(statSync(join(dir, `${AGENT_DATABASE_FILE}-wal`)).size).toBe(0);
    expect(onDisk().includes(Buffer.from(secrets))).toBe(false);
  });

  it('tries the truncation again while another connection reads: the log is truncated once that read ends', () => {
    const { state, dir } = open();
    const secrets = new Uint8Array(randomBytes(96));
    state.secaggSessions.create('round-1', 'study', 2_000, OPTIONS, secrets, 1_000);
    const file = join(dir, AGENT_DATABASE_FILE);
    const onDisk = (): Buffer => Buffer.concat([readFileSync(file), readFileSync(`${file}-wal`)]);
    // The site admin's CLI holds a read transaction on its own connection: its snapshot pins the log.
    const reader = new DatabaseSync(file, { readOnly: true });
    try {
      reader.exec('BEGIN');
      expect(reader.prepare('SELECT COUNT(*) AS n FROM secagg_sessions').get()).toEqual({ n: 1 });
      expect(state.secaggSessions.wipeExpired(2_000)).toEqual(['round-1']);
      expect(state.secaggSessions.logPending).toBe(true);
      expect(statSync(`${file}-wal`).size).toBeGreaterThan(0);
      // Tried without waiting; the connection's busy timeout (5 s, @fedval/sqlite) is back afterwards.
      expect(state.db.prepare('PRAGMA busy_timeout').get()).toEqual({ timeout: 5_000 });
      expect(state.secaggSessions.wipeExpired(2_500)).toEqual([]);
      expect(state.secaggSessions.logPending).toBe(true);
      reader.exec('COMMIT');
    } finally {
      reader.close();
    }
    expect(state.secaggSessions.wipeExpired(3_000)).toEqual([]);
    expect(state.secaggSessions.logPending).toBe(false);
    expect(statSync(`${file}-wal`).size).toBe(0);
    expect(onDisk().includes(Buffer.from(secrets))).toBe(false);
  });

  it('refuses a damaged row with FEDVAL_ERR_AGENT_LEDGER', () => {
    const { state } = open();
    state.secaggSessions.create('round-json', 'study', 5_000, OPTIONS, new Uint8Array(96), 1_000);
    state.secaggSessions.create('round-shape', 'study', 5_000, OPTIONS, new Uint8Array(96), 1_000);
    state.db.prepare("UPDATE secagg_sessions SET inbox_json = 'not json' WHERE round_id = 'round-json'").run();
    state.db.prepare('UPDATE secagg_sessions SET options_json = \'{"threshold":"two"}\' WHERE round_id = \'round-shape\'').run();
    for (const round of ['round-json', 'round-shape']) {
      let caught: unknown;
      try {
        state.secaggSessions.find(round);
      } catch (error) {
        caught = error;
      }
      expect(caught instanceof AgentError && caught.code).toBe('FEDVAL_ERR_AGENT_LEDGER');
    }
  });
});

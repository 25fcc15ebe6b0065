// The pipeline's wipe timer: a wipe that fails, or a truncation of the write-ahead log that another connection blocks,
// is tried again WIPE_RETRY_MS later, until the secrets are wiped and the log is truncated (re-review of s6-secagg-fix, LOW 1).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AGENT_DATABASE_FILE } from './agent-database.ts';
import { resolveAgentConfig } from './config.ts';
import { openSiteState } from './site-state.ts';
import type { SiteState } from './site-state.ts';
import { TaskPipeline, WIPE_RETRY_MS } from './task-pipeline.ts';

const OPTIONS = { threshold: 2, minSites: 2, roster: [['site-a', 'a'.repeat(64)], ['site-b', 'b'.repeat(64)]] as [string, string][] };
const config = resolveAgentConfig({ coordinator: 'ws://c/ws', site_id: 'site-a', token: 'x'.repeat(16), data: { path: 'd.csv', label: { column: 'y' } }, data_dir: 'state' }, tmpdir());

describe('the wipe timer of kept secure-aggregation secrets', () => {
  const opened: { state: SiteState; pipeline: TaskPipeline }[] = [];
  afterEach(() => {
    for (const { state, pipeline } of opened.splice(0)) {
      pipeline.abort();
      state.close();
    }
    vi.useRealTimers();
  });

  it('is re-armed when the truncation is blocked by a reader or the wipe throws, and completes once they end', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const dir = mkdtempSync(join(tmpdir(), 'fedval-wipe-timer-'));
    const state = openSiteState(dir);
    const none = (): void => {};
    const pipeline = new TaskPipeline({ config, log: pino({ level: 'silent' }), siteKey: undefined, state: () => state, send: none, record: () => { throw new Error('nothing is recorded'); }, recordQuietly: none, finished: none });
    opened.push({ state, pipeline });
    const file = join(dir, AGENT_DATABASE_FILE);
    const secretsOnDisk = (secrets: Uint8Array): boolean => Buffer.concat([readFileSync(file), readFileSync(`${file}-wal`)]).includes(Buffer.from(secrets));

    // A reader (the site admin's CLI) holds a snapshot while the deadline passes: the secrets are wiped, the log is not truncated.
    const first = new Uint8Array(randomBytes(96));
    state.secaggSessions.create('round-1', 'study', Date.now() - 1, OPTIONS, first, Date.now() - 10);
    const reader = new DatabaseSync(file, { readOnly: true });
    reader.exec('BEGIN');
    reader.prepare('SELECT COUNT(*) AS n FROM secagg_sessions').get();
    pipeline.refundExpired();
    expect(state.secaggSessions.find('round-1')?.secrets).toBeNull();
    expect(state.secaggSessions.logPending).toBe(true);
    expect(vi.getTimerCount()).toBe(1);
    reader.exec('COMMIT');
    reader.close();
    vi.advanceTimersByTime(WIPE_RETRY_MS);
    expect(state.secaggSessions.logPending).toBe(false);
    expect(statSync(`${file}-wal`).size).toBe(0);
    expect(secretsOnDisk(first)).toBe(false);
    expect(vi.getTimerCount()).toBe(0);

    // A writer on another connection holds the lock: the wipe itself throws (SQLITE_BUSY), and is tried again.
    const second = new Uint8Array(randomBytes(96));
    state.secaggSessions.create('round-2', 'study', Date.now() - 1, OPTIONS, second, Date.now() - 10);
    const writer = new DatabaseSync(file);
    state.db.exec('PRAGMA busy_timeout = 20');
    writer.exec('BEGIN IMMEDIATE');
    pipeline.refundExpired();
    expect(state.secaggSessions.find('round-2')?.secrets).not.toBeNull();
    expect(vi.getTimerCount()).toBe(1);
    writer.exec('COMMIT');
    writer.close();
    vi.advanceTimersByTime(WIPE_RETRY_MS);
    expect(state.secaggSessions.find('round-2')?.secrets).toBeNull();
    expect(state.secaggSessions.logPending).toBe(false);
    expect(secretsOnDisk(second)).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
  });
});

// duckdb-table-reader.test.ts — the process's shared DuckDB engines: configuration locked, thread counts per use, an invalidated one replaced, all closed by the agent's stop().
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { SiteAgent } from '../agent.ts';
import { resolveAgentConfig } from '../config.ts';
import { createCsvSource } from './csv-source.ts';
import { closeDuckDbEngines, openDuckDbEngine } from './duckdb-table-reader.ts';
import type { DuckDbEngine } from './duckdb-table-reader.ts';

const SITE_CSV = fileURLToPath(new URL('../../../examples/rotterdam/data/site-a.csv', import.meta.url));
const ENGINE = { threads: 1, memoryLimit: '256MB' };

/** Marks the shared instance behind `engine` (a table in its in-memory catalog) so a later connection can tell whether it reaches the same one. */
async function mark(engine: DuckDbEngine): Promise<void> {
  await engine.connection.run('CREATE TABLE instance_marker AS SELECT 1 AS one');
}
async function sameInstance(): Promise<boolean> {
  const engine = await openDuckDbEngine(ENGINE);
  try {
    const rows = (await engine.connection.runAndReadAll("SELECT count(*)::INTEGER FROM duckdb_tables() WHERE table_name = 'instance_marker'")).getRows();
    return rows[0]![0] === 1;
  } finally {
    engine.close();
  }
}

describe('the shared DuckDB engine', () => {
  afterAll(closeDuckDbEngines);

  it('refuses a SET on a connection (its configuration is locked at creation) and keeps no file cache', async () => {
    const engine = await openDuckDbEngine(ENGINE);
    try {
      for (const sql of ["SET memory_limit = '8GB'", 'SET threads = 8', "SET temp_directory = 'spill'", 'SET enable_external_file_cache = true', 'SET lock_configuration = false']) {
        await expect(engine.connection.run(sql), sql).rejects.toThrow(/configuration has been locked/);
      }
      const settings = (await engine.connection.runAndReadAll("SELECT current_setting('threads')::INTEGER, current_setting('enable_external_file_cache'), current_setting('lock_configuration')")).getRows();
      expect(settings).toEqual([[1, false, true]]);
    } finally {
      engine.close();
    }
  });

  it('runs a streamed read on streamThreads engine threads (default 1) and a count on threads', async () => {
    const threadsOf = async (options: Parameters<typeof openDuckDbEngine>[0], use: 'count' | 'stream'): Promise<number> => {
      const engine = await openDuckDbEngine(options, use);
      try {
        return (await engine.connection.runAndReadAll("SELECT current_setting('threads')::INTEGER")).getRows()[0]![0] as number;
      } finally {
        engine.close();
      }
    };
    expect(await threadsOf({ threads: 2, memoryLimit: '256MB' }, 'count')).toBe(2);
    expect(await threadsOf({ threads: 2, memoryLimit: '256MB' }, 'stream')).toBe(1);
    expect(await threadsOf({ threads: 2, streamThreads: 3, memoryLimit: '256MB' }, 'stream')).toBe(3);
  });

  it("is closed by the agent's stop(): a connection still open finishes, the next read gets a fresh instance", async () => {
    const open = await openDuckDbEngine(ENGINE);
    await mark(open);
    expect(await sameInstance()).toBe(true);
    const dir = mkdtempSync(join(tmpdir(), 'fedval-duckdb-stop-'));
    const config = resolveAgentConfig(
      { coordinator: 'ws://127.0.0.1:1/ws', site_id: 'site-a', token: 'a-long-enough-token-1234', data: { path: SITE_CSV, label: { column: 'event5y', positive: '1' } }, data_dir: dir },
      dir,
    );
    const agent = new SiteAgent(config, pino({ level: 'silent' }));
    agent.start();
    await agent.stop();
    // The connection opened before stop() still reads; a new one reaches another instance.
    expect((await open.connection.runAndReadAll('SELECT one FROM instance_marker')).getRows()).toEqual([[1]]);
    open.close();
    expect(await sameInstance()).toBe(false);
    let rows = 0;
    for await (const batch of createCsvSource({ path: SITE_CSV, ...ENGINE }).read({ columns: [{ name: 'event5y', kind: 'categorical' }] })) rows += batch.rowCount;
    expect(rows).toBeGreaterThan(0);
  });

  it('drops an instance DuckDB reports invalidated (a FATAL error), so the next read creates a fresh one; other errors keep it', async () => {
    const engine = await openDuckDbEngine(ENGINE);
    await mark(engine);
    engine.failed(new Error('Conversion Error: Could not convert string "x" to INT32'));
    expect(await sameInstance()).toBe(true);
    // The text DuckDB gives every query once its database is invalidated (src/main/database.cpp, ValidDatabase), as the cause of a coded error.
    engine.failed(new Error('data is not valid CSV', { cause: new Error('FATAL Error: Failed: database has been invalidated because of a previous fatal error.') }));
    engine.close();
    expect(await sameInstance()).toBe(false);
  });
});

describe('a read that connects while the engines close', () => {
  afterAll(closeDuckDbEngines);

  it('is not closed under a connect in progress (that fails, or crashes the process): the read connects, the instance closes after', async () => {
    // The read has its (shared, already created) instance but has not connected yet when another agent in the process
    // stops: whether the close lands before the connect is up to the engine, so the race is run several times.
    for (let attempt = 0; attempt < 10; attempt += 1) {
      (await openDuckDbEngine(ENGINE)).close();
      const [engine] = await Promise.all([openDuckDbEngine(ENGINE), closeDuckDbEngines()]);
      try {
        expect((await engine.connection.runAndReadAll('SELECT 42')).getRows()).toEqual([[42]]);
      } finally {
        engine.close();
      }
    }
  });
});

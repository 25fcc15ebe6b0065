// coordinator-store.ts — the coordinator's storage traffic of one encrypted round on SQLite and on PostgreSQL (prints JSON).
// Run: node tests/bench/coordinator-store.ts [--sites 100] [--rounds 3] [--ciphertext-kib 256]
// Each round is what the coordinator writes and reads for it: the round and its N site rows, two status updates per
// site, each site's contribution kept (two ciphertexts of --ciphertext-kib KiB), the close with the encrypted sum,
// then the round and its contributions read back as the key holder's routes read them. SQLite runs in a temporary
// data directory as the coordinator opens it; PostgreSQL is a throwaway cluster (tests/helpers/postgres.ts) reached
// over TCP with a password, with fsync and synchronous_commit ON (the test clusters turn them off) so both stores
// make each commit durable. Compare the two as ratios within one run; nothing here is asserted.
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openPostgresStore } from '../../coordinator/src/storage/postgres-store.ts';
import { openSqliteStore } from '../../coordinator/src/storage/sqlite-store.ts';
import type { CoordinatorStore } from '../../coordinator/src/storage/store.ts';
import { pendingSites, study } from '../../coordinator/src/test-support/store-conformance.ts';
import { createCoordinatorRole } from '../helpers/coordinator-postgres.ts';
import { startTestPostgres } from '../helpers/postgres.ts';

const { values } = parseArgs({ options: { sites: { type: 'string', default: '100' }, rounds: { type: 'string', default: '3' }, 'ciphertext-kib': { type: 'string', default: '256' } } });
const SITES = Number(values.sites);
const ROUNDS = Number(values.rounds);
const CIPHERTEXT_BYTES = Number(values['ciphertext-kib']) * 1024;

interface Timing {
  /** Median wall time of one round's writes (create, updates, contributions, close), ms. */
  write_ms: number;
  /** Median wall time of reading the round and its contributions back, ms. */
  read_ms: number;
  /** Store calls per second over the writes. */
  writes_per_s: number;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function runRounds(store: CoordinatorStore): Promise<Timing> {
  await store.createStudy({ ...study, modelId: null, scoreColumn: 'score', contribution: 'bfv' });
  const siteIds = Array.from({ length: SITES }, (_, i) => `site-${i}`);
  const ciphertexts = [new Uint8Array(CIPHERTEXT_BYTES).fill(7), new Uint8Array(CIPHERTEXT_BYTES).fill(9)];
  const writes: number[] = [];
  const reads: number[] = [];
  const callsPerRound = 1 + SITES * 3 + 1;
  for (let r = 0; r < ROUNDS; r += 1) {
    const id = `round-${r}`;
    const started = performance.now();
    await store.createRound({ id, studyId: study.id, state: 'dispatched', createdAt: r, deadlineAt: r + 60_000, sites: pendingSites(siteIds, r) });
    // Sites answer concurrently: the coordinator awaits each write, but many sites' writes are in flight at once.
    await Promise.all(
      siteIds.map(async (siteId, i) => {
        await store.updateRoundSite(id, siteId, { status: 'dispatched' }, r + 1);
        await store.putRoundContribution({ roundId: id, siteId, ciphertexts, record: null, attestation: null, publicKey: null, receivedAt: r + 2 + i });
        await store.updateRoundSite(id, siteId, { status: 'contributed', contributionBytes: 2 * CIPHERTEXT_BYTES, contributionSha256: 'c'.repeat(64) }, r + 2);
      }),
    );
    await store.closeRound(id, { state: 'aggregated', reason: null, closedAt: r + 3, contributions: SITES, aggregate: null, result: null, encryptedAggregate: ciphertexts });
    writes.push(performance.now() - started);
    const readStarted = performance.now();
    await store.getRound(id);
    await store.listRoundContributions(id);
    reads.push(performance.now() - readStarted);
  }
  const write = median(writes);
  return { write_ms: Math.round(write), read_ms: Math.round(median(reads)), writes_per_s: Math.round((callsPerRound / write) * 1000) };
}

const dir = mkdtempSync(join(tmpdir(), 'fedval-store-bench-'));
const server = await startTestPostgres({ conf: ['fsync = on', 'synchronous_commit = on', 'full_page_writes = on'] });
try {
  const sqliteStore = openSqliteStore(dir);
  const sqlite = await runRounds(sqliteStore);
  await sqliteStore.close();
  const role = await createCoordinatorRole(server);
  const pgStore = openPostgresStore({ url: await role.createDatabase('bench'), password: role.password });
  await pgStore.ready();
  const postgres = await runRounds(pgStore);
  await pgStore.close();
  process.stdout.write(
    `${JSON.stringify(
      {
        bench: 'coordinator-store',
        machine: { cpus: cpus().length, model: cpus()[0]?.model },
        sites: SITES,
        rounds: ROUNDS,
        ciphertext_bytes: CIPHERTEXT_BYTES,
        sqlite,
        postgres,
        postgres_over_sqlite: { write: +(postgres.write_ms / sqlite.write_ms).toFixed(2), read: +(postgres.read_ms / sqlite.read_ms).toFixed(2) },
      },
      null,
      2,
    )}\n`,
  );
} finally {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}

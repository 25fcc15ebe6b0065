// secagg-resume.ts — what keeping a securely aggregated round resumable costs the coordinator (prints JSON): each step
// (advertisement, sealed shares, masked input stored, survivor signature, reveal) appended to the SQLite store, fsynced,
// one at a time as the coordinator's write queue makes them; then a restart's work: the steps read back and replayed
// (every signature verified again) into the round's state. N sites, the last one dropping out; real signed records.
// Run: node tests/bench/secagg-resume.ts [--sites 100]     (CPU time and RSS are load-insensitive; wall time is not)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { SecureAggregationRound } from '../../coordinator/src/secure-aggregation.ts';
import { openSqliteStore } from '../../coordinator/src/storage/sqlite-store.ts';
import { pendingSites, study } from '../../coordinator/src/test-support/store-conformance.ts';
import { secaggRoundSteps } from '../../coordinator/src/test-support/secagg-steps.ts';

const { values } = parseArgs({ options: { sites: { type: 'string', default: '100' } } });
const SITES = Array.from({ length: Number(values.sites) }, (_, i) => `site-${String(i).padStart(4, '0')}`);
const { steps, keys } = secaggRoundSteps(SITES);

const dir = mkdtempSync(join(tmpdir(), 'fedval-secagg-resume-bench-'));
try {
  const store = openSqliteStore(dir);
  await store.createStudy({ ...study, modelId: null, scoreColumn: 'score', contribution: 'bfv', sites: SITES });
  await store.createRound({ id: 'round-1', studyId: study.id, state: 'dispatched', createdAt: 1, deadlineAt: 60_000, sites: pendingSites(SITES, 1) });
  const cpu = (): number => {
    const usage = process.cpuUsage();
    return (usage.user + usage.system) / 1000;
  };
  let wall = performance.now();
  let cpuAt = cpu();
  for (const step of steps) await store.appendSecaggEvent('round-1', step);
  const append = { wall_ms: performance.now() - wall, cpu_ms: cpu() - cpuAt };
  wall = performance.now();
  cpuAt = cpu();
  const kept = await store.listSecaggEvents('round-1');
  const read = { wall_ms: performance.now() - wall, cpu_ms: cpu() - cpuAt };
  wall = performance.now();
  cpuAt = cpu();
  const { round, ended } = SecureAggregationRound.replay({ threshold: Math.max(2, SITES.length - 1), studyId: study.id, roundId: 'round-1', sites: SITES }, kept, (site) => keys.get(site));
  const replay = { wall_ms: performance.now() - wall, cpu_ms: cpu() - cpuAt };
  await store.close();
  const round2 = (ms: number): number => Math.round(ms * 100) / 100;
  console.log(
    JSON.stringify(
      {
        bench: 'secagg-resume',
        node: process.version,
        sites: SITES.length,
        steps: steps.length,
        replayed_to: ended?.kind ?? round.phase,
        append_fsynced: { wall_ms: round2(append.wall_ms), cpu_ms: round2(append.cpu_ms), wall_ms_per_step: round2(append.wall_ms / steps.length) },
        read_back: { wall_ms: round2(read.wall_ms), cpu_ms: round2(read.cpu_ms) },
        replay: { wall_ms: round2(replay.wall_ms), cpu_ms: round2(replay.cpu_ms), cpu_ms_per_step: round2(replay.cpu_ms / steps.length) },
        rss_mib: Math.round(process.memoryUsage().rss / 2 ** 20),
      },
      null,
      2,
    ),
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}

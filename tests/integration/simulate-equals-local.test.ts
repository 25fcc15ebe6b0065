// Federated (--no-dp) equals pooled: `fedval simulate` over several site files gives exactly what
// `fedval-agent eval-local` gives on their concatenation, with a real coordinator and real agents.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { DATA_DIR, runJson } from '../helpers/run-cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'fedval-simulate-'));

/** GBSG patients with a fixed, documented risk score (not a fitted model) and a few hostile cells. */
function writeSites(): { sites: string[]; pooled: string } {
  const rows = parse(readFileSync(join(DATA_DIR, 'gbsg.csv')), { columns: true }) as Record<string, string>[];
  const header = 'pid,age,meno,grade,status,score';
  const lines = rows.map((row, i) => {
    const z = -2 + 0.04 * Number(row.nodes) + 0.3 * Number(row.grade) - 0.002 * Number(row.pgr) + 0.01 * Number(row.age);
    let score = (1 / (1 + Math.exp(-z))).toFixed(6);
    let status = row.status;
    if (i % 97 === 0) status = ''; // missing label
    if (i % 101 === 0) score = 'n/a'; // non-numeric score
    if (i % 103 === 0) score = '0.5'; // exactly the threshold
    return `${row.pid},${row.age},${row.meno},${row.grade},${status},${score}`;
  });
  const thirds = [lines.slice(0, 200), lines.slice(200, 450), lines.slice(450)];
  const sites = thirds.map((part, i) => {
    const path = join(dir, `site-${i}.csv`);
    writeFileSync(path, `${header}\n${part.join('\n')}\n`);
    return path;
  });
  const pooled = join(dir, 'pooled.csv');
  writeFileSync(pooled, `${header}\n${lines.join('\n')}\n`);
  return { sites, pooled };
}

describe('fedval simulate --no-dp', () => {
  const { sites, pooled } = writeSites();
  const common = ['--label', 'status', '--positive', '1', '--threshold', '0.3', '--group', 'meno', '--group', 'age:45,60'];

  it('equals eval-local on the concatenated data, with a score column', async () => {
    // eval-local runs while the simulation starts its processes: the two are independent.
    const [local, federated] = await Promise.all([
      runJson('fedval-agent', ['eval-local', '--data', pooled, '--score', 'score', ...common]),
      runJson('fedval', ['simulate', ...sites.flatMap((path, i) => ['--site', `site-${i}=${path}`]), '--score', 'score', '--no-dp', ...common]),
    ]);
    expect(federated.metrics).toEqual(local.metrics);
    expect(local.metrics.n).toBeGreaterThan(600);
    expect((local.metrics.excluded as Record<string, number>).missing_label).toBeGreaterThan(0);
    expect((local.metrics.excluded as Record<string, number>).invalid_score).toBeGreaterThan(0);
  }, 180_000);

  // With the example model bundle (examples/rotterdam/model) over the three bundled site files: the round runs once, in
  // tests/integration/omop-postgres.test.ts, where site A's rows are read from OMOP tables (the same rows, the same metrics).

  it('equals eval-local for multiclass and regression tasks', async () => {
    // Deterministic generated data: a linear congruential sequence, three classes, a numeric outcome.
    let state = 12345;
    const next = () => (state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const header = 'cls,pa,pb,pc,y,yhat,sex';
    const lines = Array.from({ length: 240 }, (_, i) => {
      const p = [next() + 0.01, next() + 0.01, next() + 0.01];
      const total = p[0]! + p[1]! + p[2]!;
      const y = 20 * next();
      const cls = i % 50 === 0 ? 'unknown' : ['a', 'b', 'c'][i % 3];
      return `${cls},${p.map((v) => (v / total).toFixed(5)).join(',')},${y.toFixed(3)},${(y + 4 * next() - 2).toFixed(3)},${i % 2 ? 'F' : 'M'}`;
    });
    const parts = [lines.slice(0, 100), lines.slice(100)].map((part, i) => {
      const path = join(dir, `task-site-${i}.csv`);
      writeFileSync(path, `${header}\n${part.join('\n')}\n`);
      return path;
    });
    const pooledTasks = join(dir, 'task-pooled.csv');
    writeFileSync(pooledTasks, `${header}\n${lines.join('\n')}\n`);
    const siteArgs = parts.flatMap((path, i) => ['--site', `t${i}=${path}`]);
    const tasks = [
      ['--label', 'cls', '--task', 'multiclass', '--classes', 'a,b,c', '--score', 'pa,pb,pc', '--group', 'sex'],
      ['--label', 'y', '--task', 'regression', '--range', '0,20', '--score', 'yhat', '--group', 'sex'],
    ];
    // The two tasks' simulations are independent (each its own coordinator and agents) and run side by side, each with
    // its eval-local beside it.
    const runs = await Promise.all(
      tasks.map((args) => Promise.all([runJson('fedval-agent', ['eval-local', '--data', pooledTasks, ...args]), runJson('fedval', ['simulate', ...siteArgs, '--no-dp', ...args])])),
    );
    for (const [local, federated] of runs) {
      expect(federated.metrics).toEqual(local.metrics);
      expect(local.metrics.n).toBeGreaterThan(200);
    }
  }, 180_000);
});

describe('fedval simulate --no-dp, survival task', () => {
  /** GBSG recurrence-free survival with the same fixed score, a few hostile cells, over three sites. */
  function writeSurvivalSites(): { sites: string[]; pooled: string } {
    const rows = parse(readFileSync(join(DATA_DIR, 'gbsg.csv')), { columns: true }) as Record<string, string>[];
    const header = 'pid,meno,rfstime,status,risk';
    const lines = rows.map((row, i) => {
      const z = -2 + 0.04 * Number(row.nodes) + 0.3 * Number(row.grade) - 0.002 * Number(row.pgr) + 0.01 * Number(row.age);
      let time = row.rfstime;
      if (i % 89 === 0) time = '-5'; // negative follow-up: invalid_label
      if (i % 97 === 0) time = ''; // missing follow-up: missing_label
      return `${row.pid},${row.meno},${time},${row.status},${(1 / (1 + Math.exp(-z))).toFixed(6)}`;
    });
    const thirds = [lines.slice(0, 200), lines.slice(200, 450), lines.slice(450)];
    const sites = thirds.map((part, i) => {
      const path = join(dir, `survival-site-${i}.csv`);
      writeFileSync(path, `${header}\n${part.join('\n')}\n`);
      return path;
    });
    const pooled = join(dir, 'survival-pooled.csv');
    writeFileSync(pooled, `${header}\n${lines.join('\n')}\n`);
    return { sites, pooled };
  }

  it('equals eval-local on the concatenated data (time, event, risk; exclusions counted)', async () => {
    const { sites, pooled } = writeSurvivalSites();
    const common = ['--task', 'survival', '--time', 'rfstime', '--event', 'status', '--horizon', '1826', '--time-bins', '50', '--bins', '50', '--score', 'risk', '--group', 'meno'];
    // eval-local runs while the simulation starts its processes: the two are independent.
    const [local, federated] = await Promise.all([
      runJson('fedval-agent', ['eval-local', '--data', pooled, ...common]),
      runJson('fedval', ['simulate', ...sites.flatMap((path, i) => ['--site', `site-${i}=${path}`]), '--no-dp', ...common]),
    ]);
    expect(federated.metrics).toEqual(local.metrics);
    expect(local.metrics.task).toBe('survival');
    expect((local.metrics.excluded as Record<string, number>).invalid_label).toBeGreaterThan(0);
    expect((local.metrics.excluded as Record<string, number>).missing_label).toBeGreaterThan(0);
    expect(local.metrics.c_index).toBeGreaterThan(0.55);
  }, 240_000);
});

import { resolveMetricSpec } from '@fedval/metrics';
import { openDataFile } from './src/data-sources/open-data-source.ts';
import { evaluateDataset } from './src/evaluation.ts';
import { scoreColumnScorer } from './src/scorers.ts';
import { readdirSync, readFileSync } from 'node:fs';
const threads = (): Map<string, number> => { const m = new Map<string, number>(); for (const t of readdirSync('/proc/self/task')) { try { const f = readFileSync(`/proc/self/task/${t}/stat`, 'utf8').split(') ')[1]!.split(' '); m.set(t + ':' + readFileSync(`/proc/self/task/${t}/comm`, 'utf8').trim(), (Number(f[11]) + Number(f[12])) * 10); } catch {} } return m; };
const path = process.argv[2]!;
const groups = process.argv[3] === 'groups' ? [{ column: 'meno' }, { column: 'size' }] : [];
const best: Record<string, [number, number]> = {};
for (let r = 0; r < Number(process.argv[4] ?? 4); r++) for (const hide of [false, true]) {
  const src = openDataFile(path);
  const source = hide ? { ...src, countScoreHistogram: undefined } : src;
  const before = threads(); const t = performance.now(); const cpu = process.cpuUsage();
  await evaluateDataset({ source, spec: { ...resolveMetricSpec({ task: 'binary' }), groups }, label: { column: 'event5y', positive: '1' }, scorer: scoreColumnScorer('score') });
  const u = process.cpuUsage(cpu); const w = performance.now() - t; const c = (u.user + u.system) / 1000;
  const k = hide ? 'batches' : 'engine';
  const after = threads(); const per = [...after].map(([id, v]) => [id, v - (before.get(id) ?? 0)] as const).filter(([, v]) => v >= 30).sort((a, b) => b[1] - a[1]);
  console.log(k, Math.round(w), Math.round(c), JSON.stringify(per));
  best[k] = [Math.min(best[k]?.[0] ?? 1e9, Math.round(w)), Math.min(best[k]?.[1] ?? 1e9, Math.round(c))];
}
console.log(path.slice(-8), process.argv[3], JSON.stringify(best));

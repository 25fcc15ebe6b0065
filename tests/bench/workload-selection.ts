// workload-selection.ts — the --workloads option of the throughput benchmarks: which of their workloads to measure.

/** The workloads named in `named` (comma-separated), in the benchmark's order; all of them when not given. */
export function selectedWorkloads<T extends string>(named: string | undefined, all: readonly T[]): T[] {
  if (named === undefined) return [...all];
  const wanted = named.split(',').map((name) => name.trim());
  const unknown = wanted.filter((name) => !all.includes(name as T));
  if (unknown.length > 0) throw new Error(`unknown workload(s) ${unknown.join(', ')}; known: ${all.join(', ')}`);
  return all.filter((name) => wanted.includes(name));
}

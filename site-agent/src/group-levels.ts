// group-levels.ts — subgroup arguments ("meno", "age:50,70") and discovery of categorical levels in a local file.
import type { GroupSpec } from '@fedval/metrics';
import { AgentError } from './errors.ts';
import { readCsvChunks } from './csv-source.ts';
import type { CsvSourceOptions } from './csv-source.ts';
import { parseDecimal } from './scorers.ts';

/** Most distinct levels a categorical subgroup column may have before numeric cuts are required. */
export const MAX_GROUP_LEVELS = 64;

/** Parses `COL` (categorical) or `COL:c1,c2,...` (numeric bands cut at ascending points). */
export function parseGroupArgument(text: string): GroupSpec {
  const [column, cutText, ...rest] = text.split(':');
  if (!column || rest.length > 0) throw new AgentError('FEDVAL_ERR_AGENT_USAGE', `--group ${text}: expected COL or COL:cut1,cut2`);
  if (cutText === undefined) return { column };
  const cuts = cutText.split(',').map(parseDecimal);
  if (cuts.length === 0 || cuts.some((cut) => !Number.isFinite(cut)) || cuts.some((cut, i) => i > 0 && cut <= cuts[i - 1]!)) {
    throw new AgentError('FEDVAL_ERR_AGENT_USAGE', `--group ${text}: cuts must be ascending numbers`);
  }
  return { column, cuts };
}

/** Reads the distinct non-missing values of each categorical group column, in natural order. Names only, never counts. */
export async function discoverGroupLevels(source: CsvSourceOptions, groups: readonly GroupSpec[]): Promise<GroupSpec[]> {
  const open = groups.filter((group) => !group.cuts && !group.levels);
  const seen = new Map(open.map((group) => [group.column, new Set<string>()]));
  if (open.length > 0) {
    for await (const chunk of readCsvChunks(source)) {
      for (const group of open) {
        if (!chunk.columns.includes(group.column)) throw new AgentError('FEDVAL_ERR_AGENT_DATA_COLUMNS', `missing ${group.column}`);
        const levels = seen.get(group.column)!;
        for (const row of chunk.rows) {
          const value = row[group.column];
          if (value !== null && value !== undefined) levels.add(value);
        }
        if (levels.size > MAX_GROUP_LEVELS) {
          throw new AgentError('FEDVAL_ERR_AGENT_INVALID_TASK', `${group.column} has more than ${MAX_GROUP_LEVELS} levels; give numeric cuts (COL:c1,c2)`);
        }
      }
    }
  }
  return groups.map((group) => (seen.has(group.column) ? { column: group.column, levels: sortLevels(seen.get(group.column)!) } : group));
}

/** Natural order: numbers by value, then text. */
export function sortLevels(levels: Iterable<string>): string[] {
  return [...levels].sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
}

// group-levels.ts — subgroup arguments ("meno", "age:50,70") and discovery of categorical levels in a local data source.
import type { GroupSpec } from '@fedval/metrics';
import { columnKey } from './data-sources/data-source.ts';
import type { CategoricalColumn, DataSource } from './data-sources/data-source.ts';
import { AgentError } from './errors.ts';
import { MAX_GROUP_LEVELS, requireFewLevels, sortLevels } from './open-group-levels.ts';
import type { EvaluationGroup } from './open-group-levels.ts';
import { parseDecimal } from './scorers.ts';

export { MAX_GROUP_LEVELS, sortLevels };

/** Parses `COL` (categorical, levels found in the data) or `COL:c1,c2,...` (numeric bands cut at ascending points). */
export function parseGroupArgument(text: string): EvaluationGroup {
  const [column, cutText, ...rest] = text.split(':');
  if (!column || rest.length > 0) throw new AgentError('FEDVAL_ERR_AGENT_USAGE', `--group ${text}: expected COL or COL:cut1,cut2`);
  if (cutText === undefined) return { column };
  const cuts = cutText.split(',').map(parseDecimal);
  if (cuts.length === 0 || cuts.some((cut) => !Number.isFinite(cut)) || cuts.some((cut, i) => i > 0 && cut <= cuts[i - 1]!)) {
    throw new AgentError('FEDVAL_ERR_AGENT_USAGE', `--group ${text}: cuts must be ascending numbers`);
  }
  return { column, cuts };
}

/** Reads the distinct non-missing values of each categorical group column (one pass), in natural order. Names only, never counts. */
export async function discoverGroupLevels(source: DataSource, groups: readonly EvaluationGroup[]): Promise<GroupSpec[]> {
  const open = groups.filter((group) => !group.cuts && !group.levels);
  const found = new Map<string, readonly string[]>(open.map((group) => [group.column, []]));
  if (open.length > 0) {
    const requests = open.map((group) => ({ name: group.column, kind: 'categorical' as const }));
    for await (const batch of source.read({ columns: requests })) {
      for (const request of requests) {
        const { levels } = batch.columns.get(columnKey(request)) as CategoricalColumn;
        requireFewLevels(request.name, levels);
        found.set(request.name, levels);
      }
    }
  }
  return groups.map((group): GroupSpec => (found.has(group.column) ? { column: group.column, levels: sortLevels(found.get(group.column)!) } : (group as GroupSpec)));
}

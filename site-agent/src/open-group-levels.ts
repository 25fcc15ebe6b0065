// open-group-levels.ts — subgroup columns whose levels are found in the same pass as the statistics, then put in natural order.
import { createStatisticsLayout, resolveMetricSpec } from '@fedval/metrics';
import type { GroupSpec, MetricSpec, SectionFieldName, StatisticsLayout } from '@fedval/metrics';
import { AgentError } from './errors.ts';

/** Most distinct levels a categorical subgroup column may have before numeric cuts are required. */
export const MAX_GROUP_LEVELS = 64;

/** A subgroup column as a caller gives it: declared levels, numeric cuts, or neither (levels found in the data). */
export type EvaluationGroup = GroupSpec | { readonly column: string; readonly levels?: undefined; readonly cuts?: undefined };

export function isOpenGroup(group: EvaluationGroup): boolean {
  return !group.levels && !group.cuts;
}

/** Placeholder level names of an open column while reading: the column's dictionary codes 0…63. */
const PLACEHOLDERS = Array.from({ length: MAX_GROUP_LEVELS }, (_, code) => String(code));

/**
 * The layout statistics are gathered in: each open column gets one level per dictionary code (0…63), so no level needs
 * to be known before the read. Patients touch the same counters as in the final layout, only in another order.
 */
export function provisionalLayout(spec: Omit<MetricSpec, 'groups'>, groups: readonly EvaluationGroup[]): StatisticsLayout {
  try {
    return createStatisticsLayout(resolveMetricSpec({ ...spec, groups: groups.map((g) => (isOpenGroup(g) ? { column: g.column, levels: PLACEHOLDERS } : g)) }));
  } catch (cause) {
    throw new AgentError('FEDVAL_ERR_AGENT_INVALID_TASK', `the subgroup columns cannot be laid out with up to ${MAX_GROUP_LEVELS} levels each; list their levels (fedval-agent levels)`, { cause });
  }
}

/** Refuses an open column whose dictionary grew past MAX_GROUP_LEVELS. */
export function requireFewLevels(column: string, levels: readonly string[]): void {
  if (levels.length > MAX_GROUP_LEVELS) {
    throw new AgentError('FEDVAL_ERR_AGENT_INVALID_TASK', `${column} has more than ${MAX_GROUP_LEVELS} levels; give numeric cuts (COL:c1,c2)`);
  }
}

/** The collator of natural order, made once when the module loads (making one costs ≈ 20 ms: ICU's data). */
const NATURAL_ORDER = new Intl.Collator('en', { numeric: true });

/** Natural order: numbers by value, then text (the same order as `a.localeCompare(b, 'en', { numeric: true })`). */
export function sortLevels(levels: Iterable<string>): string[] {
  return [...levels].sort(NATURAL_ORDER.compare);
}

/**
 * Moves the statistics of the provisional layout into the final one, where each open column has the levels its
 * dictionary found (`dictionaries[g]`, by code), in natural order. Entry by entry a permutation: nothing is added.
 */
export function finalizeOpenGroups(
  spec: Omit<MetricSpec, 'groups'>,
  groups: readonly EvaluationGroup[],
  dictionaries: readonly (readonly string[] | null)[],
  provisional: StatisticsLayout,
  vector: Float64Array,
): { layout: StatisticsLayout; vector: Float64Array } {
  const finalGroups = groups.map((g, i): GroupSpec => {
    if (!isOpenGroup(g)) return g as GroupSpec;
    const levels = sortLevels(dictionaries[i] ?? []);
    if (levels.length === 0) throw new AgentError('FEDVAL_ERR_AGENT_INVALID_TASK', `${g.column} has no values to form subgroups`);
    return { column: g.column, levels };
  });
  const layout = createStatisticsLayout(resolveMetricSpec({ ...spec, groups: finalGroups }));
  const out = new Float64Array(layout.length);
  const copySection = (from: number, to: number): void => {
    const source = provisional.sections[from]!;
    const target = layout.sections[to]!;
    for (const name of Object.keys(target.fields) as SectionFieldName[]) {
      const s = source.fields[name]!;
      const t = target.fields[name]!;
      out.set(vector.subarray(s.offset, s.offset + s.length), t.offset);
    }
  };
  copySection(0, 0);
  let fromBase = 1;
  let toBase = 1;
  groups.forEach((g, i) => {
    const fromLevels = provisional.groupLevels[i]!;
    const toLevels = layout.groupLevels[i]!;
    if (!isOpenGroup(g)) {
      for (let l = 0; l < toLevels.length; l += 1) copySection(fromBase + l, toBase + l);
    } else {
      const codeOf = new Map((dictionaries[i] ?? []).map((text, code) => [text, code]));
      const declared = toLevels.length - 2;
      for (let l = 0; l < declared; l += 1) copySection(fromBase + codeOf.get(toLevels[l]!)!, toBase + l);
      copySection(fromBase + fromLevels.length - 2, toBase + declared); // (other)
      copySection(fromBase + fromLevels.length - 1, toBase + declared + 1); // (missing)
    }
    fromBase += fromLevels.length;
    toBase += toLevels.length;
  });
  return { layout, vector: out };
}

// group-levels.ts — the levels of a subgroup column and which level a raw cell belongs to.
import { MetricsError } from './errors.ts';
import { MISSING_LEVEL, OTHER_LEVEL } from './metric-spec.ts';
import type { GroupSpec } from './metric-spec.ts';

/** A raw subgroup cell as a data connector reads it. */
export type GroupValue = string | number | null | undefined;

/** Cells that mean "not recorded": null, undefined, NaN, and strings that trim to '' or 'NA'. */
const MISSING_STRINGS = new Set(['', 'NA']);

/**
 * Level names of a column, in index order: the declared levels (or the bands of the cuts:
 * cuts [50, 70] give "<50", "50-70", ">=70"), then "(other)", then "(missing)".
 */
export function groupLevelNames(group: GroupSpec): string[] {
  const declared = group.levels ? [...group.levels] : bandNames(group.cuts ?? []);
  return [...declared, OTHER_LEVEL, MISSING_LEVEL];
}

/**
 * Level index of a raw cell. Categorical: the declared level it equals (after trimming), else
 * "(other)". Numeric bands: the band holding the number (lower bound inclusive), "(other)" when
 * the cell is not a number. Missing cells go to "(missing)" unless "NA" is itself a declared level.
 */
export function groupLevelIndex(group: GroupSpec, raw: GroupValue): number {
  return levelMatcher(group)(raw);
}

type LevelMatcher = (raw: GroupValue) => number;
const matchers = new WeakMap<GroupSpec, LevelMatcher>();

/** A cached matcher per group spec, so accumulation does no per-patient setup. */
export function levelMatcher(group: GroupSpec): LevelMatcher {
  const cached = matchers.get(group);
  if (cached) return cached;
  const matcher = buildMatcher(group);
  matchers.set(group, matcher);
  return matcher;
}

function buildMatcher(group: GroupSpec): LevelMatcher {
  if (group.levels) {
    const index = new Map(group.levels.map((level, i) => [level, i]));
    const other = group.levels.length;
    const missing = other + 1;
    return (raw) => {
      if (raw === null || raw === undefined || (typeof raw === 'number' && Number.isNaN(raw))) return missing;
      const text = String(raw).trim();
      const found = index.get(text);
      if (found !== undefined) return found;
      return MISSING_STRINGS.has(text) ? missing : other;
    };
  }
  const cuts = group.cuts;
  if (!cuts) throw new MetricsError('FEDVAL_ERR_METRICS_INVALID_SPEC', 'a group column needs levels or cuts');
  const other = cuts.length + 1;
  const missing = other + 1;
  return (raw) => {
    if (raw === null || raw === undefined) return missing;
    let value: number;
    if (typeof raw === 'number') {
      if (Number.isNaN(raw)) return missing;
      value = raw;
    } else {
      const text = String(raw).trim();
      if (MISSING_STRINGS.has(text)) return missing;
      value = Number(text);
    }
    if (!Number.isFinite(value)) return other;
    let band = 0;
    while (band < cuts.length && value >= (cuts[band] as number)) band += 1;
    return band;
  };
}

function bandNames(cuts: readonly number[]): string[] {
  const names: string[] = [];
  cuts.forEach((cut, i) => {
    names.push(i === 0 ? `<${cut}` : `${cuts[i - 1]}-${cut}`);
  });
  names.push(`>=${cuts[cuts.length - 1]}`);
  return names;
}

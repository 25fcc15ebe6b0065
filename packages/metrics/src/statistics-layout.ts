// statistics-layout.ts — where every statistic sits in the additive vector, and how much one patient can move it.
import { MetricsError } from './errors.ts';
import { groupLevelNames } from './group-levels.ts';
import { resolveMetricSpec } from './metric-spec.ts';
import type { MetricSpec } from './metric-spec.ts';
import { sectionFields } from './section-fields.ts';
import type { SectionFieldName } from './section-fields.ts';

/** Fixed-point scale of every fixed-point entry: a value v in [0, 1] is stored as round(v · 2^20). */
export const FIXED_POINT_SCALE = 2 ** 20;

/** A contiguous slice of the vector whose entries share a kind and a scale; the unit of DP noise calibration. */
export interface StatisticsBlock {
  /** 'overall.counts', 'overall.sums', 'by_group.<column>.counts', 'by_group.<column>.sums'. */
  readonly name: string;
  readonly offset: number;
  readonly length: number;
  readonly kind: 'count' | 'fixed_point';
  /** Integer units per unit of value: 1 for counts, FIXED_POINT_SCALE for fixed-point sums. */
  readonly scale: number;
  /** Largest |change| one patient causes in one entry of this block. */
  readonly perPatientMaxAbs: number;
  /** Largest sum of |changes| one patient causes over the whole block. */
  readonly perPatientL1: number;
  /** Largest sum of squared changes one patient causes over the whole block. */
  readonly perPatientL2Squared: number;
}

/** Absolute position of one field of one section. */
export interface FieldSlice {
  readonly offset: number;
  readonly length: number;
}

/** The statistics of one population: everyone (overall) or one level of one subgroup column. */
export interface StatisticsSection {
  /** 'overall' or '<column>=<level>'. */
  readonly name: string;
  readonly column: string | null;
  readonly level: string | null;
  readonly fields: Readonly<Partial<Record<SectionFieldName, FieldSlice>>>;
}

export interface StatisticsLayout {
  readonly spec: Readonly<MetricSpec>;
  /** Number of entries of the vector. */
  readonly length: number;
  readonly blocks: readonly StatisticsBlock[];
  /** Overall first, then each level of each group column in spec order. */
  readonly sections: readonly StatisticsSection[];
  /** Per group column (spec order): level names in index order, "(other)" and "(missing)" last. */
  readonly groupLevels: readonly (readonly string[])[];
  /** Largest |change| one patient causes in any single entry (bounds sums for the HE planner). */
  readonly maxAbsPerPatient: number;
  /** Largest L1 change one patient causes over the whole vector. */
  readonly perPatientL1: number;
  /** Largest squared L2 change one patient causes over the whole vector. */
  readonly perPatientL2Squared: number;
  readonly fixedPointScale: number;
}

/**
 * Lays out the vector: for the overall population and then for each group column, a count block
 * (every level's counts, level after level) followed by a fixed-point sum block (likewise). One
 * patient touches the overall section and exactly one level of each column.
 */
export function createStatisticsLayout(spec: Partial<MetricSpec>): StatisticsLayout {
  const resolved = resolveMetricSpec(spec);
  const classCount = resolved.classes?.length ?? 0;
  const fields = sectionFields(resolved.task, resolved.bins, resolved.calibrationBins, classCount, resolved.survival);
  const countsLength = sum(fields.filter((f) => f.part === 'counts').map((f) => f.length));
  const sumsLength = sum(fields.filter((f) => f.part === 'sums').map((f) => f.length));
  const sensitivity = perPatientSensitivity(resolved);

  const blocks: StatisticsBlock[] = [];
  const sections: StatisticsSection[] = [];
  const groupLevels = resolved.groups.map((g) => Object.freeze(groupLevelNames(g)));
  let offset = 0;

  const addPopulation = (blockPrefix: string, column: string | null, levels: readonly (string | null)[]): void => {
    const countsOffset = offset;
    const sumsOffset = countsOffset + levels.length * countsLength;
    blocks.push(Object.freeze({ name: `${blockPrefix}.counts`, offset: countsOffset, length: levels.length * countsLength, kind: 'count' as const, scale: 1, ...sensitivity.counts }));
    if (sumsLength > 0) {
      blocks.push(Object.freeze({ name: `${blockPrefix}.sums`, offset: sumsOffset, length: levels.length * sumsLength, kind: 'fixed_point' as const, scale: FIXED_POINT_SCALE, ...sensitivity.sums }));
    }
    levels.forEach((level, i) => {
      const slices: Partial<Record<SectionFieldName, FieldSlice>> = {};
      let countsCursor = countsOffset + i * countsLength;
      let sumsCursor = sumsOffset + i * sumsLength;
      for (const field of fields) {
        if (field.part === 'counts') {
          slices[field.name] = Object.freeze({ offset: countsCursor, length: field.length });
          countsCursor += field.length;
        } else {
          slices[field.name] = Object.freeze({ offset: sumsCursor, length: field.length });
          sumsCursor += field.length;
        }
      }
      sections.push(Object.freeze({ name: column === null ? 'overall' : `${column}=${level}`, column, level, fields: Object.freeze(slices) }));
    });
    offset = sumsOffset + levels.length * sumsLength;
  };

  addPopulation('overall', null, [null]);
  resolved.groups.forEach((group, g) => addPopulation(`by_group.${group.column}`, group.column, groupLevels[g] ?? []));

  const populations = 1 + resolved.groups.length;
  const includedL1 = sensitivity.counts.perPatientL1 + sensitivity.sums.perPatientL1;
  const includedL2 = sensitivity.counts.perPatientL2Squared + sensitivity.sums.perPatientL2Squared;
  return Object.freeze({
    spec: resolved,
    length: offset,
    blocks: Object.freeze(blocks),
    sections: Object.freeze(sections),
    groupLevels: Object.freeze(groupLevels),
    maxAbsPerPatient: Math.max(sensitivity.counts.perPatientMaxAbs, sensitivity.sums.perPatientMaxAbs),
    // An excluded patient touches one exclusion counter per population instead.
    perPatientL1: populations * Math.max(includedL1, 1),
    perPatientL2Squared: populations * Math.max(includedL2, 1),
    fixedPointScale: FIXED_POINT_SCALE,
  });
}

interface BlockSensitivity {
  perPatientMaxAbs: number;
  perPatientL1: number;
  perPatientL2Squared: number;
}

/**
 * Sensitivity of one population's count block and sum block (S = FIXED_POINT_SCALE):
 * - binary: one histogram bin (+1), or one exclusion counter; sums: round((s−y)²·S) and round(s·S),
 *   each at most S, (s−y)² + s <= 2 and (s−y)⁴ + s² <= 2 (both reached at s = 1, y = 0).
 * - multiclass: one confusion cell and one bin in each of the K class histograms (K + 1 entries of +1);
 *   sum: the multiclass Brier term, clamped to [0, 2] (its range for a probability vector).
 * - survival: one (time bin, score bin, status) counter; sums: one Brier term ((1 − s)² for an event by the horizon,
 *   s² for a patient followed beyond it, none for one censored by it) and s in its calibration group, as binary.
 * - regression: the count and, when y or ŷ was clamped, the clamped counter; sums: 7 values in [0, 1]
 *   whose total is at most 5 and whose squares total at most 5 (both at u = û = 1); with rounding,
 *   Σ round(x·S) <= 5S + 3.5 and Σ round(x·S)² <= 5S² + 5S + 7/4.
 */
function perPatientSensitivity(spec: Readonly<MetricSpec>): { counts: BlockSensitivity; sums: BlockSensitivity } {
  const S = FIXED_POINT_SCALE;
  if (spec.task === 'binary' || spec.task === 'survival') {
    return {
      counts: { perPatientMaxAbs: 1, perPatientL1: 1, perPatientL2Squared: 1 },
      sums: { perPatientMaxAbs: S, perPatientL1: 2 * S, perPatientL2Squared: 2 * S * S },
    };
  }
  if (spec.task === 'multiclass') {
    const K = spec.classes?.length ?? 0;
    return {
      counts: { perPatientMaxAbs: 1, perPatientL1: K + 1, perPatientL2Squared: K + 1 },
      sums: { perPatientMaxAbs: 2 * S, perPatientL1: 2 * S, perPatientL2Squared: 4 * S * S },
    };
  }
  return {
    counts: { perPatientMaxAbs: 1, perPatientL1: 2, perPatientL2Squared: 2 },
    sums: { perPatientMaxAbs: S, perPatientL1: Math.floor(5 * S + 3.5), perPatientL2Squared: Math.floor(5 * S * S + 5 * S + 1.75) },
  };
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

/** The slice of a section field; the layout always defines the fields of its task. */
export function fieldSlice(section: StatisticsSection, name: SectionFieldName): FieldSlice {
  const slice = section.fields[name];
  if (!slice) throw new MetricsError('FEDVAL_ERR_METRICS_TASK_MISMATCH', `the layout has no ${name} entries`);
  return slice;
}

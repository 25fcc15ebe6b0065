// The layout: contiguous blocks, non-overlapping sections, and sensitivities that bound what one patient does.
import { describe, expect, it } from 'vitest';
import { createAccumulator } from './accumulator.ts';
import type { StatisticsAccumulator } from './accumulator.ts';
import { EXCLUSION_REASONS } from './exclusion-reasons.ts';
import type { MetricSpec } from './metric-spec.ts';
import { FIXED_POINT_SCALE, createStatisticsLayout } from './statistics-layout.ts';
import type { StatisticsLayout } from './statistics-layout.ts';

const S = FIXED_POINT_SCALE;
const groups = [
  { column: 'sex', levels: ['F', 'M'] },
  { column: 'age', cuts: [50, 70] },
];

function checkStructure(layout: StatisticsLayout): void {
  let offset = 0;
  for (const block of layout.blocks) {
    expect(block.offset).toBe(offset);
    expect(block.scale).toBe(block.kind === 'count' ? 1 : S);
    offset += block.length;
  }
  expect(offset).toBe(layout.length);
  const owner = new Int32Array(layout.length).fill(-1);
  layout.sections.forEach((section, i) => {
    for (const slice of Object.values(section.fields)) {
      for (let j = slice.offset; j < slice.offset + slice.length; j += 1) {
        expect(owner[j]).toBe(-1);
        owner[j] = i;
      }
    }
  });
  expect(owner.every((o) => o >= 0)).toBe(true);
}

/** Largest observed per-block and whole-vector change over single patients fed by `feed`. */
function observedSensitivity(layout: StatisticsLayout, patients: ((a: StatisticsAccumulator) => void)[]) {
  const perBlock = layout.blocks.map(() => ({ maxAbs: 0, l1: 0, l2: 0 }));
  let l1 = 0;
  let l2 = 0;
  let maxAbs = 0;
  for (const feed of patients) {
    const accumulator = createAccumulator(layout);
    feed(accumulator);
    const v = accumulator.vector();
    let totalL1 = 0;
    let totalL2 = 0;
    layout.blocks.forEach((block, b) => {
      let bl1 = 0;
      let bl2 = 0;
      let bmax = 0;
      for (let i = block.offset; i < block.offset + block.length; i += 1) {
        const x = Math.abs(v[i] as number);
        bl1 += x;
        bl2 += x * x;
        bmax = Math.max(bmax, x);
      }
      const seen = perBlock[b] as { maxAbs: number; l1: number; l2: number };
      seen.maxAbs = Math.max(seen.maxAbs, bmax);
      seen.l1 = Math.max(seen.l1, bl1);
      seen.l2 = Math.max(seen.l2, bl2);
      totalL1 += bl1;
      totalL2 += bl2;
      maxAbs = Math.max(maxAbs, bmax);
    });
    l1 = Math.max(l1, totalL1);
    l2 = Math.max(l2, totalL2);
  }
  return { perBlock, l1, l2, maxAbs };
}

function expectBounds(layout: StatisticsLayout, seen: ReturnType<typeof observedSensitivity>, tight: boolean): void {
  layout.blocks.forEach((block, b) => {
    const o = seen.perBlock[b] as { maxAbs: number; l1: number; l2: number };
    expect(o.maxAbs, block.name).toBeLessThanOrEqual(block.perPatientMaxAbs);
    expect(o.l1, block.name).toBeLessThanOrEqual(block.perPatientL1);
    expect(o.l2, block.name).toBeLessThanOrEqual(block.perPatientL2Squared);
    if (tight) {
      expect(o.maxAbs, block.name).toBe(block.perPatientMaxAbs);
      expect(o.l1, block.name).toBe(block.perPatientL1);
      expect(o.l2, block.name).toBe(block.perPatientL2Squared);
    }
  });
  expect(seen.maxAbs).toBe(layout.maxAbsPerPatient);
  expect(seen.l1).toBeLessThanOrEqual(layout.perPatientL1);
  expect(seen.l2).toBeLessThanOrEqual(layout.perPatientL2Squared);
  if (tight) {
    expect(seen.l1).toBe(layout.perPatientL1);
    expect(seen.l2).toBe(layout.perPatientL2Squared);
  }
}

const cells = [
  ['F', '30'],
  ['M', '60'],
  [null, 'x'],
  ['?', '90'],
];

describe('binary layout', () => {
  const spec: Partial<MetricSpec> = { groups, calibrationBins: 10 };
  const layout = createStatisticsLayout(spec);

  it('has the documented size, blocks and section order', () => {
    const perSection = 2 * 1000 + EXCLUSION_REASONS.length + 1 + 10;
    expect(layout.length).toBe((1 + 4 + 5) * perSection);
    expect(layout.blocks.map((b) => [b.name, b.kind, b.length])).toEqual([
      ['overall.counts', 'count', 2006],
      ['overall.sums', 'fixed_point', 11],
      ['by_group.sex.counts', 'count', 4 * 2006],
      ['by_group.sex.sums', 'fixed_point', 4 * 11],
      ['by_group.age.counts', 'count', 5 * 2006],
      ['by_group.age.sums', 'fixed_point', 5 * 11],
    ]);
    expect(layout.sections.map((s) => s.name)).toEqual([
      'overall', 'sex=F', 'sex=M', 'sex=(other)', 'sex=(missing)', 'age=<50', 'age=50-70', 'age=>=70', 'age=(other)', 'age=(missing)',
    ]);
    expect(layout.sections[1]?.fields.negative_histogram).toEqual({ offset: 2017, length: 1000 });
    expect(layout.sections[1]?.fields.brier_sum).toEqual({ offset: 2017 + 4 * 2006, length: 1 });
    checkStructure(layout);
  });

  it('declares sensitivities that single patients reach and never exceed', () => {
    const patients: ((a: StatisticsAccumulator) => void)[] = [];
    for (const g of cells) {
      for (const s of [0, 0.001, 0.25, 0.5, 0.7499, 0.999, 1]) for (const y of [0, 1]) patients.push((a) => a.addBinary(s, y, g));
      for (const reason of EXCLUSION_REASONS) patients.push((a) => a.exclude(reason, g));
      patients.push((a) => a.addBinary(Number.NaN, 1, g));
    }
    expectBounds(layout, observedSensitivity(layout, patients), true);
    expect(layout.maxAbsPerPatient).toBe(S);
    expect(layout.perPatientL1).toBe(3 * (1 + 2 * S));
  });
});

describe('multiclass layout', () => {
  const layout = createStatisticsLayout({ task: 'multiclass', classes: ['a', 'b', 'c'], bins: 100, groups: [groups[0] as MetricSpec['groups'][number]] });

  it('has K² confusion cells, 2K histograms and a Brier sum per section', () => {
    expect(layout.length).toBe((1 + 4) * (9 + 2 * 3 * 100 + 6 + 1));
    checkStructure(layout);
  });

  it('declares sensitivities that single patients reach and never exceed', () => {
    const patients: ((a: StatisticsAccumulator) => void)[] = [];
    const vectors = [[1, 0, 0], [0, 1, 0], [0, 0, 1], [0.2, 0.3, 0.5], [0.5, 0.5, 0], [1 / 3, 1 / 3, 1 / 3], [0, 0.01, 0.99]];
    for (const g of cells) {
      for (const scores of vectors) for (const y of [0, 1, 2]) patients.push((a) => a.addMulticlass(scores, y, [g[0] ?? null]));
      patients.push((a) => a.exclude('missing_features', [g[0] ?? null]));
    }
    expectBounds(layout, observedSensitivity(layout, patients), true);
  });
});

describe('regression layout', () => {
  const layout = createStatisticsLayout({ task: 'regression', regressionRange: [-10, 30], groups });

  it('has a count, a clamped counter, exclusions and 7 sums per section', () => {
    expect(layout.length).toBe(10 * (2 + 6 + 7));
    checkStructure(layout);
  });

  it('declares sensitivities no patient exceeds, reached up to the rounding slack', () => {
    const patients: ((a: StatisticsAccumulator) => void)[] = [];
    for (let i = 0; i <= 20; i += 1) {
      for (let j = 0; j <= 20; j += 1) patients.push((a) => a.addRegression(-10 + 2 * i, -10 + 2 * j, ['F', '60']));
    }
    patients.push((a) => a.addRegression(1e9, -1e9, ['M', '10']));
    const seen = observedSensitivity(layout, patients);
    expectBounds(layout, seen, false);
    expect(seen.perBlock[1]?.l1).toBe(5 * S);
    expect(seen.perBlock[1]?.l2).toBe(5 * S * S);
    expect(seen.perBlock[0]?.l1).toBe(2);
  });
});

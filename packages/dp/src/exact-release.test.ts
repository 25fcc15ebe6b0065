// The exact release (no DP) behind the release interface, and the one finalization of a released aggregate.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { addStatistics, createAccumulator, createStatisticsLayout, finalizeMetrics } from '@fedval/metrics';
import type { StatisticsLayout } from '@fedval/metrics';
import { describe, expect, it } from 'vitest';
import { DpError } from './errors.ts';
import { createExactRelease } from './exact-release.ts';
import { seededRandomSource } from './random-source.ts';
import { createPrivateRelease } from './release.ts';
import { resolvePrivacySpec } from './release-spec.ts';
import { createRelease, finalizeRelease } from './statistics-release.ts';

/** The metrics package's integration fixture (300 Rotterdam patients at three sites), one statistics vector per site. */
function fixtureSiteVectors(layout: StatisticsLayout): { vectors: Float64Array[]; patients: number[] } {
  const text = readFileSync(new URL('../../metrics/references/fixture_sites.csv', import.meta.url), 'utf8');
  const [header, ...lines] = text.trimEnd().split('\n');
  expect(header).toBe('pid,site,label,score,meno,age');
  const sites = new Map<string, { accumulator: ReturnType<typeof createAccumulator>; patients: number }>();
  for (const line of lines) {
    const [, site, label, score, meno, age] = line.split(',');
    const entry = sites.get(site!) ?? { accumulator: createAccumulator(layout), patients: 0 };
    sites.set(site!, entry);
    entry.accumulator.addBinary(Number(score), label === '' ? null : Number(label), [meno!, age!]);
    entry.patients += 1;
  }
  return { vectors: [...sites.values()].map((s) => s.accumulator.vector()), patients: [...sites.values()].map((s) => s.patients) };
}

const layout = createStatisticsLayout({ groups: [{ column: 'meno', levels: ['0', '1'] }, { column: 'age', cuts: [50, 70] }] });
const { vectors, patients } = fixtureSiteVectors(layout);
/** The pooled vector, summed entry by entry here rather than with the package's addStatistics. */
/** SHA-256 of the decoded vector and of the finalized metrics' JSON, computed on main before issue 18's changes. */
const PINNED_VECTOR_SHA256 = '7dafd9443b4068e934638de1dc375fe1f08a6026e4fb56fe971405ec8ac1fafe';
const PINNED_METRICS_SHA256 = '2a3a1a3fcfccf42528f5e27bf58c4932c61119d6a284bb617357ed8fcc2151e3';
const sum = (vs: Float64Array[]): Float64Array => vs.reduce((a, b) => addStatistics(a, b));
const pooled = Float64Array.from({ length: layout.length }, (_, i) => vectors.reduce((total, v) => total + v[i]!, 0));

describe('the exact release', () => {
  it('sends each site its statistics vector unchanged and releases the exact aggregate', () => {
    const release = createExactRelease(layout);
    expect(release.kind).toBe('exact');
    expect(release.length).toBe(layout.length);
    const sent = vectors.map((v) => release.protect(v, seededRandomSource('unused')));
    sent.forEach((s, i) => {
      expect(Array.from(s)).toEqual(Array.from(vectors[i]!));
      expect(s).not.toBe(vectors[i]); // a copy: the site's own vector is never handed out
    });
    const decoded = release.decode(sent.reduce((a, b) => addStatistics(a, b)), sent.length);
    expect(Array.from(decoded.vector)).toEqual(Array.from(pooled));
    expect(decoded.blockVariances).toEqual({});
    expect(release.summary()).toBeNull();
  });

  it('finalizes to the same metrics as the exact path did (finalizeMetrics on the pooled vector), with no dp block', () => {
    const released = finalizeRelease(createExactRelease(layout), pooled, vectors.length);
    expect(released.metrics).toEqual(finalizeMetrics(layout, pooled));
    expect(released.dp).toBeNull();
  });

  it('bounds every entry one site sends by its per-patient maximum times its patients', () => {
    const release = createExactRelease(layout);
    vectors.forEach((vector, s) => {
      const bounds = release.entryMaxAbsPerSite(patients[s]!);
      for (let i = 0; i < vector.length; i += 1) expect(Math.abs(vector[i]!)).toBeLessThanOrEqual(bounds[i]!);
    });
    // Counts: at most one per patient; the fixed-point sums: the layout's per-patient maximum.
    const counts = layout.blocks.find((b) => b.name === 'overall.counts')!;
    expect(release.entryMaxAbsPerSite(7)[counts.offset]).toBe(7);
    expect(release.maxAbsPerSite(7)).toBe(7 * Math.max(...layout.blocks.map((b) => b.perPatientMaxAbs)));
  });

  it('refuses a vector of another length or with a non-integer entry, with coded errors', () => {
    const release = createExactRelease(layout);
    const code = (run: () => unknown): string | undefined => {
      try {
        run();
      } catch (error) {
        return error instanceof DpError ? error.code : 'uncoded';
      }
      return undefined;
    };
    expect(code(() => release.encode(new Float64Array(3)))).toBe('FEDVAL_ERR_DP_INVALID_ARGUMENT');
    const fractional = Float64Array.from(vectors[0]!);
    fractional[0] = 0.5;
    expect(code(() => release.encode(fractional))).toBe('FEDVAL_ERR_DP_NOT_SAFE_INTEGER');
    expect(code(() => release.entryMaxAbsPerSite(-1))).toBe('FEDVAL_ERR_DP_INVALID_ARGUMENT');
  });
});

describe('createRelease and finalizeRelease', () => {
  const spec = { epsilon: 1, delta: 1e-6, minSites: 3, layout: { kind: 'tree' as const, bins: 20, branching: 4 } };

  it('choose the exact release without a privacy spec and the private one with it', () => {
    expect(createRelease(layout, null).kind).toBe('exact');
    expect(createRelease(layout, undefined).kind).toBe('exact');
    const release = createRelease(layout, spec);
    expect(release.kind).toBe('private');
    expect(release.length).toBe(createPrivateRelease(layout, resolvePrivacySpec(spec, { layout })).length);
  });

  it('finalize a private aggregate as the key holder did: decode, widen intervals by the noise, report the summary', () => {
    const release = createPrivateRelease(layout, resolvePrivacySpec(spec, { layout }));
    const rng = seededRandomSource('finalize-release');
    const aggregate = vectors.map((v) => release.protect(v, rng)).reduce((a, b) => addStatistics(a, b));
    const decoded = release.decode(aggregate, vectors.length);
    const released = finalizeRelease(release, aggregate, vectors.length);
    expect(released.metrics).toEqual(finalizeMetrics(layout, decoded.vector, { noise: { blockVariances: decoded.blockVariances, classTotalVariances: decoded.classTotalVariances } }));
    expect(released.dp).toEqual(release.summary());
  });
});

describe('issue 18 leaves the exact release bit for bit unchanged', () => {
  it('finalizes the fixture aggregate to the same vector and the same metrics as before the change (SHA-256 pinned before it)', () => {
    const release = createRelease(layout, null);
    const aggregate = sum(vectors.map((v) => release.protect(v, seededRandomSource('unused'))));
    const decoded = release.decode(aggregate, vectors.length);
    const { metrics } = finalizeRelease(release, aggregate, vectors.length);
    const sha = (bytes: Uint8Array | string) => createHash('sha256').update(bytes).digest('hex');
    expect(sha(new Uint8Array(decoded.vector.buffer, decoded.vector.byteOffset, decoded.vector.byteLength))).toBe(PINNED_VECTOR_SHA256);
    expect(sha(JSON.stringify(metrics))).toBe(PINNED_METRICS_SHA256);
  });
});

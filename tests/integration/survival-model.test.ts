// The example's survival bundle (examples/rotterdam/survival-model, built by build-survival-model.ts from the Cox fit of
// fit-survival-model.R) reproduces R's 5-year risks 1 − exp(−H₀(1826)·e^lp) on the GBSG sites, and its manifest is signed.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { loadModelBundle } from '@fedval/models';
import type { RawRow } from '@fedval/models';
import { REPO_ROOT } from '../helpers/run-cli.ts';

const EXAMPLE = join(REPO_ROOT, 'examples/rotterdam');

describe('the Rotterdam Cox survival bundle', () => {
  it('gives R survival::coxph risks at 5 years within 2e-6 on every GBSG patient (TF.js, float32)', async () => {
    const cox = JSON.parse(readFileSync(join(EXAMPLE, 'survival-model-cox.json'), 'utf8')) as { risk_site_b: number[]; risk_site_c: number[] };
    const runner = await loadModelBundle(join(EXAMPLE, 'survival-model'), { backend: 'cpu' });
    try {
      for (const [file, expected] of [['site-b-rfs.csv', cox.risk_site_b], ['site-c-rfs.csv', cox.risk_site_c]] as const) {
        const rows = parse(readFileSync(join(EXAMPLE, 'data', file)), { columns: true }) as RawRow[];
        const { scores, excluded } = await runner.predictRows(rows);
        expect(excluded.every((e) => e === null)).toBe(true);
        expect(scores.length).toBe(expected.length);
        let worst = 0;
        expected.forEach((risk, i) => (worst = Math.max(worst, Math.abs((scores[i] as number) - risk))));
        expect(worst, file).toBeLessThan(2e-6);
      }
    } finally {
      runner.dispose();
    }
  });
});

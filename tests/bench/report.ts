// report.ts — what making a validation report costs once a round is released: charts (Vega-Lite → SVG), HTML, PDF,
// model card and the signed evidence manifest, for a 3-site and a 100-site round (the fixture's released metrics with
// per-site privacy reports and dataset commitments for every site), and the size of each file; then verifying the bundle.
// The round itself (agents, encryption, decryption) is not included: see round-encryption and key-holder-verify.
// Run: node tests/bench/report.ts [repetitions]   (prints one JSON document)
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { verifyEvidenceBundle, writeReport } from '@fedval/cli';
import { releasedRoundFixture } from '../../packages/cli/src/testing/released-round.ts';

const repetitions = Number(process.argv[2] ?? 5);
const SITE_COUNTS = [3, 100];
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const round = (value: number) => Math.round(value * 10) / 10;

const results = [];
for (const sites of SITE_COUNTS) {
  const fixture = releasedRoundFixture(sites);
  const dir = mkdtempSync(join(tmpdir(), `fedval-bench-report-${sites}-`));
  const key = join(dir, 'maker.key');
  writeFileSync(key, fixture.keyHolder.privateKeyPem, { mode: 0o600 });
  const runs: { total: number; charts: number; html: number; pdf: number; verify: number }[] = [];
  let files: { name: string; bytes: number }[] = [];
  // One warm-up run (module loading, Vega's first parse), then the measured ones.
  for (let i = 0; i <= repetitions; i += 1) {
    const out = join(dir, `run-${i}`);
    const written = await writeReport(fixture.document, { out, signingKey: key });
    const started = performance.now();
    const verification = verifyEvidenceBundle(out, { keyHolderKeys: [fixture.keyHolder.fingerprint], signerKeys: [fixture.keyHolder.fingerprint] });
    const verify = performance.now() - started;
    if (!verification.ok) throw new Error(`the bundle of ${sites} sites does not verify`);
    files = written.files;
    if (i > 0) runs.push({ ...written.timings_ms, verify });
  }
  rmSync(dir, { recursive: true, force: true });
  results.push({
    sites,
    repetitions,
    median_ms: {
      total: round(median(runs.map((run) => run.total))),
      charts: round(median(runs.map((run) => run.charts))),
      html: round(median(runs.map((run) => run.html))),
      pdf: round(median(runs.map((run) => run.pdf))),
      evidence_verify: round(median(runs.map((run) => run.verify))),
    },
    bytes: Object.fromEntries(files.map((file) => [file.name, file.bytes])),
    total_bytes: files.reduce((sum, file) => sum + file.bytes, 0),
  });
}
process.stdout.write(`${JSON.stringify({ bench: 'report', node: process.version, results }, null, 2)}\n`);

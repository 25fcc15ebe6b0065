// round-encryption.ts — the whole round's time with encryption against the plaintext seam, on the same data.
// Run: node tests/bench/round-encryption.ts [repetitions]   (prints one JSON document)
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { runSimulation } from '@fedval/cli';

const root = fileURLToPath(new URL('../../examples/rotterdam/', import.meta.url));
const repetitions = Number(process.argv[2] ?? 3);
const sites = ['a', 'b', 'c'].map((name) => ({ name: `site-${name}`, file: join(root, `data/site-${name}.csv`) }));

async function once(contribution: 'bfv' | 'plaintext'): Promise<{ seconds: number; bytesPerSite: number | null }> {
  const started = performance.now();
  const result = await runSimulation({
    sites,
    label: { column: 'event5y', positive: '1' },
    scorer: { kind: 'model', dir: join(root, 'model') },
    groups: ['meno', 'age:50,70'],
    metricSpec: { task: 'binary', bins: 1000, threshold: 0.5 },
    contribution,
    noDp: true, // isolate the cost of encryption
  });
  const encryption = result.privacy.encryption as { ciphertext_bytes_per_site?: number } | null;
  return { seconds: (performance.now() - started) / 1000, bytesPerSite: encryption?.ciphertext_bytes_per_site ?? null };
}

const runs: Record<'bfv' | 'plaintext', number[]> = { bfv: [], plaintext: [] };
let bytesPerSite: number | null = null;
for (let i = 0; i < repetitions; i += 1) {
  // Alternate the two so drift on a noisy machine affects both alike.
  for (const kind of ['plaintext', 'bfv'] as const) {
    const run = await once(kind);
    runs[kind].push(run.seconds);
    if (kind === 'bfv') bytesPerSite = run.bytesPerSite;
  }
}
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
process.stdout.write(
  `${JSON.stringify(
    {
      bench: 'round-encryption',
      scenario: 'examples/rotterdam, 3 sites, model bundle, groups meno + age bands, 1000 bins; whole simulate round incl. process start-up',
      repetitions,
      seconds: { plaintext: runs.plaintext, bfv: runs.bfv },
      median_seconds: { plaintext: median(runs.plaintext), bfv: median(runs.bfv) },
      ratio_bfv_to_plaintext: median(runs.bfv) / median(runs.plaintext),
      ciphertext_bytes_per_site: bytesPerSite,
    },
    null,
    2,
  )}\n`,
);

// audit-log.ts (bench) — durable append rate and verification rate of an audit.jsonl on this machine.
// Run from the repository root: node packages/trust/bench/audit-log.ts [entries]
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditLog, sha256Hex, verifyAuditLog } from '../src/index.ts';

const entries = Number(process.argv[2] ?? 20_000);
const dir = mkdtempSync(join(tmpdir(), 'fedval-audit-bench-'));
const path = join(dir, 'audit.jsonl');
try {
  const log = AuditLog.open(path);
  const started = performance.now();
  for (let i = 0; i < entries; i++) {
    log.append({
      actor: 'site:site-a',
      action: 'contribution.sent',
      object: `round:r-${i}`,
      details: { sha256: sha256Hex(`contribution ${i}`), epsilon: 0.5, rho: 0.02436 },
    });
  }
  const appendMs = performance.now() - started;
  log.close();
  const verifyStarted = performance.now();
  const result = verifyAuditLog(path);
  const verifyMs = performance.now() - verifyStarted;
  if (!result.ok) throw new Error('benchmark log does not verify');
  const bytes = statSync(path).size;
  console.log(`${entries} entries, ${(bytes / 1024 / 1024).toFixed(1)} MiB`);
  console.log(`append (fsync each): ${(appendMs / entries).toFixed(3)} ms/entry, ${Math.round(entries / (appendMs / 1000))} entries/s`);
  console.log(`verify: ${Math.round(entries / (verifyMs / 1000))} entries/s (${verifyMs.toFixed(0)} ms)`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}

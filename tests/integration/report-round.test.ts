// A real round, end to end: `fedval simulate --report` runs a coordinator, a key holder and three agents, the key holder
// signs the release, and the report is made from what the coordinator serves; `fedval evidence verify` checks the
// bundle against the key holder's key and both parties' real audit trails.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPrivateKey, publicKeyFingerprint, publicKeyOf } from '@fedval/trust';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT, runCli, runJson } from '../helpers/run-cli.ts';
import { requirePrerequisite } from '../helpers/prerequisites.ts';

const dir = mkdtempSync(join(tmpdir(), 'fedval-report-round-'));

describe('fedval simulate --report', () => {
  it('writes a report of the released numbers whose evidence verifies against the key holder and the audit trails', async () => {
    const pdftotext = requirePrerequisite('pdftotext');
    const data = join(REPO_ROOT, 'examples/rotterdam/data');
    const work = join(dir, 'work');
    const out = join(dir, 'report');
    const simulated = await runJson<{ metrics: Record<string, unknown>; report: { files: { name: string }[] } }>('fedval', [
      'simulate',
      ...['a', 'b', 'c'].flatMap((site) => ['--site', `site-${site}=${join(data, `site-${site}.csv`)}`]),
      '--model', join(REPO_ROOT, 'examples/rotterdam/model'),
      '--label', 'event5y', '--positive', '1', '--group', 'meno',
      '--work-dir', work,
      '--report', out,
    ]);
    expect(simulated.report.files.map((file) => file.name)).toEqual(['report.html', 'report.pdf', 'model-card.json', 'report.json']);
    const manifest = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
    // The report holds exactly what the key holder released (the coordinator's served result, as simulate printed it).
    expect(manifest.document.released.metrics).toEqual(simulated.metrics);
    expect(manifest.document.release.statement.meaning).toBe('approved for release');
    expect(manifest.document.model.name).toBeTruthy();
    // The example bundle is signed by its sponsor key: the report names that key.
    expect(manifest.document.model.signer_fingerprint).toMatch(/^[0-9a-f]{64}$/);
    expect(manifest.document.release.statement.datasetCommitments).toHaveLength(3);
    const text = execFileSync(pdftotext, ['-layout', join(out, 'report.pdf'), '-'], { encoding: 'utf8' });
    expect(text).toMatch(new RegExp(`ROC AUC\\s+${(simulated.metrics.roc_auc as number).toFixed(3)}`));

    const keyHolder = publicKeyFingerprint(publicKeyOf(loadPrivateKey(join(work, 'key-holder-signing.key'))));
    const verify = await runCli('fedval', [
      'evidence', 'verify', out, '--key-holder', keyHolder, '--signer', keyHolder,
      '--trail', `key_holder=${join(work, 'key-holder', 'audit.jsonl')}`,
      '--trail', `coordinator=${join(work, 'coordinator-data', 'audit.jsonl')}`,
      '--json',
    ]);
    const verification = JSON.parse(verify.stdout);
    expect(verification.checks.filter((check: { ok: boolean }) => !check.ok)).toEqual([]);
    expect(verification.checks.map((check: { check: string }) => check.check)).toEqual([
      'report.json is canonical', 'report.json signature', "key holder's release signature", 'released numbers are the signed ones',
      'report.html SHA-256', 'report.pdf SHA-256', 'model-card.json SHA-256', 'no other files', 'key_holder audit-trail head', 'coordinator audit-trail head',
    ]);
    expect(verify.code).toBe(0);

    const wrongKey = await runCli('fedval', ['evidence', 'verify', out, '--key-holder', 'c'.repeat(64)]);
    expect(wrongKey.code).toBe(1);
    expect(wrongKey.stdout).toContain("FAIL key holder's release signature");
  }, 300_000);
});

// report-command.test.ts — `--format` parsing and what each format writes.
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { signEvidence } from '@fedval/trust';
import { EVIDENCE_FORMAT, evidenceManifestBytes, verifyEvidenceBundle } from './evidence-bundle.ts';
import { parseReportFormats, writeReport } from './report-command.ts';
import { releasedRoundFixture } from './testing/released-round.ts';

describe('fedval report --format', () => {
  it('accepts the known formats once each and refuses anything else with a coded error', () => {
    expect(parseReportFormats('html, pdf,html')).toEqual(['html', 'pdf']);
    expect(parseReportFormats('model-card')).toEqual(['model-card']);
    for (const bad of ['docx', 'html,svg', '', ' , ']) expect(() => parseReportFormats(bad)).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_CLI_REPORT_FORMAT' }));
  });

  it('writes only the chosen files, and report.json always, naming exactly them', async () => {
    const fixture = releasedRoundFixture(3);
    const dir = mkdtempSync(join(tmpdir(), 'fedval-report-format-'));
    const key = join(dir, 'maker.key');
    writeFileSync(key, fixture.keyHolder.privateKeyPem, { mode: 0o600 });
    const out = join(dir, 'out');
    const written = await writeReport(fixture.document, { out, signingKey: key, formats: ['model-card'] });
    expect(readdirSync(out).sort()).toEqual(['model-card.json', 'report.json']);
    expect(written.files.map((file) => file.name)).toEqual(['model-card.json', 'report.json']);
    expect(verifyEvidenceBundle(out, { keyHolderKeys: [fixture.keyHolder.fingerprint], signerKeys: [fixture.keyHolder.fingerprint] }).ok).toBe(true);
  });
});

describe('fedval evidence verify: the set of files', () => {
  const fixture = releasedRoundFixture(3);
  const pins = { keyHolderKeys: [fixture.keyHolder.fingerprint], signerKeys: [fixture.keyHolder.fingerprint] };

  it('flags a file in the bundle directory that report.json does not cover', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedval-evidence-extra-'));
    writeFileSync(join(dir, 'maker.key'), fixture.keyHolder.privateKeyPem, { mode: 0o600 });
    const out = join(dir, 'out');
    await writeReport(fixture.document, { out, signingKey: join(dir, 'maker.key'), formats: ['model-card'] });
    expect(verifyEvidenceBundle(out, pins).ok).toBe(true);
    writeFileSync(join(out, 'report.htm'), '<p>the real numbers</p>');
    const verification = verifyEvidenceBundle(out, pins);
    expect(verification.ok).toBe(false);
    expect(verification.checks.filter((check) => !check.ok)).toEqual([{ check: 'no other files', ok: false, detail: 'not covered by report.json: report.htm' }]);
  });

  it("refuses a signed manifest that names '.', '..', another file name, or one file twice", () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedval-evidence-names-'));
    const entry = (name: string) => ({ name, sha256: 'a'.repeat(64), bytes: 0 });
    for (const files of [[entry('..')], [entry('.')], [entry('notes.txt')], [entry('report.html'), entry('report.html')]]) {
      const unsigned = { format: EVIDENCE_FORMAT, document: JSON.parse(JSON.stringify(fixture.document)), files, made: { at: '2026-12-06T12:00:00.000Z', software: 'fedval test' } };
      const manifest = { ...unsigned, signature: signEvidence(fixture.keyHolder.privateKeyPem, unsigned) };
      writeFileSync(join(dir, 'report.json'), evidenceManifestBytes(manifest as never));
      expect(() => verifyEvidenceBundle(dir, pins), files.map((file) => file.name).join(',')).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_CLI_EVIDENCE_UNREADABLE' }));
    }
  });
});

// report-command.test.ts — `--format` parsing and what each format writes.
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { verifyEvidenceBundle } from './evidence-bundle.ts';
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

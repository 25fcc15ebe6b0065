// A coordinator that edits a released result before a reader makes the report: `fedval report` checks what it is served
// against the key holder's signed release statement and refuses any difference (metrics, per-site privacy, sites,
// study parameters), while a sponsor, who is never shown per-site numbers, still gets a verified report without them.
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fetchReleasedRound, makeReport, verifyEvidenceBundle, writeReport } from '@fedval/cli';
import type { ReportDocument } from '@fedval/cli';
import { releasedDocumentSha256 } from '@fedval/trust';
import { afterEach, describe, expect, it } from 'vitest';
import { roundView } from '../../coordinator/src/routes/rounds.ts';
import type { RoundRecord } from '../../coordinator/src/storage/store.ts';
import { releasedRoundFixture } from '../../packages/cli/src/testing/released-round.ts';

const fixture = releasedRoundFixture(3);
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

/** The stored round record the coordinator holds after the release (as the release route stores it). */
function roundRecord(doc: ReportDocument): RoundRecord {
  return {
    id: doc.round.round_id,
    studyId: doc.study.study_id,
    state: 'aggregated',
    reason: null,
    createdAt: Date.parse(doc.round.created_at),
    deadlineAt: Date.parse(doc.round.created_at) + 3_600_000,
    closedAt: Date.parse(doc.round.closed_at),
    contributions: doc.released.contributions,
    result: { metrics: doc.released.metrics, contributions: doc.released.contributions, sites: doc.released.sites, privacy: doc.released.privacy, signed_release: doc.release },
    sites: doc.released.sites.map((siteId) => ({ siteId, status: 'contributed', code: null, privacy: null }) as unknown as RoundRecord['sites'][number]),
  };
}

/** A coordinator on loopback serving the round as the caller's role sees it (the real roundView), after `edit`. */
async function servingCoordinator(role: 'sponsor' | 'privacy_officer', edit: (view: Record<string, any>, study: Record<string, any>) => void = () => {}): Promise<string> {
  const doc = structuredClone(fixture.document);
  const view = JSON.parse(JSON.stringify(roundView(roundRecord(doc), { name: 'reader', role })));
  const study = {
    ...doc.study, sites: doc.released.sites, quorum: 3, deadline_seconds: 3600, contribution: 'bfv', max_patients_per_site: 1_000_000, secure_aggregation: null, public_key_registered: true, created_at: doc.round.created_at,
  };
  edit(view, study);
  const server = createServer((request, response) => {
    const body = request.url === `/api/rounds/${doc.round.round_id}` ? view : request.url === `/api/studies/${doc.study.study_id}` ? study : request.url === `/api/models/${doc.model!.model_id}` ? doc.model : null;
    response.writeHead(body ? 200 : 404, { 'content-type': 'application/json' }).end(JSON.stringify(body ?? { code: 'FEDVAL_ERR_COORD_NOT_FOUND', message: 'not found' }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(() => new Promise((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const read = (coordinator: string, readerRole: 'sponsor' | 'privacy_officer' = 'privacy_officer') => fetchReleasedRound({ coordinator, round: fixture.document.round.round_id, token: 'reader-token', keyHolderKeys: [fixture.keyHolder.fingerprint], readerRole });
const codeOf = async (promise: Promise<unknown>) => promise.then(() => undefined, (error: { code?: string }) => error.code);

describe('a report binds what the key holder released', () => {
  it('is made from an untouched release, for the privacy officer with per-site numbers and for a sponsor without', async () => {
    const officer = await read(await servingCoordinator('privacy_officer'));
    expect(officer.released.privacy.dp?.sites).toHaveLength(3);
    const sponsorCoordinator = await servingCoordinator('sponsor');
    const sponsor = await read(sponsorCoordinator, 'sponsor');
    expect(sponsor.released.privacy.dp?.sites).toBeUndefined();
    const out = mkdtempSync(join(tmpdir(), 'fedval-sponsor-report-'));
    const keyFile = join(out, 'sponsor.key');
    await makeReport({ coordinator: sponsorCoordinator, round: fixture.document.round.round_id, token: 'sponsor-token', keyHolderKeys: [fixture.keyHolder.fingerprint], readerRole: 'sponsor', out, signingKey: keyFile, formats: ['html', 'json'] });
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    expect(html).not.toContain('epsilon spent');
    for (const site of fixture.document.released.privacy.dp!.sites!) expect(html).not.toContain(site.epsilon_remaining!.toFixed(3));
  });

  it("commits to the per-site reports with a salt a sponsor is never shown, so the signed digest cannot test guesses of them", async () => {
    const sponsorView = JSON.parse(JSON.stringify(roundView(roundRecord(fixture.document), { name: 'reader', role: 'sponsor' })));
    expect(sponsorView.result.privacy.dp.sites).toBeUndefined();
    expect(sponsorView.result.privacy.dp.sites_salt).toBeUndefined();
    const { statement } = sponsorView.result.signed_release;
    const sites = fixture.document.released.privacy.dp!.sites!;
    // A sponsor who guessed every site's report exactly still cannot confirm it: the signed digest is not their plain hash.
    expect(statement.sitePrivacySha256).not.toBe(releasedDocumentSha256(sites));
    // A reader shown the reports and the salt recomputes it (SHA-256 of RFC 8785 {"salt":...,"sites":[...]}, by node:crypto here).
    const salt = fixture.document.released.privacy.dp!.sites_salt!;
    expect(salt).toMatch(/^[0-9a-f]{64}$/);
    const canonical = `{"salt":"${salt}","sites":[${sites.map((site) => `{${Object.keys(site).sort().map((key) => `"${key}":${JSON.stringify((site as Record<string, unknown>)[key])}`).join(',')}}`).join(',')}]}`;
    expect(statement.sitePrivacySha256).toBe(createHash('sha256').update(canonical).digest('hex'));
    expect((await read(await servingCoordinator('privacy_officer'))).released.privacy.dp?.sites_salt).toBe(salt);
  });

  it('a release and a bundle forged end to end with fresh keys: refused unless the reader pins the keys, and named when they are', async () => {
    // A coordinator (or anyone) makes its own "key holder" key, signs a release of numbers of its choosing, and a bundle.
    const forged = releasedRoundFixture(3);
    const forgedCoordinator = await servingCoordinator('sponsor', (view) => { view.result.signed_release = forged.document.release; });
    // `fedval report` without --key-holder refuses before reading anything; with the real key holder pinned, the forgery is named.
    expect(await codeOf(fetchReleasedRound({ coordinator: forgedCoordinator, round: fixture.document.round.round_id, token: 't', readerRole: 'sponsor' }))).toBe('FEDVAL_ERR_CLI_REPORT_UNPINNED');
    expect(await codeOf(read(forgedCoordinator, 'sponsor'))).toBe('FEDVAL_ERR_CLI_REPORT_SIGNATURE');
    const out = mkdtempSync(join(tmpdir(), 'fedval-forged-bundle-'));
    writeFileSync(join(out, 'forger.key'), forged.keyHolder.privateKeyPem, { mode: 0o600 });
    await writeReport(forged.document, { out: join(out, 'bundle'), signingKey: join(out, 'forger.key'), formats: ['model-card'] });
    // Every signature in the forged bundle verifies; with nothing pinned, `evidence verify` still fails both key checks.
    const unpinned = verifyEvidenceBundle(join(out, 'bundle'));
    expect(unpinned.ok).toBe(false);
    expect(unpinned.checks.filter((check) => !check.ok).map((check) => check.check)).toEqual(['report.json signature', "key holder's release signature"]);
    expect(unpinned.checks.find((check) => check.check === "key holder's release signature")?.detail).toContain('no key holder key is pinned');
    const pinned = verifyEvidenceBundle(join(out, 'bundle'), { keyHolderKeys: [fixture.keyHolder.fingerprint], signerKeys: [fixture.keyHolder.fingerprint] });
    expect(pinned.checks.filter((check) => !check.ok).map((check) => check.check)).toEqual(['report.json signature', "key holder's release signature"]);
    // The insecure escape hatch makes a report that says so at the top.
    const insecure = await fetchReleasedRound({ coordinator: await servingCoordinator('sponsor'), round: fixture.document.round.round_id, token: 't', allowUnpinnedKeyHolder: true, readerRole: 'sponsor' });
    expect(insecure.key_holder_pinned).toBe(false);
    const insecureOut = join(out, 'insecure');
    await writeReport(insecure, { out: insecureOut, signingKey: join(out, 'forger.key'), formats: ['html'] });
    expect(readFileSync(join(insecureOut, 'report.html'), 'utf8')).toContain('NOT PINNED');
  });

  it("refuses per-site privacy reports withheld from a privacy officer or auditor, in `fedval report` and in `evidence verify`", async () => {
    // The coordinator serves the privacy officer the sponsor's view (no dp.sites, no salt): the statement commits to reports.
    const withheld = await servingCoordinator('sponsor');
    for (const role of ['privacy_officer', 'auditor'] as const) {
      const error = await read(withheld, role as 'privacy_officer').then(() => undefined, (caught: { code?: string; message?: string }) => caught);
      expect(error?.code).toBe('FEDVAL_ERR_CLI_REPORT_MISMATCH');
      expect(error?.message).toContain(`privacy reports the key holder released are withheld from a ${role}`);
    }
    // A bundle made for a privacy officer without them (its maker pinned and honest about everything else) fails too.
    const doc = structuredClone(fixture.document);
    const { sites: _sites, sites_salt: _salt, ...aggregateOnly } = doc.released.privacy.dp!;
    doc.released.privacy.dp = aggregateOnly;
    const out = mkdtempSync(join(tmpdir(), 'fedval-withheld-'));
    writeFileSync(join(out, 'maker.key'), fixture.keyHolder.privateKeyPem, { mode: 0o600 });
    await writeReport(doc, { out: join(out, 'bundle'), signingKey: join(out, 'maker.key'), formats: ['model-card'] });
    const pins = { keyHolderKeys: [fixture.keyHolder.fingerprint], signerKeys: [fixture.keyHolder.fingerprint] };
    const verification = verifyEvidenceBundle(join(out, 'bundle'), pins);
    expect(verification.checks.filter((check) => !check.ok).map((check) => check.detail)).toEqual(["the sites' privacy reports the key holder released are withheld from a privacy_officer"]);
    // The same bundle made for a sponsor verifies.
    await writeReport({ ...doc, reader_role: 'sponsor' }, { out: join(out, 'sponsor'), signingKey: join(out, 'maker.key'), formats: ['model-card'] });
    expect(verifyEvidenceBundle(join(out, 'sponsor'), pins).ok).toBe(true);
  });

  it('refuses an edited metric, an edited per-site ε, a dropped site, an edited study parameter, and a forged signer', async () => {
    const round = fixture.document.round.round_id;
    expect(await codeOf(read(await servingCoordinator('privacy_officer', (view) => { view.result.metrics.roc_auc += 0.05; })))).toBe('FEDVAL_ERR_CLI_REPORT_MISMATCH');
    expect(await codeOf(read(await servingCoordinator('privacy_officer', (view) => { view.result.privacy.dp.sites[0].epsilon_spent = 0.1; })))).toBe('FEDVAL_ERR_CLI_REPORT_MISMATCH');
    expect(await codeOf(read(await servingCoordinator('sponsor', (view) => { view.result.sites = view.result.sites.slice(1); view.result.contributions = 2; }), 'sponsor'))).toBe('FEDVAL_ERR_CLI_REPORT_MISMATCH');
    expect(await codeOf(read(await servingCoordinator('sponsor', (_view, study) => { study.metric_spec.threshold = 0.3; }), 'sponsor'))).toBe('FEDVAL_ERR_CLI_REPORT_MISMATCH');
    expect(await codeOf(read(await servingCoordinator('sponsor', (view) => { view.result.signed_release.statement.signerName = 'Someone Else'; }), 'sponsor'))).toBe('FEDVAL_ERR_CLI_REPORT_SIGNATURE');
    // A member the key holder never released, beside the signed ones, is refused (not dropped before the digests are compared).
    expect(await codeOf(read(await servingCoordinator('privacy_officer', (view) => { view.result.privacy.note = 'site-001 is the small one'; })))).toBe('FEDVAL_ERR_CLI_RESPONSE');
    const unsigned = await servingCoordinator('sponsor', (view) => { delete view.result.signed_release; });
    expect(await codeOf(fetchReleasedRound({ coordinator: unsigned, round, token: 't', keyHolderKeys: [fixture.keyHolder.fingerprint], readerRole: 'sponsor' }))).toBe('FEDVAL_ERR_CLI_REPORT_UNSIGNED');
  });
});

// released-round.ts — test support: a released round as `fedval report` reads it, with a real key holder signature over the fixture's released metrics.
import { createRelease } from '@fedval/dp';
import { createStatisticsLayout, metricSpecToInput, metricsReportSchema } from '@fedval/metrics';
import { releasedPrivacySchema } from '@fedval/protocol';
import { generateSiteIdentity, newSitePrivacySalt, publicKeyFingerprint, RELEASE_MEANING, releasedDocumentSha256, signReleaseStatement } from '@fedval/trust';
import { releasedPrivacyDigests } from '../released-privacy.ts';
import type { ReportDocument } from '../report-document.ts';
import { reportDocumentSchema } from '../report-document.ts';
import { fixtureReport, HOSTILE_LEVEL } from './fixture-report.ts';

const A = 'a'.repeat(64);

export interface ReleasedRoundFixture {
  document: ReportDocument;
  /** The key holder's signing key (PKCS#8 PEM) and its fingerprint. */
  keyHolder: { privateKeyPem: string; fingerprint: string };
}

/**
 * A released round of `sites` sites over the fixture data set (packages/metrics/references/fixture_sites.csv): the
 * released metrics are its finalizeMetrics report, the privacy block a real DP release summary (ε 1, δ 1e-6) with each
 * site's own report, and the release statement is signed by a fresh key holder key.
 */
export function releasedRoundFixture(sites = 3, heads: { keyHolder?: { seq: number; hash: string }; coordinator?: { seq: number; hash: string } } = {}): ReleasedRoundFixture {
  const layout = createStatisticsLayout({ groups: [{ column: 'meno', levels: ['0', '1', HOSTILE_LEVEL] }] });
  const release = createRelease(layout, { epsilon: 1, delta: 1e-6, minSites: 3, layout: { kind: 'flat', bins: 40 } });
  if (release.kind !== 'private') throw new Error('expected a private release');
  const metrics = metricsReportSchema.parse(fixtureReport());
  const siteIds = Array.from({ length: sites }, (_, i) => `site-${String(i + 1).padStart(3, '0')}`);
  const privacy = releasedPrivacySchema.parse({
    dp: { ...release.summary(), sites_salt: newSitePrivacySalt(), sites: siteIds.map((site_id, i) => ({ site_id, epsilon: 1, own_share_epsilon: 1.813, epsilon_spent: 1 + i * 0.25, epsilon_remaining: 9 - i * 0.25, epsilon_total: 10 })) },
    encryption: {
      scheme: 'bfv', library: 'Microsoft SEAL 4.1 via node-seal 7.0.0', poly_modulus_degree: 4096, coeff_modulus_bits: [36, 36, 37], ciphertext_modulus_bits: 72, plain_modulus_bits: 20,
      security_bits: 128, slots: 4096, counters_per_slot: 1, ciphertexts_per_site: 3, ciphertext_bytes_per_site: 393474, bytes_per_entry_per_site: 32.1, max_sites: 128, noise_bound: 'worst-case', decryption_failure_log2: null,
    },
  });
  const metricSpec = metricSpecToInput(layout.spec);
  const study = { study_id: '6f1a6a32-8d0c-4b39-9d43-2f5b7c1d0e11', name: 'Rotterdam 5-year RFS external validation', model_id: A, score_column: null, metric_spec: metricSpec, privacy: release.privacy, release: { min_sites: 3 } };
  const round = { round_id: '0b4f7e58-1c1e-4d55-a0a8-8d4e0c9e2a77', created_at: '2026-12-06T10:00:00.000Z', closed_at: '2026-12-06T10:04:12.000Z' };
  const identity = generateSiteIdentity();
  const signed = signReleaseStatement(identity.privateKeyPem, {
    studyId: study.study_id,
    roundId: round.round_id,
    studyName: study.name,
    modelId: A,
    metricSpecSha256: releasedDocumentSha256(metricSpec),
    privacySpecSha256: releasedDocumentSha256(release.privacy),
    minSites: 3,
    metricsSha256: releasedDocumentSha256(metrics),
    ...releasedPrivacyDigests(privacy),
    sites: [...siteIds].sort(),
    datasetCommitments: siteIds.map((siteId, i) => ({ siteId, commitment: releasedDocumentSha256({ site: siteId, i }) })),
    roundCreatedAt: round.created_at,
    roundClosedAt: round.closed_at,
    rosterSha256: A,
    keyHolderAuditHead: heads.keyHolder ?? { seq: 9, hash: A },
    coordinatorAuditHead: heads.coordinator ?? { seq: 41, hash: A },
    software: 'fedval 0.1.0',
    signerName: 'Dr. Ada Privacy',
    signedAt: '2026-12-06T10:05:00.000Z',
    meaning: RELEASE_MEANING,
  });
  const document = reportDocumentSchema.parse({
    study,
    model: { model_id: A, name: 'rotterdam-rfs5y-logistic', version: '1.0.0', format: 'onnx', files: [{ path: 'model.onnx', sha256: A, bytes: 1234 }], created_at: '2026-12-01T09:00:00.000Z' },
    round,
    released: { metrics, privacy, contributions: sites, sites: siteIds },
    release: signed,
    key_holder_fingerprint: publicKeyFingerprint(identity.publicKey),
    key_holder_pinned: true,
    reader_role: 'privacy_officer',
  });
  return { document, keyHolder: { privateKeyPem: identity.privateKeyPem, fingerprint: identity.fingerprint } };
}

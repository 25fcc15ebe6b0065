// release-statement.test.ts — the key holder's signed release: signature, pinning, and every field covered.
import { describe, expect, it } from 'vitest';
import { createPublicKey, verify as nodeVerify } from 'node:crypto';
import { generateSiteIdentity, publicKeyFingerprint } from './identity.ts';
import { RELEASE_MEANING, releasedDocumentSha256, releaseStatementPayload, signReleaseStatement, verifyReleaseStatement } from './release-statement.ts';
import type { ReleaseStatement } from './release-statement.ts';
import { signEvidence, verifyEvidence } from './evidence-signature.ts';
import { codeOf } from '../test-support/trust-error-code.ts';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);
const statement: ReleaseStatement = {
  studyId: 'study-1', roundId: 'round-1', studyName: 'Rotterdam 5-year RFS', modelId: A, metricSpecSha256: B, privacySpecSha256: null, minSites: 3,
  metricsSha256: A, privacySha256: B, sitePrivacySha256: null, sites: ['s1', 's2', 's3'],
  datasetCommitments: [{ siteId: 's1', commitment: A }, { siteId: 's2', commitment: null }, { siteId: 's3', commitment: B }],
  roundCreatedAt: '2026-12-06T10:00:00.000Z', roundClosedAt: '2026-12-06T10:05:00.000Z', rosterSha256: A,
  keyHolderAuditHead: { seq: 7, hash: A }, coordinatorAuditHead: { seq: 12, hash: B }, software: 'fedval 0.1.0',
  signerName: 'Dr. Ada Privacy', signedAt: '2026-12-06T10:06:00.000Z', meaning: RELEASE_MEANING,
};

describe('release statement', () => {
  const identity = generateSiteIdentity();
  const signed = signReleaseStatement(identity.privateKeyPem, statement);

  it('verifies with node:crypto directly over the domain-separated canonical JSON', () => {
    const key = createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(signed.keyHolderPublicKey, 'base64')]), format: 'der', type: 'spki' });
    const payload = Buffer.from(releaseStatementPayload(statement)).toString('utf8');
    expect(payload).toContain('"domain":"fedval/v1/release"');
    expect(nodeVerify(null, Buffer.from(payload, 'utf8'), key, Buffer.from(signed.signature, 'base64'))).toBe(true);
  });

  it('returns the signer fingerprint and honours a pinned key', () => {
    const fingerprint = publicKeyFingerprint(identity.publicKey);
    expect(verifyReleaseStatement(signed, [fingerprint]).keyHolderFingerprint).toBe(fingerprint);
    expect(codeOf(() => verifyReleaseStatement(signed, [A]))).toBe('FEDVAL_ERR_TRUST_KEY_HOLDER_NOT_PINNED');
  });

  it('fails when any field changes, and on a malformed document', () => {
    for (const [field, value] of [['metricsSha256', B], ['signerName', 'Someone Else'], ['signedAt', '2026-12-07T10:06:00.000Z'], ['sites', ['s1', 's2']], ['keyHolderAuditHead', { seq: 8, hash: A }]] as const) {
      expect(codeOf(() => verifyReleaseStatement({ ...signed, statement: { ...statement, [field]: value } })), field).toBe('FEDVAL_ERR_TRUST_SIGNATURE_INVALID');
    }
    expect(codeOf(() => verifyReleaseStatement({ ...signed, statement: { ...statement, meaning: 'reviewed' } }))).toBe('FEDVAL_ERR_TRUST_INVALID_PAYLOAD');
  });

  it('hashes documents as canonical JSON, whatever their key order', () => {
    expect(releasedDocumentSha256({ b: 1, a: [0.5, null] })).toBe(releasedDocumentSha256({ a: [0.5, null], b: 1 }));
    // SHA-256 of the RFC 8785 text {"a":[0.5,null],"b":1}, computed by `printf '%s' '{"a":[0.5,null],"b":1}' | sha256sum`.
    expect(releasedDocumentSha256({ b: 1, a: [0.5, null] })).toBe('a0e9efb45133394cdb2715f19808ddbb2a34dceb99f39f09a23578958b03e29a');
  });

  it('signs an evidence manifest so any change fails', () => {
    const manifest = { files: { 'report.html': A }, n: 1 };
    const evidence = signEvidence(identity.privateKeyPem, manifest);
    expect(verifyEvidence(manifest, evidence)).toBe(publicKeyFingerprint(identity.publicKey));
    expect(verifyEvidence({ ...manifest, n: 2 }, evidence)).toBeNull();
  });
});

import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { generateSiteIdentity, privateKeyFromSeed, publicKeyOf, verify } from './identity.ts';
import type { StudyKeyStatement } from './study-key-statement.ts';
import { pinnedKeyFingerprint, signStudyKeyStatement, studyKeyStatementPayload, studyKeyStatementSha256, verifyStudyKeyStatement } from './study-key-statement.ts';
import { codeOf } from '../test-support/trust-error-code.ts';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);
const C = 'c'.repeat(64);
const statement: StudyKeyStatement = {
  studyId: 'study-1',
  planSha256: A,
  publicKeySha256: B,
  minSites: 3,
  roster: [
    { siteId: 'site-a', fingerprint: C },
    { siteId: 'site-b', fingerprint: A },
  ],
  rosterSha256: B,
  issuedAt: 1_738_000_000_000,
  version: 2,
};
const keyHolder = privateKeyFromSeed(new Uint8Array(32).fill(7));
const keyHolderPublic = publicKeyOf(keyHolder);
const expected = { studyId: 'study-1', planSha256: A, publicKeySha256: B };

describe('study key statement', () => {
  it('signs the canonical JSON of the statement under its own domain (bytes written out by hand, RFC 8785 member order)', () => {
    const text =
      '{"domain":"fedval/v1/study-key","issuedAt":1738000000000,"minSites":3,' +
      `"planSha256":"${A}","publicKeySha256":"${B}",` +
      `"roster":[{"fingerprint":"${C}","siteId":"site-a"},{"fingerprint":"${A}","siteId":"site-b"}],` +
      `"rosterSha256":"${B}","studyId":"study-1","version":2}`;
    expect(Buffer.from(studyKeyStatementPayload(statement)).toString('utf8')).toBe(text);
    const signed = signStudyKeyStatement(keyHolder, statement);
    expect(signed.keyHolderPublicKey).toBe(keyHolderPublic);
    // Checked with node:crypto's verifier over the hand-written bytes, not with the code under test.
    expect(verify(keyHolderPublic, new Uint8Array(Buffer.from(text, 'utf8')), new Uint8Array(Buffer.from(signed.signature, 'base64')))).toBe(true);
  });

  it('names a signed statement by the SHA-256 of its canonical JSON (bytes written out by hand), and nothing else', () => {
    const signed = signStudyKeyStatement(keyHolder, statement);
    const text =
      `{"keyHolderPublicKey":"${keyHolderPublic}","signature":"${signed.signature}",` +
      '"statement":{"issuedAt":1738000000000,"minSites":3,' +
      `"planSha256":"${A}","publicKeySha256":"${B}",` +
      `"roster":[{"fingerprint":"${C}","siteId":"site-a"},{"fingerprint":"${A}","siteId":"site-b"}],` +
      `"rosterSha256":"${B}","studyId":"study-1","version":2}}`;
    // node:crypto over the hand-written bytes, not the code under test.
    expect(studyKeyStatementSha256(signed)).toBe(createHash('sha256').update(text, 'utf8').digest('hex'));
    expect(studyKeyStatementSha256(signStudyKeyStatement(keyHolder, { ...statement, version: 3 }))).not.toBe(studyKeyStatementSha256(signed));
    expect(codeOf(() => studyKeyStatementSha256({ ...signed, extra: 1 }))).toBe('FEDVAL_ERR_TRUST_INVALID_PAYLOAD');
    expect(codeOf(() => studyKeyStatementSha256(statement))).toBe('FEDVAL_ERR_TRUST_INVALID_PAYLOAD');
  });

  it('verifies under a key pinned by fingerprint or by raw key, and returns the roster', () => {
    const signed = signStudyKeyStatement(keyHolder, statement);
    const byFingerprint = verifyStudyKeyStatement(signed, [pinnedKeyFingerprint(keyHolderPublic)], expected);
    expect(byFingerprint.roster.map((site) => site.siteId)).toEqual(['site-a', 'site-b']);
    expect(byFingerprint.minSites).toBe(3);
    expect(verifyStudyKeyStatement(signed, [generateSiteIdentity().fingerprint, keyHolderPublic], expected).keyHolderFingerprint).toBe(pinnedKeyFingerprint(keyHolderPublic));
  });

  it('refuses: nothing pinned, an unpinned signer, a bad signature, another study, plan or key, a malformed statement', () => {
    const signed = signStudyKeyStatement(keyHolder, statement);
    const attacker = generateSiteIdentity();
    expect(codeOf(() => verifyStudyKeyStatement(signed, [], expected))).toBe('FEDVAL_ERR_TRUST_KEY_HOLDER_NOT_PINNED');
    // The coordinator re-signs a statement for its own public key with its own Ed25519 key.
    const forged = signStudyKeyStatement(attacker.privateKeyPem, { ...statement, publicKeySha256: C });
    expect(codeOf(() => verifyStudyKeyStatement(forged, [keyHolderPublic], { ...expected, publicKeySha256: C }))).toBe('FEDVAL_ERR_TRUST_KEY_HOLDER_NOT_PINNED');
    // It keeps the key holder's public key and signature but changes the key hash.
    const altered = { ...signed, statement: { ...statement, publicKeySha256: C } };
    expect(codeOf(() => verifyStudyKeyStatement(altered, [keyHolderPublic], { ...expected, publicKeySha256: C }))).toBe('FEDVAL_ERR_TRUST_SIGNATURE_INVALID');
    expect(codeOf(() => verifyStudyKeyStatement(signed, [keyHolderPublic], { ...expected, publicKeySha256: C }))).toBe('FEDVAL_ERR_TRUST_STATEMENT_MISMATCH');
    expect(codeOf(() => verifyStudyKeyStatement(signed, [keyHolderPublic], { ...expected, planSha256: C }))).toBe('FEDVAL_ERR_TRUST_STATEMENT_MISMATCH');
    expect(codeOf(() => verifyStudyKeyStatement(signed, [keyHolderPublic], { ...expected, studyId: 'study-2' }))).toBe('FEDVAL_ERR_TRUST_STATEMENT_MISMATCH');
    expect(codeOf(() => verifyStudyKeyStatement(undefined, [keyHolderPublic], expected))).toBe('FEDVAL_ERR_TRUST_INVALID_PAYLOAD');
    expect(codeOf(() => verifyStudyKeyStatement({ ...signed, extra: 1 }, [keyHolderPublic], expected))).toBe('FEDVAL_ERR_TRUST_INVALID_PAYLOAD');
    const unsorted = { ...statement, roster: [...statement.roster].reverse() };
    expect(codeOf(() => signStudyKeyStatement(keyHolder, unsorted))).toBe('FEDVAL_ERR_TRUST_INVALID_PAYLOAD');
    expect(codeOf(() => signStudyKeyStatement(keyHolder, { ...statement, version: 0 }))).toBe('FEDVAL_ERR_TRUST_INVALID_PAYLOAD');
    expect(codeOf(() => verifyStudyKeyStatement(signed, ['not a key'], expected))).toBe('FEDVAL_ERR_TRUST_INVALID_PUBLIC_KEY');
  });
});

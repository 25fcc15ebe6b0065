import { createPublicKey, verify as cryptoVerify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { TrustError } from './errors.ts';
import { generateSiteIdentity, privateKeyFromSeed, publicKeyOf, sign, verify } from './identity.ts';
import { ReplayGuard } from './replay-guard.ts';
import type { AuthChallenge, SignedResultFields } from './signed-payloads.ts';
import { listProblems } from '@fedval/schema';
import {
  attestationSha256, authChallengeSchema, enrollmentFieldsSchema, resultAttestationSchema, signedResultFieldsSchema,
  challengeSignaturePayload, createChallenge, createNonce, enrollmentSignaturePayload, resultSignaturePayload, signChallenge, signEnrollment,
  signResult, verifyChallengeResponse, verifyEnrollment, verifySignedResult,
} from './signed-payloads.ts';
import { codeOf } from '../test-support/trust-error-code.ts';

const counting = (size: number): Uint8Array => Uint8Array.from({ length: size }, (_, i) => i);
const NONCE_0_31 = 'AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8='; // base64 of bytes 0..31 (Python: base64.b64encode(bytes(range(32))))
const AUDIENCE = 'wss://coordinator.example:8443';
const site = generateSiteIdentity();
const other = generateSiteIdentity();

describe('challenge–response authentication', () => {
  const T0 = 1_738_000_000_000;

  it('creates a challenge from injected randomness and clock', () => {
    expect(createChallenge({ audience: AUDIENCE, now: () => T0, randomBytes: counting })).toEqual({
      nonce: NONCE_0_31,
      issuedAt: T0,
      audience: AUDIENCE,
    });
    expect(createChallenge({ audience: AUDIENCE }).nonce).not.toBe(createChallenge({ audience: AUDIENCE }).nonce);
  });

  it('signs the exact canonical payload with the fedval/v1/auth domain', () => {
    const challenge: AuthChallenge = { nonce: NONCE_0_31, issuedAt: T0, audience: AUDIENCE };
    expect(new TextDecoder().decode(challengeSignaturePayload(challenge, 'site-a', 'connect'))).toBe(
      `{"audience":"${AUDIENCE}","domain":"fedval/v1/auth","issuedAt":${T0},"nonce":"${NONCE_0_31}","purpose":"connect","siteId":"site-a"}`,
    );
  });

  it('accepts a fresh answer from the enrolled key and refuses stale, mis-signed or re-targeted ones', () => {
    const challenge = createChallenge({ audience: AUDIENCE, now: () => T0 });
    const signature = signChallenge(site.privateKeyPem, challenge, { siteId: 'site-a', purpose: 'connect', expectedAudience: AUDIENCE });
    const answer = { challenge, siteId: 'site-a', purpose: 'connect', publicKey: site.publicKey, signature };
    expect(() => verifyChallengeResponse(answer, { now: () => T0 + 59_000 })).not.toThrow();
    expect(codeOf(() => verifyChallengeResponse(answer, { now: () => T0 + 60_001 }))).toBe('FEDVAL_ERR_TRUST_CHALLENGE_EXPIRED');
    expect(codeOf(() => verifyChallengeResponse(answer, { now: () => T0 - 1 }))).toBe('FEDVAL_ERR_TRUST_CHALLENGE_EXPIRED');
    const at = { now: () => T0 + 1_000 };
    expect(codeOf(() => verifyChallengeResponse({ ...answer, publicKey: other.publicKey }, at))).toBe('FEDVAL_ERR_TRUST_SIGNATURE_INVALID');
    expect(codeOf(() => verifyChallengeResponse({ ...answer, siteId: 'site-b' }, at))).toBe('FEDVAL_ERR_TRUST_SIGNATURE_INVALID');
    expect(codeOf(() => verifyChallengeResponse({ ...answer, purpose: 'enroll' }, at))).toBe('FEDVAL_ERR_TRUST_SIGNATURE_INVALID');
    expect(codeOf(() => verifyChallengeResponse({ ...answer, challenge: { ...challenge, audience: 'wss://other' } }, at))).toBe(
      'FEDVAL_ERR_TRUST_SIGNATURE_INVALID',
    );
    expect(codeOf(() => verifyChallengeResponse({ ...answer, signature: new Uint8Array(64) }, at))).toBe('FEDVAL_ERR_TRUST_SIGNATURE_INVALID');
  });

  it('an agent refuses to sign a challenge issued for another coordinator', () => {
    const challenge = createChallenge({ audience: 'wss://evil.example' });
    expect(
      codeOf(() => signChallenge(site.privateKeyPem, challenge, { siteId: 'site-a', purpose: 'connect', expectedAudience: AUDIENCE })),
    ).toBe('FEDVAL_ERR_TRUST_INVALID_PAYLOAD');
  });

  it('refuses malformed challenges and answers, listing every problem', () => {
    let caught: unknown;
    try {
      challengeSignaturePayload({ nonce: 'short', issuedAt: -1, audience: '' }, 'site a', 'Connect');
    } catch (error) {
      caught = error;
    }
    expect((caught as TrustError).code).toBe('FEDVAL_ERR_TRUST_INVALID_PAYLOAD');
    for (const field of ['nonce', 'issuedAt', 'audience', 'siteId', 'purpose']) expect((caught as TrustError).message).toContain(`${field} must be`);
  });
});

describe('signed results', () => {
  const NOW = 1_738_000_000_000;
  const fields: SignedResultFields = {
    studyId: 'study-1',
    roundId: 'r-123',
    siteId: 'site-a',
    contributionSha256: 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    nonce: createNonce(counting),
    sentAt: NOW,
  };

  it('signs the exact canonical payload with the fedval/v1/result domain', () => {
    expect(new TextDecoder().decode(resultSignaturePayload(fields))).toBe(
      `{"contributionSha256":"${fields.contributionSha256}","domain":"fedval/v1/result","nonce":"${NONCE_0_31}","roundId":"r-123","sentAt":${NOW},"siteId":"site-a","studyId":"study-1"}`,
    );
  });

  it('adds attestationSha256 to the payload when given, and a changed attestation no longer verifies', () => {
    const attested = { ...fields, attestationSha256: 'c'.repeat(64) };
    expect(new TextDecoder().decode(resultSignaturePayload(attested))).toBe(
      `{"attestationSha256":"${'c'.repeat(64)}","contributionSha256":"${fields.contributionSha256}","domain":"fedval/v1/result","nonce":"${NONCE_0_31}","roundId":"r-123","sentAt":${NOW},"siteId":"site-a","studyId":"study-1"}`,
    );
    const signature = signResult(site.privateKeyPem, attested);
    const guard = new ReplayGuard({ now: () => NOW + 500 });
    expect(codeOf(() => verifySignedResult({ ...attested, attestationSha256: 'd'.repeat(64) }, site.publicKey, signature, guard))).toBe('FEDVAL_ERR_TRUST_SIGNATURE_INVALID');
    expect(codeOf(() => verifySignedResult(fields, site.publicKey, signature, guard))).toBe('FEDVAL_ERR_TRUST_SIGNATURE_INVALID');
    verifySignedResult(attested, site.publicKey, signature, guard);
  });

  it('verifies once, then refuses the replay; refuses any changed field or another key', () => {
    const guard = new ReplayGuard({ now: () => NOW + 500 });
    const signature = signResult(site.privateKeyPem, fields);
    verifySignedResult(fields, site.publicKey, signature, guard);
    expect(codeOf(() => verifySignedResult(fields, site.publicKey, signature, guard))).toBe('FEDVAL_ERR_TRUST_REPLAYED');
    const changed: Partial<SignedResultFields>[] = [
      { studyId: 'study-2' }, { roundId: 'r-124' }, { siteId: 'site-b' }, { contributionSha256: 'a'.repeat(64) }, { nonce: createNonce() }, { sentAt: NOW + 1 },
    ];
    for (const change of changed) {
      expect(codeOf(() => verifySignedResult({ ...fields, ...change }, site.publicKey, signature, guard)), Object.keys(change)[0]).toBe(
        'FEDVAL_ERR_TRUST_SIGNATURE_INVALID',
      );
    }
    const fresh = { ...fields, nonce: createNonce() };
    expect(codeOf(() => verifySignedResult(fresh, other.publicKey, signResult(site.privateKeyPem, fresh), guard))).toBe(
      'FEDVAL_ERR_TRUST_SIGNATURE_INVALID',
    );
  });

  it('refuses a validly signed result sent outside the replay window', () => {
    const guard = new ReplayGuard({ now: () => NOW + 10 * 60 * 1000 });
    expect(codeOf(() => verifySignedResult(fields, site.publicKey, signResult(site.privateKeyPem, fields), guard))).toBe(
      'FEDVAL_ERR_TRUST_TIMESTAMP_OUTSIDE_WINDOW',
    );
  });

  it('a result signature is never a valid challenge answer, and the reverse (domain separation)', () => {
    const key = privateKeyFromSeed(counting(32));
    const challenge: AuthChallenge = { nonce: fields.nonce, issuedAt: NOW, audience: AUDIENCE };
    const resultSignature = sign(key, resultSignaturePayload(fields));
    const authSignature = sign(key, challengeSignaturePayload(challenge, 'site-a', 'connect'));
    expect(verify(publicKeyOf(key), challengeSignaturePayload(challenge, 'site-a', 'connect'), resultSignature)).toBe(false);
    expect(verify(publicKeyOf(key), resultSignaturePayload(fields), authSignature)).toBe(false);
  });

  it('refuses malformed fields', () => {
    expect(codeOf(() => resultSignaturePayload({ ...fields, contributionSha256: 'ABC' }))).toBe('FEDVAL_ERR_TRUST_INVALID_PAYLOAD');
    expect(codeOf(() => resultSignaturePayload({ ...fields, nonce: 'c2hvcnQ=' }))).toBe('FEDVAL_ERR_TRUST_INVALID_PAYLOAD');
    expect(codeOf(() => resultSignaturePayload({ ...fields, sentAt: '2025-01-01' as never }))).toBe('FEDVAL_ERR_TRUST_INVALID_PAYLOAD');
    expect(codeOf(() => resultSignaturePayload({ ...fields, roundId: 'r 1' }))).toBe('FEDVAL_ERR_TRUST_INVALID_PAYLOAD');
    expect(codeOf(() => resultSignaturePayload({ ...fields, studyId: undefined as never }))).toBe('FEDVAL_ERR_TRUST_INVALID_PAYLOAD');
  });
});

describe('enrollment proof of possession', () => {
  const site = generateSiteIdentity();
  const fields = { siteId: 'site-a', publicKey: site.publicKey, enrollmentTokenSha256: 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad' };

  it('signs the exact canonical payload with the fedval/v1/enroll domain, verifiable by node:crypto from the raw key alone', () => {
    const payload = enrollmentSignaturePayload(fields);
    expect(new TextDecoder().decode(payload)).toBe(
      `{"domain":"fedval/v1/enroll","enrollmentTokenSha256":"${fields.enrollmentTokenSha256}","publicKey":"${site.publicKey}","siteId":"site-a"}`,
    );
    const signature = signEnrollment(site.privateKeyPem, fields);
    const jwk = { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(site.publicKey, 'base64').toString('base64url') };
    expect(cryptoVerify(null, payload, createPublicKey({ key: jwk, format: 'jwk' }), signature)).toBe(true);
    expect(verifyEnrollment(fields, signature)).toBe(true);
  });

  it('refuses another key, another token, another site, and a public key that is not a curve point', () => {
    const signature = signEnrollment(site.privateKeyPem, fields);
    expect(verifyEnrollment({ ...fields, publicKey: generateSiteIdentity().publicKey }, signature)).toBe(false);
    expect(verifyEnrollment({ ...fields, enrollmentTokenSha256: 'a'.repeat(64) }, signature)).toBe(false);
    expect(verifyEnrollment({ ...fields, siteId: 'site-b' }, signature)).toBe(false);
    expect(verifyEnrollment({ ...fields, publicKey: Buffer.alloc(32, 0xff).toString('base64') }, signature)).toBe(false);
    expect(verifyEnrollment({ ...fields, publicKey: 'not a key' }, signature)).toBe(false);
  });
});

describe('the signed records and the attestation as schemas', () => {
  const attestation = {
    privacy: { rho: 0.0243, epsilon: 1, delta: 1e-6, epsilon_spent: 2, epsilon_remaining: 8, epsilon_total: 10 },
    dataset_commitment: 'ab'.repeat(32),
    audit_head: { seq: 12, hash: 'cd'.repeat(32) },
  };

  it('accepts the attestation a site sends and hashes it canonically, whatever the key order', () => {
    expect(resultAttestationSchema.parse(attestation)).toEqual(attestation);
    const reordered = { audit_head: { hash: attestation.audit_head.hash, seq: 12 }, dataset_commitment: attestation.dataset_commitment, privacy: attestation.privacy };
    expect(attestationSha256(reordered)).toBe(attestationSha256(attestation));
    // Without DP a site attests its commitment and audit head only.
    const { privacy: _privacy, ...exact } = attestation;
    expect(resultAttestationSchema.parse(exact)).toEqual(exact);
  });

  it('refuses an attestation carrying anything else, listing every problem by field', () => {
    const result = resultAttestationSchema.safeParse({ ...attestation, rows: [1, 2], dataset_commitment: 'AB', audit_head: { seq: -1, hash: 'cd'.repeat(32) }, privacy: { ...attestation.privacy, epsilon: 'one' } });
    expect(result.success).toBe(false);
    const problems = listProblems(result.error!);
    for (const part of ['unknown property "rows"', 'dataset_commitment must be a lowercase hex SHA-256', 'audit_head.seq must be a non-negative integer', 'privacy.epsilon must be a finite number']) {
      expect(problems).toContain(part);
    }
  });

  it('states each signed record field as the signer writes it', () => {
    const bad = signedResultFieldsSchema.safeParse({ roundId: 'r 1', siteId: 'site-a', contributionSha256: 'x', nonce: 'short', sentAt: -1, extra: true });
    expect(listProblems(bad.error!)).toEqual([
      'studyId must be 1-128 letters, digits or . _ : -',
      'roundId must be 1-128 letters, digits or . _ : -',
      'contributionSha256 must be a lowercase hex SHA-256',
      'nonce must be 32 bytes in base64',
      'sentAt must be epoch milliseconds',
      'unknown property "extra"',
    ]);
    expect(authChallengeSchema.safeParse({ nonce: NONCE_0_31, issuedAt: 1_738_000_000_000, audience: AUDIENCE }).success).toBe(true);
    expect(enrollmentFieldsSchema.safeParse({ siteId: 'site-a', publicKey: site.publicKey, enrollmentTokenSha256: 'e'.repeat(64) }).success).toBe(true);
  });
});

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { generateSiteIdentity, privateKeyFromSeed } from './identity.ts';
import { manifestSigningPayload, signManifest, verifyManifestSignature } from './manifest-signature.ts';
import { codeOf } from '../test-support/trust-error-code.ts';

const REFERENCES = new URL('../references/', import.meta.url);
// RFC 8032 §7.1 TEST 1 secret key, the key references/make_references.py signs with.
const RFC8032_TEST1_SEED = Buffer.from('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 'hex');

const loadPythonManifest = (): Record<string, unknown> =>
  JSON.parse(readFileSync(new URL('manifest-signed-python.json', REFERENCES), 'utf8')) as Record<string, unknown>;
const expected = JSON.parse(readFileSync(new URL('expected-python.json', REFERENCES), 'utf8')) as {
  manifest: { fingerprint: string; signature: string };
};

describe('model manifest signatures', () => {
  it('verifies a manifest signed by an independent Ed25519 (references/make_references.py) and returns the signer fingerprint', () => {
    expect(verifyManifestSignature(loadPythonManifest())).toBe(expected.manifest.fingerprint);
  });

  it('reproduces that signature byte for byte (Ed25519 is deterministic), whatever the member order', () => {
    const { signature, ...manifest } = loadPythonManifest();
    const reordered = Object.fromEntries(Object.entries(manifest).reverse());
    const ours = signManifest(reordered, privateKeyFromSeed(RFC8032_TEST1_SEED));
    expect(ours).toEqual(signature);
    expect(ours.value).toBe(expected.manifest.signature);
  });

  it('has the shape @fedval/models accepts for its signature field', () => {
    const signature = signManifest({ name: 'm' }, generateSiteIdentity().privateKeyPem);
    expect(Object.keys(signature).sort()).toEqual(['algorithm', 'publicKey', 'value']);
    expect(signature.algorithm).toBe('ed25519');
    for (const field of [signature.publicKey, signature.value]) expect(field).toMatch(/^[A-Za-z0-9+/]+={0,2}$/); // as models/src/manifest.ts
    expect(Buffer.from(signature.publicKey, 'base64')).toHaveLength(32);
    expect(Buffer.from(signature.value, 'base64')).toHaveLength(64);
  });

  it('signs over everything but the signature member, so re-signing replaces it', () => {
    const sponsor = generateSiteIdentity();
    const manifest: Record<string, unknown> = { name: 'm', files: [{ path: 'model.json', sha256: 'a'.repeat(64) }] };
    manifest.signature = signManifest(manifest, sponsor.privateKeyPem);
    expect(manifestSigningPayload(manifest)).toEqual(manifestSigningPayload({ files: manifest.files, name: 'm' }));
    expect(signManifest(manifest, sponsor.privateKeyPem)).toEqual(manifest.signature);
    expect(verifyManifestSignature(manifest)).toBe(sponsor.fingerprint);
  });

  it('refuses a changed file hash, input, or a signature swapped in from another sponsor', () => {
    const manifest = loadPythonManifest();
    const files = manifest.files as { path: string; sha256: string }[];
    files[1]!.sha256 = 'f'.repeat(64);
    expect(codeOf(() => verifyManifestSignature(manifest))).toBe('FEDVAL_ERR_TRUST_SIGNATURE_INVALID');

    const standardized = loadPythonManifest();
    ((standardized.inputs as Record<string, unknown>[])[0]!.standardize as { mean: number }).mean = 0.25;
    expect(codeOf(() => verifyManifestSignature(standardized))).toBe('FEDVAL_ERR_TRUST_SIGNATURE_INVALID');

    const original = loadPythonManifest();
    const { signature: _signature, ...unsigned } = original;
    const impostor = { ...unsigned, signature: { ...(original.signature as object), publicKey: generateSiteIdentity().publicKey } };
    expect(codeOf(() => verifyManifestSignature(impostor))).toBe('FEDVAL_ERR_TRUST_SIGNATURE_INVALID');
  });

  it('names what is wrong with a missing or malformed signature', () => {
    const manifest = loadPythonManifest();
    const signature = manifest.signature as Record<string, string>;
    const cases: [unknown, string][] = [
      [undefined, 'FEDVAL_ERR_TRUST_UNSIGNED'],
      ['abc', 'FEDVAL_ERR_TRUST_SIGNATURE_MALFORMED'],
      [{ ...signature, algorithm: 'rsa' }, 'FEDVAL_ERR_TRUST_SIGNATURE_MALFORMED'],
      [{ ...signature, extra: 1 }, 'FEDVAL_ERR_TRUST_SIGNATURE_MALFORMED'],
      [{ ...signature, value: signature.value!.slice(4) }, 'FEDVAL_ERR_TRUST_SIGNATURE_MALFORMED'],
      [{ ...signature, publicKey: 'AAAA' }, 'FEDVAL_ERR_TRUST_INVALID_PUBLIC_KEY'],
    ];
    for (const [value, code] of cases) {
      const { signature: _drop, ...rest } = manifest;
      expect(codeOf(() => verifyManifestSignature(value === undefined ? rest : { ...rest, signature: value })), code).toBe(code);
    }
  });
});

import { describe, expect, it } from 'vitest';
import { generateSiteIdentity } from './identity.ts';
import { decodeRevealedShare, encodeRevealedShare, secaggRecordPayload, signSecaggRecord, verifySecaggRecord } from './secure-aggregation-records.ts';

const site = generateSiteIdentity();
const other = generateSiteIdentity();
const key32 = Buffer.alloc(32, 1).toString('base64');
const fields = { study_id: 's1', round_id: 'r1', site_id: 'site-a' };

describe('secure-aggregation records', () => {
  it('verify under the signing key only, and not once any field changes', () => {
    const advertisement = signSecaggRecord('advertisement', site.privateKeyPem, { ...fields, c_public_key: key32, s_public_key: key32, signing_key: site.publicKey });
    expect(verifySecaggRecord('advertisement', advertisement, site.publicKey)).toBe(true);
    expect(verifySecaggRecord('advertisement', advertisement, other.publicKey)).toBe(false);
    expect(verifySecaggRecord('advertisement', { ...advertisement, round_id: 'r2' }, site.publicKey)).toBe(false);
    const survivors = signSecaggRecord('survivors', site.privateKeyPem, { ...fields, survivors: ['site-a', 'site-b'] });
    expect(verifySecaggRecord('survivors', survivors, site.publicKey)).toBe(true);
    expect(verifySecaggRecord('survivors', { ...survivors, survivors: ['site-a', 'site-c'] }, site.publicKey)).toBe(false);
    // A signature made for one kind is not valid as another (domain separation), even with the same fields.
    expect(verifySecaggRecord('reveal', { ...survivors, shares: [] }, site.publicKey)).toBe(false);
  });

  it('sign canonical JSON under their domain, and refuse unsorted survivor sets', () => {
    expect(Buffer.from(secaggRecordPayload('survivors', { ...fields, survivors: ['a', 'b'] })).toString()).toBe(
      '{"domain":"fedval/v1/secagg/survivors","round_id":"r1","site_id":"site-a","study_id":"s1","survivors":["a","b"]}',
    );
    expect(() => signSecaggRecord('survivors', site.privateKeyPem, { ...fields, survivors: ['b', 'a'] })).toThrow(/sorted/);
  });

  it('encode a revealed share as x (2 bytes) and y (66 bytes), big-endian', () => {
    const y = (1n << 520n) + 12345n;
    const text = encodeRevealedShare(7, y);
    expect(Buffer.from(text, 'base64')).toHaveLength(68);
    expect(Buffer.from(text, 'base64').subarray(0, 3)).toEqual(Buffer.from([0, 7, 1]));
    expect(decodeRevealedShare(text)).toEqual({ x: 7, y });
    expect(() => decodeRevealedShare(Buffer.alloc(10).toString('base64'))).toThrow(/68 bytes/);
  });
});

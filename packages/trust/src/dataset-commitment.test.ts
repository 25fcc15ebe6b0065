import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { commitToFingerprint, fingerprintFile, verifyCommitment } from './dataset-commitment.ts';
import { sha256Hex } from './digest.ts';
import { codeOf } from '../test-support/trust-error-code.ts';

const dir = mkdtempSync(join(tmpdir(), 'fedval-trust-data-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ABC = 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'; // FIPS 180-2 B.1: SHA-256("abc")
const counting = (size: number): Uint8Array => Uint8Array.from({ length: size }, (_, i) => i);

describe('fingerprintFile', () => {
  it('reproduces the FIPS 180-2 known answers, including one million "a" read across many chunks', async () => {
    const small = join(dir, 'abc.csv');
    writeFileSync(small, 'abc');
    expect(await fingerprintFile(small)).toBe(ABC);
    const large = join(dir, 'million-a.csv');
    writeFileSync(large, 'a'.repeat(1_000_000));
    expect(await fingerprintFile(large)).toBe('cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0'); // FIPS 180-2 B.3
  });

  it('streams a real data file to the same digest as hashing it whole', async () => {
    const path = fileURLToPath(new URL('../../../examples/rotterdam/data/rotterdam.csv', import.meta.url));
    expect(await fingerprintFile(path)).toBe(sha256Hex(readFileSync(path)));
  });

  it('reports an unreadable file with a code', async () => {
    await expect(fingerprintFile(join(dir, 'absent.csv'))).rejects.toMatchObject({ code: 'FEDVAL_ERR_TRUST_FILE_UNREADABLE' });
    await expect(fingerprintFile(dir)).rejects.toMatchObject({ code: 'FEDVAL_ERR_TRUST_FILE_UNREADABLE' });
  });
});

describe('dataset commitments', () => {
  it('commits as SHA-256(salt ‖ fingerprint) over raw bytes', () => {
    // /usr/bin/python3 -c "import hashlib; print(hashlib.sha256(bytes(range(32)) + bytes.fromhex('ba7816bf…15ad')).hexdigest())"
    expect(commitToFingerprint(ABC, counting)).toEqual({
      commitment: '2f89854450769cb248c4c5dc8d77cdd7354cae1ad5ef96afaf4c5e382b0da680',
      salt: '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f',
    });
  });

  it('opens with the right salt and fingerprint only', () => {
    const { commitment, salt } = commitToFingerprint(ABC);
    expect(verifyCommitment(commitment, salt, ABC)).toBe(true);
    expect(verifyCommitment(commitment, salt, 'e'.repeat(64))).toBe(false);
    expect(verifyCommitment(commitment, 'e'.repeat(64), ABC)).toBe(false);
  });

  it('hides the fingerprint: two commitments to the same data differ', () => {
    expect(commitToFingerprint(ABC).commitment).not.toBe(commitToFingerprint(ABC).commitment);
  });

  it('refuses arguments that are not 64 lowercase hex digits', () => {
    expect(codeOf(() => commitToFingerprint(ABC.toUpperCase()))).toBe('FEDVAL_ERR_TRUST_INVALID_DIGEST');
    expect(codeOf(() => verifyCommitment('x', ABC, ABC))).toBe('FEDVAL_ERR_TRUST_INVALID_DIGEST');
    expect(codeOf(() => verifyCommitment(ABC, 'abc', ABC))).toBe('FEDVAL_ERR_TRUST_INVALID_DIGEST');
    expect(() => commitToFingerprint(ABC, () => new Uint8Array(3))).toThrow(TypeError);
  });
});

// key-file.ts — private key files: created with mode 0600, refused when group or others could read them.
import type { KeyObject } from 'node:crypto';
import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { writeNewFileDurably } from './durable-file.ts';
import { TrustError } from './errors.ts';
import type { PrivateKeyInput } from './identity.ts';
import { toPrivateKey } from './identity.ts';

const PRIVATE_KEY_FILE_MODE = 0o600; // owner read and write only
const MAX_KEY_FILE_BYTES = 16 * 1024; // 16 KiB: a PEM Ed25519 key is ~120 bytes

/**
 * Writes `privateKey` as PKCS#8 PEM to a NEW file at `path` with mode 0600 and fsyncs it. Refuses to overwrite
 * (FEDVAL_ERR_TRUST_KEY_EXISTS): replacing a site's key is a re-enrollment, never a side effect.
 */
export function savePrivateKey(path: string, privateKey: PrivateKeyInput): void {
  const pem = toPrivateKey(privateKey).export({ format: 'pem', type: 'pkcs8' }).toString();
  try {
    writeNewFileDurably(path, Buffer.from(pem, 'utf8'), PRIVATE_KEY_FILE_MODE);
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'EEXIST') throw new TrustError('FEDVAL_ERR_TRUST_KEY_EXISTS', path, { cause });
    throw new TrustError('FEDVAL_ERR_TRUST_KEY_WRITE_FAILED', path, { cause });
  }
}

/**
 * Reads the Ed25519 private key at `path`. Refuses (FEDVAL_ERR_TRUST_KEY_PERMISSIONS) a file whose mode grants any
 * permission to group or others, as OpenSSH does for identity files; the check is made on the opened file, so it
 * cannot be raced. Windows has no such mode bits: there the check is skipped and ACLs are the operator's job.
 */
export function loadPrivateKey(path: string): KeyObject {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (cause) {
    throw new TrustError('FEDVAL_ERR_TRUST_KEY_UNREADABLE', path, { cause });
  }
  let pem: string;
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new TrustError('FEDVAL_ERR_TRUST_KEY_UNREADABLE', `${path}: not a regular file`);
    if (process.platform !== 'win32' && (stat.mode & 0o077) !== 0) {
      throw new TrustError('FEDVAL_ERR_TRUST_KEY_PERMISSIONS', `${path} has mode ${(stat.mode & 0o777).toString(8).padStart(3, '0')}`);
    }
    if (stat.size > MAX_KEY_FILE_BYTES) throw new TrustError('FEDVAL_ERR_TRUST_KEY_INVALID', `${path} is larger than a key file`);
    pem = readFileSync(fd, 'utf8');
  } catch (cause) {
    if (cause instanceof TrustError) throw cause;
    throw new TrustError('FEDVAL_ERR_TRUST_KEY_UNREADABLE', path, { cause });
  } finally {
    closeSync(fd);
  }
  try {
    return toPrivateKey(pem);
  } catch (cause) {
    throw new TrustError('FEDVAL_ERR_TRUST_KEY_INVALID', path, { cause });
  }
}

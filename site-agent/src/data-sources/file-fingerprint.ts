// file-fingerprint.ts — feeds a data file's bytes to the dataset fingerprint and detects a file that changes while it is read.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { AgentError } from '../errors.ts';

/** What identifies one version of a file: a change of any of them while it is read refuses the read. */
export interface FileIdentity {
  readonly size: number;
  readonly mtimeMs: number;
  readonly ino: number;
}

/** Stats a data file: FEDVAL_ERR_AGENT_DATA_NOT_FOUND when it is absent or not a regular file. */
export async function fileIdentity(path: string): Promise<FileIdentity> {
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new Error('not a file');
    return { size: info.size, mtimeMs: info.mtimeMs, ino: info.ino };
  } catch (cause) {
    throw new AgentError('FEDVAL_ERR_AGENT_DATA_NOT_FOUND', 'the data file is absent or not a regular file', { cause });
  }
}

/** Fails with FEDVAL_ERR_AGENT_DATA_CHANGED when the file is no longer the version `before` describes. */
export async function requireUnchanged(path: string, before: FileIdentity): Promise<void> {
  const after = await fileIdentity(path);
  if (after.size !== before.size || after.mtimeMs !== before.mtimeMs || after.ino !== before.ino) {
    throw new AgentError('FEDVAL_ERR_AGENT_DATA_CHANGED', 'the data file was modified or replaced while it was read');
  }
}

/** Feeds every byte of the file, in order, to `onBytes`; returns the number of bytes read. */
export async function feedFileBytes(path: string, onBytes: (bytes: Uint8Array) => void, signal?: AbortSignal): Promise<number> {
  let total = 0;
  try {
    for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20, signal })) {
      onBytes(chunk as Buffer);
      total += (chunk as Buffer).length;
    }
  } catch (cause) {
    signal?.throwIfAborted();
    throw new AgentError('FEDVAL_ERR_AGENT_DATA_NOT_FOUND', 'the data file could not be read to the end', { cause });
  }
  return total;
}

// durable-file.ts — creating files whose content and directory entry survive a crash once the call returns.
import { closeSync, fsyncSync, openSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

/** fsync a directory so a file just created or renamed in it stays after a crash (a no-op on Windows, which cannot). */
export function syncDirectory(directory: string): void {
  if (process.platform === 'win32') return;
  const fd = openSync(directory, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Creates `path` (failing with EEXIST if it exists) with `mode`, writes `bytes`, and fsyncs the file and its
 * directory. A file this call created but could not complete is removed, so no half-written file is left behind.
 */
export function writeNewFileDurably(path: string, bytes: Uint8Array, mode: number): void {
  const fd = openSync(path, 'wx', mode);
  try {
    let written = 0;
    while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written);
    fsyncSync(fd);
  } catch (cause) {
    closeSync(fd);
    rmSync(path, { force: true });
    throw cause;
  }
  closeSync(fd);
  syncDirectory(dirname(path));
}

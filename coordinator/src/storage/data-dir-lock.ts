// data-dir-lock.ts — one coordinator per data directory: an exclusive lock file holding the owner's process id.
import { mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CoordinatorError } from '../errors.ts';

/** Name of the lock file inside the data directory. */
export const LOCK_FILE = 'coordinator.lock';

export interface DataDirLock {
  release(): void;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes the data directory for this process, so a second coordinator cannot fail the first one's
 * open rounds as "restarted". A lock left by a process that no longer exists is taken over.
 */
export function acquireDataDirLock(dataDir: string): DataDirLock {
  const file = join(dataDir, LOCK_FILE);
  const owner = String(process.pid);
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 }); // owner only: the database and the audit trail live here
  } catch (cause) {
    throw new CoordinatorError('FEDVAL_ERR_COORD_STORAGE', `cannot create the data directory (${(cause as NodeJS.ErrnoException).code})`, { cause });
  }
  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      writeFileSync(file, owner, { flag: 'wx' });
      return {
        release() {
          try {
            if (readFileSync(file, 'utf8') === owner) unlinkSync(file);
          } catch {
            // Already gone.
          }
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new CoordinatorError('FEDVAL_ERR_COORD_STORAGE', `cannot create the lock file (${(error as NodeJS.ErrnoException).code})`, { cause: error });
      }
    }
    let holder = Number.NaN;
    try {
      holder = Number.parseInt(readFileSync(file, 'utf8'), 10);
    } catch {
      // Removed meanwhile: retry.
    }
    if (Number.isSafeInteger(holder) && holder > 0 && isAlive(holder)) {
      throw new CoordinatorError('FEDVAL_ERR_COORD_DATA_DIR_LOCKED', `process ${holder} holds ${LOCK_FILE}`);
    }
    try {
      unlinkSync(file);
    } catch {
      // Someone else removed it first.
    }
  }
  throw new CoordinatorError('FEDVAL_ERR_COORD_DATA_DIR_LOCKED', `could not take ${LOCK_FILE}`);
}

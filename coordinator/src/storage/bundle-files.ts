// bundle-files.ts — content-addressed storage of model bundle files under the data directory.
import { createHash, randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CoordinatorError } from '../errors.ts';

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** Files stored once per SHA-256 at `<dataDir>/blobs/sha256/<first two hex>/<hex>`. */
export class BundleFileStore {
  readonly #root: string;

  constructor(dataDir: string) {
    this.#root = join(dataDir, 'blobs', 'sha256');
  }

  /** Stores bytes whose SHA-256 the caller has verified; writes atomically (temp file, then rename). */
  async put(sha256: string, data: Uint8Array): Promise<void> {
    const file = this.#pathOf(sha256);
    const temp = `${file}.${randomUUID()}.tmp`;
    try {
      await mkdir(join(file, '..'), { recursive: true });
      await writeFile(temp, data, { flag: 'wx' });
      await rename(temp, file);
    } catch (cause) {
      await rm(temp, { force: true });
      throw new CoordinatorError('FEDVAL_ERR_COORD_STORAGE', `cannot store a model file (${(cause as NodeJS.ErrnoException).code ?? 'error'})`, { cause });
    }
  }

  /** Reads a stored file and checks it still has its SHA-256. */
  async get(sha256: string): Promise<Uint8Array<ArrayBuffer>> {
    let data: Buffer;
    try {
      data = await readFile(this.#pathOf(sha256));
    } catch (cause) {
      throw new CoordinatorError('FEDVAL_ERR_COORD_STORAGE', `model file ${sha256} is missing (${(cause as NodeJS.ErrnoException).code ?? 'error'})`, { cause });
    }
    if (createHash('sha256').update(data).digest('hex') !== sha256) {
      throw new CoordinatorError('FEDVAL_ERR_COORD_STORAGE', `model file ${sha256} is corrupted`);
    }
    return new Uint8Array(data);
  }

  #pathOf(sha256: string): string {
    if (!SHA256_HEX.test(sha256)) throw new CoordinatorError('FEDVAL_ERR_COORD_INTERNAL', 'not a SHA-256 digest');
    return join(this.#root, sha256.slice(0, 2), sha256);
  }
}

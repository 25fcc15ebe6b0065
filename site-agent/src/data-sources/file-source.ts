// file-source.ts — what the CSV and Parquet connectors share: column mapping, the fingerprint of the file's bytes, change detection.
import { AgentError } from '../errors.ts';
import type { ColumnBatch, ColumnRequest, DataSourceLimits, ReadRequest } from './data-source.ts';
import { feedFileBytes, fileIdentity, requireUnchanged } from './file-fingerprint.ts';

/**
 * Refuses a file name the engine would read as a pattern of several files (`*`, `?`, `[`): a site's data is one
 * file, named exactly.
 */
export function requirePlainFileName(path: string): void {
  if (/[*?[]/.test(path)) {
    throw new AgentError('FEDVAL_ERR_AGENT_CONFIG', 'the data file name must not contain *, ? or [ (the engine would read it as a pattern of files); rename the file');
  }
}

/** Study name → local name, and back; refuses two local columns mapped to one study name. */
export function studyNames(localNames: readonly string[], mapping: DataSourceLimits['columns']): string[] {
  const rename = new Map(Object.entries(mapping ?? {}).map(([study, local]) => [local, study]));
  const names = localNames.map((name) => rename.get(name) ?? name);
  const seen = new Set<string>();
  for (const name of names) {
    if (seen.has(name)) throw new AgentError('FEDVAL_ERR_AGENT_DATA_MALFORMED', `duplicate column ${name}`);
    seen.add(name);
  }
  return names;
}

/** Fails with FEDVAL_ERR_AGENT_DATA_COLUMNS naming every requested study column the source lacks (and its local name). */
export function requireStudyColumns(available: readonly string[], requests: readonly ColumnRequest[], mapping: DataSourceLimits['columns']): void {
  const present = new Set(available);
  const missing = [...new Set(requests.map((request) => request.name))].filter((name) => !present.has(name));
  if (missing.length > 0) {
    const described = missing.map((name) => (mapping?.[name] && mapping[name] !== name ? `${name} (local ${mapping[name]})` : name));
    throw new AgentError('FEDVAL_ERR_AGENT_DATA_COLUMNS', `missing ${described.join(', ')}`);
  }
}

/**
 * Wraps a file connector's batches: feeds the file's bytes to the fingerprint alongside the read, and refuses the
 * read (FEDVAL_ERR_AGENT_DATA_CHANGED) when the file was modified or replaced before the last batch was taken.
 */
export async function* guardFileRead<T = ColumnBatch>(path: string, request: Pick<ReadRequest, 'fingerprint'>, read: () => AsyncGenerator<T, void, undefined>): AsyncGenerator<T, void, undefined> {
  const before = await fileIdentity(path);
  const stop = new AbortController();
  const fingerprint = request.fingerprint;
  const fed = fingerprint ? feedFileBytes(path, fingerprint, stop.signal) : Promise.resolve(before.size);
  fed.catch(() => undefined);
  let finished = false;
  try {
    yield* read();
    const bytes = await fed;
    finished = true;
    if (bytes !== before.size) throw new AgentError('FEDVAL_ERR_AGENT_DATA_CHANGED', 'the data file changed size while it was read');
    await requireUnchanged(path, before);
  } finally {
    if (!finished) stop.abort();
  }
}

/** An engine count under the same guard as a read (fingerprint fed alongside, change detection after). */
export async function guardFileCount<T>(path: string, request: Pick<ReadRequest, 'fingerprint'>, count: () => Promise<T>): Promise<T> {
  let result: T | undefined;
  for await (const value of guardFileRead(path, request, async function* () {
    yield await count();
  })) {
    result = value;
  }
  return result as T;
}

// round-contributions-stream.ts — the body of GET /api/rounds/:id/contributions written as a stream: its contributions are read
// from the store a page at a time and serialized one by one, so the coordinator's memory does not grow with the round's sites.
import { Readable } from 'node:stream';
import { roundContributionSchema, roundContributionsResponseSchema } from '@fedval/protocol';
import type { RoundContribution, RoundContributionsResponse } from '@fedval/protocol';
import type { ContributionPage, StoredContribution } from '../storage/store.ts';
import { isoTime } from './request-validation.ts';

/** Contributions read from the store and serialized per step of the stream (each about 16 kB of ciphertexts in a typical plan, 22 kB as base64). */
export const CONTRIBUTIONS_PAGE_SIZE = 8;

/** The served form of one kept contribution. */
function servedContribution(item: StoredContribution): RoundContribution {
  return {
    site_id: item.siteId,
    ciphertexts_base64: item.ciphertexts.map((bytes) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')),
    record: item.record,
    attestation: item.attestation,
    public_key: item.publicKey,
    received_at: isoTime(item.receivedAt),
  };
}

/**
 * The JSON document `roundContributionsResponseSchema` describes, as a stream of string chunks: everything but the
 * contributions first (checked against the schema), then each contribution as read (each checked against
 * `roundContributionSchema`), `pageSize` at a time and only as fast as the client reads. The document is the same as the
 * buffered one (its keys in another order). A store failure midway ends the stream with the error: the client sees a
 * truncated document, never a partial one that parses.
 */
export function roundContributionsStream(
  document: Omit<RoundContributionsResponse, 'contributions'>,
  list: (page: ContributionPage) => Promise<StoredContribution[]>,
  pageSize = CONTRIBUTIONS_PAGE_SIZE,
): Readable {
  // Parsed, not cast: with an empty list the rest of the document must already be what the contract promises.
  const checked = roundContributionsResponseSchema.parse({ ...document, contributions: [] });
  const { contributions: _empty, ...rest } = checked;
  const head = JSON.stringify(rest);
  async function* chunks(): AsyncGenerator<string> {
    // `{…rest…,"contributions":[` — rest is a non-empty object, so its closing brace is replaced by the list's opening.
    yield `${head.slice(0, -1)},"contributions":[`;
    let offset = 0;
    for (;;) {
      const page = await list({ offset, limit: pageSize });
      if (page.length === 0) break;
      const items = page.map((item) => JSON.stringify(roundContributionSchema.parse(servedContribution(item))));
      yield `${offset === 0 ? '' : ','}${items.join(',')}`;
      offset += page.length;
      if (page.length < pageSize) break;
    }
    yield ']}';
  }
  // Object mode: each chunk stays a string until the socket writes it (a buffer freed once written), not an ArrayBuffer
  // per chunk left for the garbage collector: a thousand sites' document would leave ~20 MB of them.
  return Readable.from(chunks(), { highWaterMark: 1 }); // one page read ahead per reader (object mode buffers 16 by default)
}

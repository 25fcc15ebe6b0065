// The contributions document written as a stream: the same document, read a page at a time, only as fast as it is read.
import { randomUUID } from 'node:crypto';
import { planBfvParameters } from '@fedval/he';
import { createStatisticsLayout, metricSpecToInput, resolveMetricSpec } from '@fedval/metrics';
import { roundContributionsResponseSchema } from '@fedval/protocol';
import { describe, expect, it } from 'vitest';
import type { ContributionPage, StoredContribution } from '../storage/store.ts';
import { roundContributionsStream } from './round-contributions-stream.ts';

const metricSpec = resolveMetricSpec({ task: 'binary', bins: 20 });
const plan = planBfvParameters({ vectorLength: createStatisticsLayout(metricSpec).length, maxSites: 10, maxAbsPerSite: 1000 });
const roundId = randomUUID();
const document = {
  round_id: roundId,
  study_id: randomUUID(),
  state: 'aggregated' as const,
  created_at: '2026-12-07T06:00:00.000Z',
  deadline_at: '2026-12-07T07:00:00.000Z',
  closed_at: '2026-12-07T06:30:00.000Z',
  min_sites: 3,
  metric_spec: metricSpecToInput(metricSpec),
  privacy: null,
  plan,
  released: false,
  secure_aggregation: null,
  coordinator_audit_head: { seq: 12, hash: 'a'.repeat(64) },
};

/** Kept contributions as the store returns them; site i's ciphertexts are bytes i, i+1, … (base64 written out below). */
const kept: StoredContribution[] = Array.from({ length: 5 }, (_, i) => ({
  roundId,
  siteId: `site-${i}`,
  ciphertexts: [Uint8Array.from([i, i + 1, i + 2]), Uint8Array.from([255 - i])],
  record: null,
  attestation: null,
  publicKey: null,
  receivedAt: Date.UTC(2026, 11, 7, 6, 10, i),
}));
/** What each must be served as, written independently of the module (base64 of the bytes above, ISO times). */
const expected = [
  { site_id: 'site-0', ciphertexts_base64: ['AAEC', '/w=='], record: null, attestation: null, public_key: null, received_at: '2026-12-07T06:10:00.000Z' },
  { site_id: 'site-1', ciphertexts_base64: ['AQID', '/g=='], record: null, attestation: null, public_key: null, received_at: '2026-12-07T06:10:01.000Z' },
  { site_id: 'site-2', ciphertexts_base64: ['AgME', '/Q=='], record: null, attestation: null, public_key: null, received_at: '2026-12-07T06:10:02.000Z' },
  { site_id: 'site-3', ciphertexts_base64: ['AwQF', '/A=='], record: null, attestation: null, public_key: null, received_at: '2026-12-07T06:10:03.000Z' },
  { site_id: 'site-4', ciphertexts_base64: ['BAUG', '+w=='], record: null, attestation: null, public_key: null, received_at: '2026-12-07T06:10:04.000Z' },
];

function pagedStore(items: StoredContribution[]): { list: (page: ContributionPage) => Promise<StoredContribution[]>; pages: ContributionPage[] } {
  const pages: ContributionPage[] = [];
  return {
    pages,
    list: async (page) => {
      pages.push(page);
      return items.slice(page.offset, page.offset + page.limit);
    },
  };
}

async function text(stream: NodeJS.ReadableStream): Promise<string> {
  let out = '';
  for await (const chunk of stream) out += chunk.toString();
  return out;
}

describe('roundContributionsStream', () => {
  it.each([
    [1, [0, 1, 2, 3, 4, 5]],
    [2, [0, 2, 4]],
    [5, [0, 5]],
    [7, [0]],
  ])('writes the whole document, every contribution in store order (page size %i, pages at %j)', async (pageSize, offsets) => {
    const store = pagedStore(kept);
    const body = JSON.parse(await text(roundContributionsStream(document, store.list, pageSize)));
    expect(body).toEqual({ ...document, contributions: expected });
    expect(roundContributionsResponseSchema.parse(body)).toEqual(body);
    expect(store.pages.map((page) => page.offset)).toEqual(offsets);
  });

  it('writes an empty list for a round that kept nothing', async () => {
    expect(JSON.parse(await text(roundContributionsStream(document, pagedStore([]).list)))).toEqual({ ...document, contributions: [] });
  });

  it('reads the store only as fast as the client reads: an unread stream has fetched at most its first pages', async () => {
    const many = Array.from({ length: 60 }, (_, i) => ({ ...kept[0]!, siteId: `site-${i}`, ciphertexts: [new Uint8Array(4096).fill(i)] }));
    const store = pagedStore(many);
    const stream = roundContributionsStream(document, store.list, 10);
    stream.pause();
    stream.read(0); // starts filling the buffer up to its high-water mark, then stops
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(store.pages.length).toBeLessThanOrEqual(2);
    const body = JSON.parse(await text(stream));
    expect(body.contributions).toHaveLength(60);
    expect(store.pages).toHaveLength(7);
  });

  it('refuses a document the contract does not allow before writing anything', () => {
    expect(() => roundContributionsStream({ ...document, min_sites: 0 }, pagedStore(kept).list)).toThrow();
  });

  it('ends with the error when the store fails midway: the client never gets a document that parses', async () => {
    let calls = 0;
    const failing = async (page: ContributionPage): Promise<StoredContribution[]> => {
      calls += 1;
      if (calls === 2) throw new Error('disk gone');
      return kept.slice(page.offset, page.offset + page.limit);
    };
    await expect(text(roundContributionsStream(document, failing, 2))).rejects.toThrow('disk gone');
  });
});

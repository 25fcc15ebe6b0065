// The coordinator's secure-aggregation state rebuilt after a restart: replaying the kept steps of a round, cut after
// each step, gives the round the live one had at that step (phase, awaited sites, transcript), and a site that comes
// back is sent what its phase needs, the same content as when the phase began. Records are really signed (@fedval/trust).
import { randomBytes } from 'node:crypto';
import { generateSiteIdentity } from '@fedval/trust';
import type { KeyAdvertisement } from '@fedval/trust';
import { describe, expect, it } from 'vitest';
import { SecureAggregationRound } from './secure-aggregation.ts';
import type { SecaggEvent } from './storage/store.ts';
import { secaggRoundSteps } from './test-support/secagg-steps.ts';

const SITES = ['site-a', 'site-b', 'site-c', 'site-d'];
const OPTIONS = { threshold: 2, studyId: 'study-1', roundId: 'round-1', sites: SITES };
/** site-d drops out after sharing (its input never arrives); the others complete. */

const roundSteps = () => secaggRoundSteps(SITES);

describe('SecureAggregationRound after a restart', () => {
  it('replayed from the steps kept up to any point, is the round the live one was at that point', () => {
    const { steps, keys } = roundSteps();
    const live = new SecureAggregationRound(OPTIONS);
    const sent: string[] = [];
    steps.forEach((step, i) => {
      live.apply(step, (site) => keys.get(site));
      for (let outbox = live.advance(); outbox; outbox = outbox.kind === 'done' ? undefined : live.advance()) sent.push(outbox.kind);
      const { round, ended } = SecureAggregationRound.replay(OPTIONS, steps.slice(0, i + 1), (site) => keys.get(site));
      expect([round.phase, round.awaited(), round.shared, round.survivors], `after step ${i}`).toEqual([live.phase, live.awaited(), live.shared, live.survivors]);
      expect(ended?.kind).toBe(live.phase === 'done' ? 'done' : undefined);
      if (live.phase !== 'done') expect(round.transcript()).toEqual(live.transcript());
    });
    expect(sent).toEqual(['keys', 'inbox', 'survivors', 'unmask', 'done']);
  });

  it('sends a returning site what its phase needs, as first sent; takes a byte-for-byte repeat as a no-op and refuses another record', () => {
    const { steps, keys } = roundSteps();
    const enrolled = (site: string) => keys.get(site);
    const upTo = (kind: SecaggEvent['kind'], count: number) => SecureAggregationRound.replay(OPTIONS, steps.slice(0, steps.findIndex((step) => step.kind === kind) + count), enrolled).round;
    // Every key advertised (the keys were relayed), site-a's shares in: site-b is sent the relayed keys, site-a nothing.
    const sharing = upTo('shares', 1);
    expect(sharing.phase).toBe('share');
    const keysOutbox = sharing.catchUp('site-b');
    expect(keysOutbox).toEqual({ kind: 'keys', to: ['site-b'], advertisements: steps.slice(0, 4).map((step) => (step as { advertisement: KeyAdvertisement }).advertisement) });
    expect(sharing.catchUp('site-a')).toBeUndefined();
    const shares = steps[4] as Extract<SecaggEvent, { kind: 'shares' }>;
    expect(sharing.isRepeat('site-a', { kind: 'shares', shares: shares.shares })).toBe(true);
    expect(sharing.isRepeat('site-a', { kind: 'shares', shares: shares.shares.map((share) => ({ ...share, sealed: new Uint8Array(163) })) })).toBe(false);
    expect(() => sharing.addShares('site-a', shares.shares)).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_COORD_SECAGG_PHASE' }));
    const ad = (steps[0] as Extract<SecaggEvent, { kind: 'advertisement' }>).advertisement;
    expect(sharing.isRepeat('site-a', { kind: 'advertisement', advertisement: ad })).toBe(true);
    expect(sharing.isRepeat('site-a', { kind: 'advertisement', advertisement: { ...ad, c_public_key: randomBytes(32).toString('base64') } })).toBe(false);
    // Every share relayed: each site still owing its masked input is sent its own inbox again (the shares addressed to it).
    const input = upTo('input', 0);
    expect(input.phase).toBe('input');
    const inbox = input.catchUp('site-c');
    expect(inbox?.kind).toBe('inbox');
    const expected = steps.filter((step): step is Extract<SecaggEvent, { kind: 'shares' }> => step.kind === 'shares' && step.site !== 'site-c').map((step) => ({ from: step.site, sealed: step.shares.find((share) => share.to === 'site-c')!.sealed }));
    expect(inbox?.kind === 'inbox' && inbox.inboxes.get('site-c')).toEqual(expected);
    // Survivor set sent, one signature in: the others get the survivor set; an out site gets nothing.
    const consistency = upTo('consistency', 1);
    expect(consistency.catchUp('site-b')).toEqual({ kind: 'survivors', to: ['site-b'], survivors: ['site-a', 'site-b', 'site-c'] });
    expect(consistency.catchUp('site-a')).toBeUndefined();
    expect(consistency.catchUp('site-d')).toBeUndefined();
    // Unmasking requested, one reveal in: the others get the request with every survivor's signature.
    const unmask = upTo('reveal', 1);
    const request = unmask.catchUp('site-c');
    expect(request?.kind === 'unmask' && [request.survivors, request.signatures.map((signed) => signed.site_id)]).toEqual([['site-a', 'site-b', 'site-c'], ['site-a', 'site-b', 'site-c']]);
  });

  it('answers a site’s repeated advertisements with one catch-up per phase and connection', () => {
    const { steps, keys } = roundSteps();
    const upTo = (kind: SecaggEvent['kind'], count: number) => SecureAggregationRound.replay(OPTIONS, steps.slice(0, steps.findIndex((step) => step.kind === kind) + count), (site: string) => keys.get(site)).round;
    const unmask = upTo('reveal', 1);
    expect(unmask.catchUpOnRepeat('site-c')?.kind).toBe('unmask');
    expect(unmask.catchUpOnRepeat('site-c')).toBeUndefined();
    expect(unmask.catchUpOnRepeat('site-c')).toBeUndefined();
    // Another site has its own; the same site again once it reconnected.
    expect(unmask.catchUpOnRepeat('site-b')?.kind).toBe('unmask');
    unmask.connected('site-c');
    expect(unmask.catchUpOnRepeat('site-c')?.kind).toBe('unmask');
    expect(unmask.catchUpOnRepeat('site-c')).toBeUndefined();
    // Nothing owed (site-a revealed already), nothing counted: a later phase-owed catch-up is not used up.
    expect(unmask.catchUpOnRepeat('site-a')).toBeUndefined();
  });

  it('refuses to replay a step whose record no longer verifies (the round then fails coordinator_restarted)', () => {
    const { steps, keys } = roundSteps();
    const replaced = new Map(keys);
    replaced.set('site-b', generateSiteIdentity().publicKey);
    expect(() => SecureAggregationRound.replay(OPTIONS, steps.slice(0, 4), (site) => replaced.get(site))).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_COORD_SECAGG_INVALID' }));
  });
});

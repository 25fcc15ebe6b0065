// secagg-steps.ts — the kept steps of one securely aggregated round with really signed records (@fedval/trust), for the
// replay tests and the resume benchmark: every site advertises and shares, the last one drops out before its masked
// input, the others sign the survivor set and reveal their shares of its mask key.
import { randomBytes } from 'node:crypto';
import { generateSiteIdentity, signSecaggRecord } from '@fedval/trust';
import type { KeyAdvertisement } from '@fedval/trust';
import type { SecaggEvent } from '../storage/store.ts';

/** The steps, in the order the coordinator kept them, and each site's enrolled public key. */
export function secaggRoundSteps(sites: readonly string[], ids = { studyId: 'study-1', roundId: 'round-1' }): { steps: SecaggEvent[]; keys: Map<string, string> } {
  const identities = new Map(sites.map((site) => [site, generateSiteIdentity()]));
  const fields = (site: string) => ({ study_id: ids.studyId, round_id: ids.roundId, site_id: site });
  const key = (): string => randomBytes(32).toString('base64');
  const signer = (site: string): string => identities.get(site)!.privateKeyPem;
  const ad = (site: string): KeyAdvertisement => signSecaggRecord('advertisement', signer(site), { ...fields(site), c_public_key: key(), s_public_key: key(), signing_key: identities.get(site)!.publicKey });
  const dropped = sites.at(-1)!;
  const survivors = sites.slice(0, -1);
  const steps: SecaggEvent[] = [
    ...sites.map((site): SecaggEvent => ({ kind: 'advertisement', site, advertisement: ad(site) })),
    ...sites.map((site): SecaggEvent => ({ kind: 'shares', site, shares: sites.filter((to) => to !== site).map((to) => ({ to, sealed: new Uint8Array(randomBytes(163)) })) })),
    ...(survivors.length > 1 ? [{ kind: 'input', site: survivors[1]! } satisfies SecaggEvent] : []),
    { kind: 'out', site: dropped },
    ...survivors.filter((_, i) => i !== 1).map((site): SecaggEvent => ({ kind: 'input', site })),
    ...survivors.map((site): SecaggEvent => ({ kind: 'consistency', site, signed: signSecaggRecord('survivors', signer(site), { ...fields(site), survivors }) })),
    ...survivors.map((site): SecaggEvent => ({
      kind: 'reveal',
      site,
      reveal: signSecaggRecord('reveal', signer(site), { ...fields(site), survivors, shares: [{ owner: dropped, kind: 'mask_key', share_base64: randomBytes(40).toString('base64') }] }),
    })),
  ];
  return { steps, keys: new Map(sites.map((site) => [site, identities.get(site)!.publicKey])) };
}

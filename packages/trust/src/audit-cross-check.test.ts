import { describe, expect, it } from 'vitest';
import { crossCheckRound } from './audit-cross-check.ts';
import type { AuditEntry } from './audit-entry.ts';
import { AUDIT_GENESIS_HASH } from './audit-entry.ts';
import { sha256Hex } from './digest.ts';

let seq = 0;
function entry(actor: string, action: string, object: string, details: AuditEntry['details'] = {}): AuditEntry {
  seq++;
  return { seq, ts: '2025-01-31T12:00:00.000Z', actor, action, object, reason: null, details, prev: AUDIT_GENESIS_HASH, hash: sha256Hex(`${seq}`) };
}
const sent = (site: string, round: string, sha256: unknown) => entry(`site:${site}`, 'contribution.sent', `round:${round}`, { sha256 } as never);
const received = (site: unknown, round: string, sha256: unknown) => entry('coordinator', 'contribution.received', `round:${round}`, { site, sha256 } as never);

const A1 = sha256Hex('site-a round r-1');
const B1 = sha256Hex('site-b round r-1');
const X = sha256Hex('something else');

describe('crossCheckRound', () => {
  it('finds nothing to report when every site\'s sent hash was received for the round', () => {
    const siteA = [entry('site:site-a', 'config.loaded', 'config:agent.yaml'), sent('site-a', 'r-1', A1), sent('site-a', 'r-2', X)];
    const siteB = [sent('site-b', 'r-1', B1)];
    const coordinator = [received('site-b', 'r-1', B1), received('site-a', 'r-1', A1), received('site-a', 'r-0', X)];
    expect(crossCheckRound({ 'site-a': siteA, 'site-b': siteB }, coordinator, 'r-1')).toEqual([]);
  });

  it('reports a differing hash, a lost contribution, one the site never sent, and a site whose log is missing', () => {
    const siteA = [sent('site-a', 'r-1', A1)];
    const siteB = [sent('site-b', 'r-1', B1)];
    const siteC: AuditEntry[] = [];
    const coordinator = [received('site-a', 'r-1', X), received('site-c', 'r-1', A1), received('site-d', 'r-1', B1)];
    expect(crossCheckRound({ 'site-c': siteC, 'site-b': siteB, 'site-a': siteA }, coordinator, 'r-1')).toEqual([
      { kind: 'hash_mismatch', siteId: 'site-a', sent: A1, received: X, siteSeq: siteA[0]!.seq, coordinatorSeq: coordinator[0]!.seq },
      { kind: 'sent_not_received', siteId: 'site-b', sha256: B1, siteSeq: siteB[0]!.seq },
      { kind: 'received_not_sent', siteId: 'site-c', sha256: A1, coordinatorSeq: coordinator[1]!.seq },
      { kind: 'site_log_missing', siteId: 'site-d', coordinatorSeq: coordinator[2]!.seq },
    ]);
  });

  it('reports hash by hash when a site has several unmatched contributions', () => {
    const siteA = [sent('site-a', 'r-1', A1), sent('site-a', 'r-1', B1)];
    const coordinator = [received('site-a', 'r-1', X)];
    expect(crossCheckRound({ 'site-a': siteA }, coordinator, 'r-1').map((d) => d.kind)).toEqual([
      'sent_not_received',
      'sent_not_received',
      'received_not_sent',
    ]);
  });

  it('flags sent or received entries that lack a usable hash or site', () => {
    const siteA = [sent('site-a', 'r-1', 'not-a-hash')];
    const coordinator = [received(42, 'r-1', A1), received('site-a', 'r-1', undefined)];
    expect(crossCheckRound({ 'site-a': siteA }, coordinator, 'r-1')).toEqual([
      { kind: 'malformed_entry', party: 'coordinator', siteId: null, seq: coordinator[0]!.seq },
      { kind: 'malformed_entry', party: 'coordinator', siteId: 'site-a', seq: coordinator[1]!.seq },
      { kind: 'malformed_entry', party: 'site', siteId: 'site-a', seq: siteA[0]!.seq },
    ]);
  });

  it('ignores other rounds entirely', () => {
    expect(crossCheckRound({ 'site-a': [sent('site-a', 'r-2', A1)] }, [received('site-a', 'r-3', X)], 'r-1')).toEqual([]);
  });
});

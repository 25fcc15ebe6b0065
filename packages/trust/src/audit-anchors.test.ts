import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { auditHeadDetails, conflictingAnchors, parseAuditAnchor, parseAuditAnchors, recordedAuditHeads } from './audit-anchors.ts';
import { verifyAuditLog } from './audit-chain.ts';
import { AUDIT_GENESIS_HASH } from './audit-entry.ts';
import type { AuditHead } from './audit-entry.ts';
import { AuditLog } from './audit-log.ts';
import { sha256Hex } from './digest.ts';
import { codeOf } from '../test-support/trust-error-code.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
function logWith(count: number): { path: string; heads: AuditHead[] } {
  const dir = mkdtempSync(join(tmpdir(), 'fedval-anchors-'));
  dirs.push(dir);
  const path = join(dir, 'audit.jsonl');
  const log = AuditLog.open(path);
  const heads: AuditHead[] = [];
  for (let i = 0; i < count; i++) {
    const entry = log.append({ actor: 'coordinator', action: 'round.started', object: `round:r-${i}` });
    heads.push({ seq: entry.seq, hash: entry.hash });
  }
  log.close();
  return { path, heads };
}

describe('audit anchors', () => {
  it('finds the heads one trail recorded of another party, per site, without repeats', () => {
    const h1 = { seq: 3, hash: sha256Hex('3') };
    const h2 = { seq: 7, hash: sha256Hex('7') };
    const entries = [
      { details: { ...auditHeadDetails('coordinator', h2) } },
      { details: { ...auditHeadDetails('coordinator', h1) } },
      { details: { ...auditHeadDetails('coordinator', h1) } },
      { details: { site: 'site-a', ...auditHeadDetails('site', h1) } },
      { details: { site: 'site-b', ...auditHeadDetails('site', h2) } },
      { details: { coordinator_audit_seq: 9, coordinator_audit_hash: 'not-a-hash' } },
    ] as never[];
    expect(auditHeadDetails('key_holder', h1)).toEqual({ key_holder_audit_seq: 3, key_holder_audit_hash: h1.hash });
    expect(recordedAuditHeads(entries, 'coordinator')).toEqual([h1, h2]);
    expect(recordedAuditHeads(entries, 'site', 'site-a')).toEqual([h1]);
    expect(recordedAuditHeads(entries, 'site', 'site-c')).toEqual([]);
    expect(recordedAuditHeads(entries, 'key_holder')).toEqual([]);
  });

  it('parses SEQ:HASH and anchors files, refusing anything else with FEDVAL_ERR_TRUST_INVALID_ANCHOR', () => {
    const hash = sha256Hex('x');
    expect(parseAuditAnchor(`12:${hash}`)).toEqual({ seq: 12, hash });
    expect(parseAuditAnchor(`0:${AUDIT_GENESIS_HASH}`)).toEqual({ seq: 0, hash: AUDIT_GENESIS_HASH });
    for (const bad of [`12:${hash.toUpperCase()}`, `-1:${hash}`, `12 ${hash}`, `0:${hash}`, '12:abc', '']) {
      expect(codeOf(() => parseAuditAnchor(bad))).toBe('FEDVAL_ERR_TRUST_INVALID_ANCHOR');
    }
    expect(parseAuditAnchors(JSON.stringify([{ seq: 1, hash }]))).toEqual([{ seq: 1, hash }]);
    expect(parseAuditAnchors(JSON.stringify({ party: 'coordinator', anchors: [{ seq: 2, hash }] }))).toEqual([{ seq: 2, hash }]);
    for (const bad of ['not json', '{}', JSON.stringify([{ seq: 1 }]), JSON.stringify([{ seq: 1.5, hash }])]) {
      expect(codeOf(() => parseAuditAnchors(bad))).toBe('FEDVAL_ERR_TRUST_INVALID_ANCHOR');
    }
    expect(conflictingAnchors([{ seq: 1, hash }, { seq: 1, hash }, { seq: 2, hash }, { seq: 2, hash: sha256Hex('y') }])).toEqual([2]);
  });

  it('detects with the anchors a trail cut short, emptied or rewound, which the chain alone calls intact', () => {
    const { path, heads } = logWith(6);
    const lines = readFileSync(path, 'utf8').split('\n').slice(0, 6);
    const seen = [heads[1]!, heads[4]!]; // heads another party saw: seq 2 and seq 5
    expect(verifyAuditLog(path, { anchors: seen })).toMatchObject({ ok: true, entries: 6 });

    writeFileSync(path, `${lines.slice(0, 3).join('\n')}\n`); // cut after seq 3
    expect(verifyAuditLog(path)).toMatchObject({ ok: true, entries: 3 });
    expect(verifyAuditLog(path, { anchors: seen })).toMatchObject({ ok: false, reason: 'anchor_mismatch', intactEntries: 3 });

    writeFileSync(path, ''); // emptied
    expect(verifyAuditLog(path)).toMatchObject({ ok: true, entries: 0 });
    expect(verifyAuditLog(path, { anchors: seen })).toMatchObject({ ok: false, reason: 'anchor_mismatch', intactEntries: 0 });

    // Rewound: cut after seq 3, then extended with other entries past the anchored seq 5.
    writeFileSync(path, `${lines.slice(0, 3).join('\n')}\n`);
    const log = AuditLog.open(path);
    for (let i = 0; i < 4; i++) log.append({ actor: 'coordinator', action: 'round.started', object: `round:other-${i}` });
    log.close();
    expect(verifyAuditLog(path)).toMatchObject({ ok: true, entries: 7 });
    expect(verifyAuditLog(path, { anchors: seen })).toMatchObject({ ok: false, line: 5, seq: 5, reason: 'anchor_mismatch' });
    // Two hashes anchored at one seq (the party showed two histories): no log can match both.
    expect(verifyAuditLog(path, { anchors: [heads[3]!, { seq: 4, hash: sha256Hex('fork') }] })).toMatchObject({ ok: false, reason: 'anchor_mismatch' });
  });
});

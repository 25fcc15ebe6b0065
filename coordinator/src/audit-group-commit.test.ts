import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { verifyAuditLog } from '@fedval/trust';
import { afterEach, describe, expect, it } from 'vitest';
import { AUDIT_FILE, openCoordinatorAudit } from './coordinator-audit.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('group commit of the coordinator trail', () => {
  it('writes each batched entry at once, in order, and makes every entry of one event-loop turn durable with one promise', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedval-group-commit-'));
    dirs.push(dir);
    const audit = openCoordinatorAudit(dir);
    const event = (site: string) => ({ actor: 'coordinator', action: 'task.dispatched', object: 'round:r1', details: { site } });
    const first = audit.recordBatched(event('site-a'));
    const second = audit.recordBatched(event('site-b'));
    // An unbatched entry in between keeps the chain in order (and fsyncs everything before it).
    const plain = audit.record(event('site-c'));
    const third = audit.recordBatched(event('site-d'));
    expect(second.durable).toBe(first.durable);
    expect(third.durable).toBe(first.durable);
    expect([first.entry.seq, second.entry.seq, plain.seq, third.entry.seq]).toEqual([1, 2, 3, 4]);
    expect(second.entry.prev).toBe(first.entry.hash);
    // Written before the fsync: the lines are in the file already.
    expect(readFileSync(join(dir, AUDIT_FILE), 'utf8').trim().split('\n')).toHaveLength(4);
    await first.durable;
    const later = audit.recordBatched(event('site-e'));
    expect(later.durable).not.toBe(first.durable);
    await later.durable;
    audit.log.close();
    expect(verifyAuditLog(join(dir, AUDIT_FILE))).toMatchObject({ ok: true, entries: 5 });
  });
});

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import type { PrivacyBudget } from '@fedval/dp';
import { verifyAuditLog } from '@fedval/trust';
import { describe, expect, it } from 'vitest';
import { AGENT_DATABASE_FILE } from './agent-database.ts';
import { AgentError } from './errors.ts';
import { decideModelRun } from './model-registry.ts';
import { openSiteState } from './site-state.ts';
import { requirePrerequisite } from '../../tests/helpers/prerequisites.ts';

const trusted = 'a'.repeat(64);
const other = 'b'.repeat(64);

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(AgentError);
    return (error as AgentError).code;
  }
  return undefined;
}

describe('model approval policy', () => {
  it('runs trusted sponsors under every mode, admin approvals only under manual, unsigned bundles only under any', () => {
    const policy = (model_approval: 'manual' | 'allow_list' | 'any') => ({ model_approval, trusted_sponsor_keys: [trusted] });
    // The whole decision table: mode × signer (trusted, other, unsigned) × approved.
    const table = {
      manual: { trusted: ['trusted_sponsor', 'trusted_sponsor'], other: ['FEDVAL_ERR_AGENT_MODEL_NOT_APPROVED', 'site_admin'], unsigned: ['FEDVAL_ERR_AGENT_MODEL_SIGNATURE', 'FEDVAL_ERR_AGENT_MODEL_SIGNATURE'] },
      allow_list: { trusted: ['trusted_sponsor', 'trusted_sponsor'], other: ['FEDVAL_ERR_AGENT_MODEL_UNTRUSTED', 'FEDVAL_ERR_AGENT_MODEL_UNTRUSTED'], unsigned: ['FEDVAL_ERR_AGENT_MODEL_SIGNATURE', 'FEDVAL_ERR_AGENT_MODEL_SIGNATURE'] },
      any: { trusted: ['trusted_sponsor', 'trusted_sponsor'], other: ['any', 'any'], unsigned: ['any', 'any'] },
    };
    for (const [mode, rows] of Object.entries(table)) {
      for (const [who, outcomes] of Object.entries(rows) as [string, string[]][]) {
        const signer = who === 'trusted' ? trusted : who === 'other' ? other : null;
        outcomes.forEach((expected, approved) => {
          const run = () => decideModelRun(policy(mode as 'manual'), signer, approved === 1);
          if (expected.startsWith('FEDVAL_')) expect(codeOf(run), `${mode} ${who} approved=${approved}`).toBe(expected);
          else expect(run(), `${mode} ${who} approved=${approved}`).toBe(expected);
        });
      }
    }
  });
});

describe('site state', () => {
  it('migrates a database written by the previous agent version and keeps its ledger', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedval-state-'));
    const old = new DatabaseSync(join(dir, AGENT_DATABASE_FILE));
    old.exec(`CREATE TABLE privacy_ledger (id INTEGER PRIMARY KEY, dataset_id TEXT NOT NULL, study_id TEXT NOT NULL, round_id TEXT NOT NULL,
      rho REAL NOT NULL CHECK (rho >= 0), epsilon REAL NOT NULL, delta REAL NOT NULL, created_at INTEGER NOT NULL) STRICT;
      CREATE INDEX privacy_ledger_by_dataset ON privacy_ledger(dataset_id);
      INSERT INTO privacy_ledger VALUES (1, 'd', 's', 'r-1', 0.5, 1, 1e-6, 0); PRAGMA user_version = 1;`);
    old.close();
    const state = openSiteState(dir);
    try {
      expect(state.ledger.records('d').map((r) => [r.roundId, r.ownShareEpsilon])).toEqual([['r-1', null]]);
      expect(state.models.list()).toEqual([]);
      expect(state.sent.find('r-1')).toBeUndefined();
      expect(Number((state.db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version)).toBe(7);
    } finally {
      state.close();
    }
  });

  it('charges the ledger and keeps the contribution together or not at all', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedval-state-'));
    const state = openSiteState(dir);
    const budget: PrivacyBudget = { totalRho: 1, perRoundRho: 0.5, delta: 1e-6 };
    const charge = { datasetId: 'd', studyId: 's', roundId: 'r-1', rho: 0.1, epsilon: 1, delta: 1e-6, ownShareEpsilon: 1.8 };
    const keep = () => state.sent.keep({ roundId: 'r-1', studyId: 's', deadline: Date.now() + 60_000, contribution: { kind: 'bfv', ciphertexts: [Uint8Array.from([1])] }, contributionSha256: 'a'.repeat(64), attestation: { dataset_commitment: 'ab'.repeat(32), audit_head: { seq: 1, hash: 'cd'.repeat(32) } } });
    try {
      expect(() =>
        state.audit.transaction((append) => {
          expect(state.ledger.chargeInTransaction(charge, budget).allowed).toBe(true);
          append({ actor: 'site:s', action: 'privacy.charged', object: 'round:r-1' });
          throw new Error('killed before the contribution was kept');
        }),
      ).toThrow(/killed/);
      expect(state.ledger.hasCharged('r-1')).toBe(false);
      state.audit.transaction((append) => {
        state.ledger.chargeInTransaction(charge, budget);
        append({ actor: 'site:s', action: 'contribution.sent', object: 'round:r-1' });
        keep();
      });
      expect(state.ledger.records('d').map((r) => [r.roundId, r.epsilon, r.ownShareEpsilon])).toEqual([['r-1', 1, 1.8]]);
      expect(state.sent.find('r-1')?.contributionSha256).toBe('a'.repeat(64));
    } finally {
      state.close();
    }
  });

  it('keeps sent contributions byte for byte until their round\'s deadline, across reopening', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedval-state-'));
    const vector = Float64Array.from([3, -2, 0, 7.5e6]);
    const ciphertexts = [Uint8Array.from([1, 2, 3]), new Uint8Array(70_000).fill(9)];
    const attestation = {
      privacy: { rho: 0.1, epsilon: 1, delta: 1e-6, epsilon_spent: 1, epsilon_remaining: 2, epsilon_total: 3 },
      dataset_commitment: 'ab'.repeat(32),
      audit_head: { seq: 4, hash: 'cd'.repeat(32) },
    };
    const now = 1_000_000;
    let state = openSiteState(dir);
    state.sent.keep({ roundId: 'r-plain', studyId: 's', deadline: now + 10, contribution: { kind: 'plaintext', vector }, contributionSha256: 'a'.repeat(64), attestation }, now);
    const keyHashes = { publicKeySha256: 'e'.repeat(64), planSha256: 'f'.repeat(64) };
    state.sent.keep({ roundId: 'r-bfv', studyId: 's', deadline: now + 20, contribution: { kind: 'bfv', ciphertexts }, contributionSha256: 'b'.repeat(64), attestation, keyHashes }, now);
    state.close();
    state = openSiteState(dir);
    try {
      const plain = state.sent.find('r-plain', now + 5);
      expect(plain).toMatchObject({ studyId: 's', deadline: now + 10, contributionSha256: 'a'.repeat(64), attestation });
      expect(Buffer.from((plain!.contribution as { vector: Float64Array }).vector.buffer)).toEqual(Buffer.from(vector.buffer));
      const bfv = state.sent.find('r-bfv', now + 15);
      // The key and plan it was encrypted under are kept with it: a resend is signed for those, never the repeated task's.
      expect(bfv?.keyHashes).toEqual(keyHashes);
      expect(plain?.keyHashes).toBeUndefined();
      expect((bfv!.contribution as { ciphertexts: Uint8Array[] }).ciphertexts.map((c) => Buffer.from(c))).toEqual(ciphertexts.map((c) => Buffer.from(c)));
      // Past its deadline a contribution is no longer answered with, and the next keep drops it.
      expect(state.sent.find('r-plain', now + 10)).toBeUndefined();
      expect(state.sent.find('r-bfv', now + 15)).toBeDefined();
      state.sent.keep({ roundId: 'r-later', studyId: 's', deadline: now + 100, contribution: { kind: 'plaintext', vector }, contributionSha256: 'c'.repeat(64), attestation }, now + 30);
      expect(Number((state.db.prepare('SELECT count(*) AS n FROM sent_contributions').get() as { n: number }).n)).toBe(1);
    } finally {
      state.close();
    }
  });

  it('keeps one valid chain when the agent and another process (the admin CLI) append to the same log', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedval-state-'));
    const agent = openSiteState(dir);
    /** Runs `body` in a separate Node process with `state` open on the same data directory, as `fedval-agent approve` does. */
    const inOtherProcess = (body: string): void => {
      const script = `const { openSiteState } = await import(process.argv[1]); const state = openSiteState(process.argv[2]); try { ${body} } finally { state.close(); }`;
      execFileSync(process.execPath, ['--input-type=module', '-e', script, new URL('./site-state.ts', import.meta.url).pathname, dir], { stdio: 'pipe' });
    };
    try {
      agent.audit.record({ actor: 'site:s', action: 'config.loaded', object: 'config:site.yaml' });
      agent.models.recordReceived({ bundleSha256: other, name: 'm', version: '1', inputs: ['age'], signerFingerprint: trusted });
      expect(() =>
        inOtherProcess(`state.audit.record({ actor: 'site_admin', action: 'model.approved', object: 'model:x' }, () => state.models.approve('${'c'.repeat(64)}', 'bob', null));`),
      ).toThrow(/FEDVAL_ERR_AGENT_MODEL_UNKNOWN/);
      inOtherProcess(`state.audit.record({ actor: 'site_admin', action: 'model.approved', object: 'model:${other}' }, () => state.models.approve('${other}', 'bob', 'reviewed'));`);
      agent.audit.record({ actor: 'site:s', action: 'task.accepted', object: 'round:r-1' });
      inOtherProcess(`state.audit.record({ actor: 'site_admin', action: 'audit.read', object: 'audit:audit.jsonl' });`);
      agent.audit.record({ actor: 'site:s', action: 'contribution.sent', object: 'round:r-1' });
      expect(agent.models.get(other)?.approval).toMatchObject({ by: 'bob', note: 'reviewed' });
    } finally {
      agent.close();
    }
    const path = join(dir, 'audit.jsonl');
    expect(verifyAuditLog(path)).toMatchObject({ ok: true, entries: 5 });
    // Independent check with the Python standard library, the recipe of the @fedval/trust README.
    const python = `
import hashlib, json, sys
prev, seq = '0' * 64, 0
for line in open(sys.argv[1], 'rb'):
    line = line[:-1]
    entry = json.loads(line)
    cut = line.rfind(b',"hash":"')
    assert hashlib.sha256(line[:cut] + line[cut + 74:]).hexdigest() == entry['hash']
    assert entry['seq'] == seq + 1 and entry['prev'] == prev
    prev, seq = entry['hash'], entry['seq']
print(seq, [json.loads(l)['action'] for l in open(sys.argv[1])])`;
    expect(execFileSync(requirePrerequisite('python3'), ['-c', python, path]).toString().trim()).toBe(
      "5 ['config.loaded', 'model.approved', 'task.accepted', 'audit.read', 'contribution.sent']",
    );
    // A failed change writes no entry: the rejected approval above left no trace.
    expect(readFileSync(path, 'utf8')).not.toContain('model:x');
  });

  it('refuses to append to a log whose chain was edited, with a coded error naming the broken line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedval-state-'));
    const state = openSiteState(dir);
    state.audit.record({ actor: 'site:s', action: 'config.loaded', object: 'config:site.yaml' });
    state.audit.record({ actor: 'site:s', action: 'task.received', object: 'round:r-1' });
    state.close();
    const path = join(dir, 'audit.jsonl');
    writeFileSync(path, readFileSync(path, 'utf8').replace('round:r-1', 'round:r-2'));
    const again = openSiteState(dir);
    try {
      let error: AgentError | undefined;
      try {
        again.audit.record({ actor: 'site:s', action: 'task.received', object: 'round:r-3' });
      } catch (caught) {
        error = caught as AgentError;
      }
      expect(error?.code).toBe('FEDVAL_ERR_AGENT_AUDIT');
      expect(error?.message).toContain('FEDVAL_ERR_TRUST_AUDIT_BROKEN');
      expect(error?.message).toContain('line 2');
    } finally {
      again.close();
    }
  });
});

describe('secure-aggregation refunds', () => {
  it('refund a masked round the site never signed: its ρ stops counting, the charge row stays, a signed round is not refundable', () => {
    const state = openSiteState(mkdtempSync(join(tmpdir(), 'fedval-refund-')));
    try {
      const budget: PrivacyBudget = { totalRho: 1, perRoundRho: 0.5, delta: 1e-6 };
      const charge = (roundId: string) =>
        state.ledger.charge({ datasetId: 'd', studyId: 's', roundId, rho: 0.25, epsilon: 1, delta: 1e-6, ownShareEpsilon: 1.8 }, budget);
      charge('r-1');
      charge('r-2');
      state.secagg.recordMasked('r-1', 's', 1);
      state.secagg.recordMasked('r-2', 's', 1);
      state.secagg.markSigned('r-2', ['a', 'b', 'c']);
      expect(state.ledger.status('d', budget).spentRho).toBeCloseTo(0.5, 12);
      // r-1 was never signed: refundable once; r-2 was signed: its sum may still be unmasked, no refund.
      expect(state.secagg.unsignedBefore(2).map((round) => round.roundId)).toEqual(['r-1']);
      expect(state.secagg.markRefunded('r-1')).toBe(true);
      expect(state.ledger.refundInTransaction('r-1', 'round closed: FEDVAL_ERR_COORD_ROUND_CLOSED')).toBe(true);
      expect(state.secagg.markRefunded('r-1')).toBe(false);
      expect(state.secagg.markRefunded('r-2')).toBe(false);
      expect(state.ledger.status('d', budget).spentRho).toBeCloseTo(0.25, 12);
      const records = state.ledger.records('d');
      expect(records.map((record) => [record.roundId, record.refund?.reason ?? null])).toEqual([
        ['r-1', 'round closed: FEDVAL_ERR_COORD_ROUND_CLOSED'],
        ['r-2', null],
      ]);
      // The release was made: the round is never run again.
      expect(state.ledger.hasCharged('r-1')).toBe(true);
      expect(state.secagg.find('r-1')?.state).toBe('refunded');
    } finally {
      state.close();
    }
  });
});

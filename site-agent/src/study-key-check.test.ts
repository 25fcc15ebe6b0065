import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { planBfvParameters, planSha256 } from '@fedval/he';
import type { TaskContent } from '@fedval/protocol';
import { generateSiteIdentity, signStudyKeyStatement } from '@fedval/trust';
import { afterAll, describe, expect, it } from 'vitest';
import type { AgentConfig } from './config.ts';
import { openSiteState } from './site-state.ts';
import { checkStudyKey } from './study-key-check.ts';

const codeOf = (run: () => unknown): string | undefined => {
  try {
    run();
  } catch (error) {
    return (error as { code?: string }).code;
  }
  return undefined;
};

describe("the site's check of the study key statement", () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedval-study-key-check-'));
  const state = openSiteState(dir);
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  const keyHolder = generateSiteIdentity();
  const site = generateSiteIdentity();
  const plan = planBfvParameters({ vectorLength: 64, maxSites: 3, maxAbsPerSite: 1000 });
  const publicKey = new Uint8Array([1, 2, 3, 4]); // only its SHA-256 is compared
  const policy = { key_holder_keys: [keyHolder.fingerprint] } as unknown as AgentConfig['policy'];
  const task = (fields: { version?: number; roster?: { siteId: string; fingerprint: string }[]; studyId?: string }) =>
    ({
      studyId: fields.studyId ?? 'study-1',
      roundId: 'round-1',
      contribution: {
        kind: 'bfv',
        plan,
        publicKey,
        keyStatement: signStudyKeyStatement(keyHolder.privateKeyPem, {
          studyId: fields.studyId ?? 'study-1',
          planSha256: planSha256(plan),
          publicKeySha256: createHash('sha256').update(publicKey).digest('hex'),
          minSites: 3,
          roster: fields.roster ?? [{ siteId: 'site-a', fingerprint: site.fingerprint }],
          rosterSha256: 'b'.repeat(64),
          issuedAt: 1_790_000_000_000,
          version: fields.version ?? 1,
        }),
      },
    }) as unknown as TaskContent;
  const enrolled = { siteId: 'site-a', fingerprint: site.fingerprint };

  it('requires this site on the roster: its id, and for an enrolled site its key fingerprint', () => {
    expect(checkStudyKey(policy, task({}), enrolled, state.keyStatements)?.version).toBe(1);
    expect(codeOf(() => checkStudyKey(policy, task({ roster: [{ siteId: 'site-b', fingerprint: site.fingerprint }] }), enrolled, state.keyStatements))).toBe('FEDVAL_ERR_AGENT_NOT_ON_ROSTER');
    // Rostered under another key than the one this site enrolled.
    expect(codeOf(() => checkStudyKey(policy, task({ roster: [{ siteId: 'site-a', fingerprint: 'a'.repeat(64) }] }), enrolled, state.keyStatements))).toBe('FEDVAL_ERR_AGENT_NOT_ON_ROSTER');
    // A token site has no key: its id is what the roster can name.
    expect(checkStudyKey(policy, task({ roster: [{ siteId: 'site-a', fingerprint: 'a'.repeat(64) }] }), { siteId: 'site-a', fingerprint: undefined }, state.keyStatements)?.version).toBe(1);
  });

  it('keeps the highest version per study and refuses older ones, also after the agent restarts', () => {
    expect(codeOf(() => checkStudyKey(policy, task({ version: 3 }), enrolled, state.keyStatements))).toBeUndefined();
    expect(codeOf(() => checkStudyKey(policy, task({ version: 3 }), enrolled, state.keyStatements))).toBeUndefined();
    expect(codeOf(() => checkStudyKey(policy, task({ version: 2 }), enrolled, state.keyStatements))).toBe('FEDVAL_ERR_AGENT_KEY_STATEMENT_OUTDATED');
    // Another study's versions are its own.
    expect(codeOf(() => checkStudyKey(policy, task({ version: 1, studyId: 'study-2' }), enrolled, state.keyStatements))).toBeUndefined();
    state.close();
    const reopened = openSiteState(dir);
    try {
      expect(reopened.keyStatements.highest('study-1')).toBe(3);
      expect(codeOf(() => checkStudyKey(policy, task({ version: 1 }), enrolled, reopened.keyStatements))).toBe('FEDVAL_ERR_AGENT_KEY_STATEMENT_OUTDATED');
    } finally {
      reopened.close();
    }
  });
});

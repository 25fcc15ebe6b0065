import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadAgentConfig, resolveAgentConfig } from './config.ts';
import { AGENT_ERROR_MESSAGES, AgentError } from './errors.ts';

function errorOf(fn: () => unknown): AgentError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(AgentError);
    return error as AgentError;
  }
  throw new Error('expected an AgentError');
}

const valid = {
  coordinator: 'ws://127.0.0.1:8740/ws',
  site_id: 'site-a',
  token: 'a-long-enough-token-1234',
  data: { path: 'data.csv', label: { column: 'event5y', positive: '1' } },
  data_dir: './state',
};

describe('agent configuration', () => {
  it('pins the public error codes', () => {
    expect(Object.keys(AGENT_ERROR_MESSAGES)).toMatchInlineSnapshot(`
      [
        "FEDVAL_ERR_AGENT_CONFIG",
        "FEDVAL_ERR_AGENT_USAGE",
        "FEDVAL_ERR_AGENT_DATA_NOT_FOUND",
        "FEDVAL_ERR_AGENT_DATA_COLUMNS",
        "FEDVAL_ERR_AGENT_DATA_MALFORMED",
        "FEDVAL_ERR_AGENT_DATA_LIMIT",
        "FEDVAL_ERR_AGENT_DATA_CHANGED",
        "FEDVAL_ERR_AGENT_MODEL_HASH",
        "FEDVAL_ERR_AGENT_MODEL",
        "FEDVAL_ERR_AGENT_INVALID_TASK",
        "FEDVAL_ERR_AGENT_POLICY_TASK",
        "FEDVAL_ERR_AGENT_POLICY_CONTRIBUTION",
        "FEDVAL_ERR_AGENT_POLICY_MIN_COHORT",
        "FEDVAL_ERR_AGENT_BUSY",
        "FEDVAL_ERR_AGENT_DEADLINE",
        "FEDVAL_ERR_AGENT_POLICY_DEADLINE",
        "FEDVAL_ERR_AGENT_CANCELLED",
        "FEDVAL_ERR_AGENT_SECAGG_UNAVAILABLE",
        "FEDVAL_ERR_AGENT_SECAGG_PEER",
        "FEDVAL_ERR_AGENT_SECAGG_REFUSED",
        "FEDVAL_ERR_AGENT_SECAGG_REFUNDED",
        "FEDVAL_ERR_AGENT_SECAGG_CHANGED",
        "FEDVAL_ERR_AGENT_SECAGG_PEER_NOT_APPROVED",
        "FEDVAL_ERR_AGENT_UNAUTHORIZED",
        "FEDVAL_ERR_AGENT_LEDGER",
        "FEDVAL_ERR_AGENT_POLICY_REQUIRES_DP",
        "FEDVAL_ERR_AGENT_POLICY_REQUIRES_SECAGG",
        "FEDVAL_ERR_AGENT_REPLACED",
        "FEDVAL_ERR_AGENT_MODEL_SIGNATURE",
        "FEDVAL_ERR_AGENT_MODEL_UNTRUSTED",
        "FEDVAL_ERR_AGENT_MODEL_NOT_APPROVED",
        "FEDVAL_ERR_AGENT_MODEL_UNKNOWN",
        "FEDVAL_ERR_AGENT_POLICY_GROUPS",
        "FEDVAL_ERR_AGENT_AUDIT",
        "FEDVAL_ERR_AGENT_ROUND_UNKNOWN",
        "FEDVAL_ERR_AGENT_ROUND_REPEATED",
        "FEDVAL_ERR_AGENT_SITE_KEY",
        "FEDVAL_ERR_AGENT_ENROLLMENT",
        "FEDVAL_ERR_AGENT_TLS",
        "FEDVAL_ERR_AGENT_CHALLENGE",
        "FEDVAL_ERR_AGENT_POLICY_MIN_SITES",
        "FEDVAL_ERR_AGENT_POLICY_OWN_SHARE_EPSILON",
        "FEDVAL_ERR_AGENT_POLICY_MIN_CELL",
        "FEDVAL_ERR_AGENT_POLICY_GROUP_LEVELS",
        "FEDVAL_ERR_AGENT_POLICY_NO_KEY_HOLDER",
        "FEDVAL_ERR_AGENT_KEY_UNAUTHENTICATED",
        "FEDVAL_ERR_AGENT_PLAN_BOUNDS",
        "FEDVAL_ERR_AGENT_NOISE_MIN_SITES",
        "FEDVAL_ERR_AGENT_NOT_ON_ROSTER",
        "FEDVAL_ERR_AGENT_KEY_STATEMENT_OUTDATED",
        "FEDVAL_ERR_AGENT_RESEND_KEY_CHANGED",
        "FEDVAL_ERR_AGENT_DB_UNREACHABLE",
        "FEDVAL_ERR_AGENT_DB_AUTH",
        "FEDVAL_ERR_AGENT_DB_QUERY",
        "FEDVAL_ERR_AGENT_DB_TIMEOUT",
        "FEDVAL_ERR_AGENT_TLS_VERIFY",
        "FEDVAL_ERR_AGENT_ENDPOINT",
        "FEDVAL_ERR_AGENT_PROTOCOL_REFUSED",
        "FEDVAL_ERR_AGENT_CHECK",
        "FEDVAL_ERR_AGENT_INTERNAL",
      ]
    `);
  });

  it('fills defaults, resolves paths against the config directory and freezes the result', () => {
    const config = resolveAgentConfig(valid, '/etc/fedval');
    expect(config.data.path).toBe('/etc/fedval/data.csv');
    expect(config.data_dir).toBe('/etc/fedval/state');
    expect(config.policy.min_cohort).toBeUndefined();
    // The site's own floor, whatever a coordinator asks (issue 12): encrypted only, 3 sites, own-share ε 4, cells of 10, 20 levels.
    expect(config.policy.allowed_contributions).toEqual(['bfv']);
    expect(config.policy.min_sites).toBe(3);
    expect(config.policy.max_own_share_epsilon).toBe(4);
    expect(config.policy.min_cell).toBe(10);
    // Issue 12: no key holder key pinned, so encrypted tasks are refused until the site pins one; plans must hold 100,000 patients.
    expect(config.policy.key_holder_keys).toEqual([]);
    expect(config.policy.min_plan_patients).toBe(100_000);
    expect(config.policy.max_group_levels).toBe(20);
    expect(config.limits.batch_rows).toBe(16_384);
    expect(config.policy.model_approval).toBe('manual');
    expect(config.policy.trusted_sponsor_keys).toEqual([]);
    expect(config.policy.allowed_group_columns).toBeUndefined();
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.data.label)).toBe(true);
  });

  it('lists every problem in one coded error', () => {
    const error = errorOf(() =>
      resolveAgentConfig({ ...valid, coordinator: 'http://x', site_id: 'bad id!', data: { path: '' }, surprise: 1 }, '/tmp'),
    );
    expect(error.code).toBe('FEDVAL_ERR_AGENT_CONFIG');
    for (const path of ['coordinator', 'site_id', 'data.path', 'data.label', '(root)']) expect(error.message).toContain(path);
  });

  it('reads data from exactly one of data.path (CSV) and data.parquet, with the engine limits', () => {
    const parquet = resolveAgentConfig({ ...valid, data: { parquet: 'site.parquet', label: valid.data.label }, limits: { engine_threads: 2, engine_stream_threads: 3, engine_memory_limit: '512MB' } }, '/etc/fedval');
    expect(parquet.data.parquet).toBe('/etc/fedval/site.parquet');
    expect(parquet.data.path).toBeUndefined();
    expect(parquet.limits.engine_threads).toBe(2);
    expect(parquet.limits.engine_stream_threads).toBe(3);
    expect(parquet.limits.engine_memory_limit).toBe('512MB');
    for (const data of [{ label: valid.data.label }, { path: 'a.csv', parquet: 'a.parquet', label: valid.data.label }]) {
      const error = errorOf(() => resolveAgentConfig({ ...valid, data }, '/tmp'));
      expect(error.code).toBe('FEDVAL_ERR_AGENT_CONFIG');
      expect(error.message).toContain('exactly one of data.path');
    }
    expect(errorOf(() => resolveAgentConfig({ ...valid, limits: { engine_memory_limit: 'lots' } }, '/tmp')).message).toContain('limits.engine_memory_limit');
    expect(errorOf(() => resolveAgentConfig({ ...valid, limits: { engine_stream_threads: 0 } }, '/tmp')).message).toContain('limits.engine_stream_threads');
  });

  it('requires exactly one of token and token_file', () => {
    const { token: _token, ...noToken } = valid;
    expect(errorOf(() => resolveAgentConfig(noToken, '/tmp')).message).toContain('exactly one');
    expect(errorOf(() => resolveAgentConfig({ ...valid, token_file: 't' }, '/tmp')).message).toContain('exactly one');
  });

  it('reads the token from token_file and reports unreadable or malformed files', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedval-agent-config-'));
    writeFileSync(join(dir, 'site.token'), 'token-from-a-file-0123456789\n');
    const { token: _token, ...rest } = valid;
    writeFileSync(join(dir, 'site.yaml'), JSON.stringify({ ...rest, token_file: 'site.token' }));
    expect(loadAgentConfig(join(dir, 'site.yaml')).token).toBe('token-from-a-file-0123456789');
    writeFileSync(join(dir, 'broken.yaml'), 'coordinator: [unclosed');
    expect(errorOf(() => loadAgentConfig(join(dir, 'broken.yaml'))).message).toContain('not valid YAML');
    expect(errorOf(() => loadAgentConfig(join(dir, 'absent.yaml'))).code).toBe('FEDVAL_ERR_AGENT_CONFIG');
  });

  it('validates the model approval policy: allow_list needs a key, keys are SHA-256 fingerprints', () => {
    const fingerprint = 'a'.repeat(64);
    const listed = resolveAgentConfig({ ...valid, policy: { model_approval: 'allow_list', trusted_sponsor_keys: [fingerprint], allowed_group_columns: ['meno'] } }, '/tmp');
    expect(listed.policy.trusted_sponsor_keys).toEqual([fingerprint]);
    expect(listed.policy.allowed_group_columns).toEqual(['meno']);
    expect(errorOf(() => resolveAgentConfig({ ...valid, policy: { model_approval: 'allow_list' } }, '/tmp')).message).toContain('policy.trusted_sponsor_keys');
    expect(errorOf(() => resolveAgentConfig({ ...valid, policy: { trusted_sponsor_keys: ['ABC'] } }, '/tmp')).message).toContain('policy.trusted_sponsor_keys.0');
    expect(errorOf(() => resolveAgentConfig({ ...valid, policy: { model_approval: 'always' } }, '/tmp')).message).toContain('policy.model_approval');
  });

  it('records the SHA-256 of the configuration file it read', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedval-agent-config-'));
    const text = JSON.stringify(valid);
    writeFileSync(join(dir, 'site.yaml'), text);
    // Reference: SHA-256 of the same bytes by node:crypto, independent of the loader's read path.
    expect(loadAgentConfig(join(dir, 'site.yaml')).source).toEqual({ path: join(dir, 'site.yaml'), sha256: createHash('sha256').update(text).digest('hex') });
  });
});

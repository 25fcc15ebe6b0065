import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS, loadCoordinatorConfig, parseCoordinatorConfig } from './config.ts';
import { CoordinatorError } from './errors.ts';

const HASH = 'a'.repeat(64);
let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'fedval-coord-config-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function catchError(work: () => unknown): CoordinatorError {
  try {
    work();
  } catch (error) {
    if (error instanceof CoordinatorError) return error;
    throw error;
  }
  throw new Error('expected a CoordinatorError');
}

describe('coordinator configuration', () => {
  it('fills documented defaults, resolves data_dir against the file directory and freezes everything', () => {
    const file = join(dir, 'coordinator.yaml');
    writeFileSync(file, `sites:\n  - id: site-a\n    token_sha256: ${HASH}\n`);
    const config = loadCoordinatorConfig(file);
    expect(config.listen).toEqual({ host: '127.0.0.1', port: 8740 });
    expect(config.data_dir).toBe(join(dir, '.fedval-data', 'coordinator'));
    expect(config.limits).toEqual({ ...DEFAULT_LIMITS });
    expect(config.limits.max_message_bytes).toBe(67_108_864);
    expect(config.limits.secagg_phase_timeout_ms).toBe(60_000);
    expect(config.log_level).toBe('info');
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.sites[0])).toBe(true);
    expect(Object.isFrozen(config.limits)).toBe(true);
  });

  it('applies command-line overrides and validates them like file values', () => {
    const raw = { sites: [{ id: 's', token_sha256: HASH }], listen: { port: 9000 } };
    expect(parseCoordinatorConfig(raw, { baseDir: dir, overrides: { port: 0, host: '::1' } }).listen).toEqual({ host: '::1', port: 0 });
    const error = catchError(() => parseCoordinatorConfig(raw, { baseDir: dir, overrides: { port: 70_000 } }));
    expect(error.message).toContain('listen.port');
  });

  it('lists every problem in one FEDVAL_ERR_COORD_CONFIG error, naming each path', () => {
    const raw = {
      listen: { host: '', port: -1, extra: true },
      sites: [
        { id: 'site a', token_sha256: 'not-hex' },
        { id: 'b', token_sha256: HASH },
        { id: 'b', token_sha256: HASH },
      ],
      limits: { auth_timeout_ms: 0, heartbeat_interval_ms: 1.5, secagg_phase_timeout_ms: 3_600_001, unknown_limit: 3 },
      log_level: 'loud',
      surprise: 1,
    };
    const error = catchError(() => parseCoordinatorConfig(raw, { baseDir: dir }));
    expect(error.code).toBe('FEDVAL_ERR_COORD_CONFIG');
    for (const path of [
      'listen.host',
      'listen.port',
      'listen: Unrecognized key: "extra"',
      'sites[0].id',
      'sites[0].token_sha256',
      'sites[2].id: duplicate site id "b"',
      'limits.auth_timeout_ms',
      'limits.heartbeat_interval_ms',
      'limits.secagg_phase_timeout_ms',
      'limits: Unrecognized key: "unknown_limit"',
      'log_level',
      '(root): Unrecognized key: "surprise"',
    ]) {
      expect(error.message).toContain(path);
    }
  });

  it('validates api_tokens: known roles, unique names, each token once; absent means none', () => {
    const sites = [{ id: 's', token_sha256: HASH }];
    expect(parseCoordinatorConfig({ sites }, { baseDir: dir }).api_tokens).toEqual([]);
    const good = parseCoordinatorConfig({ sites, api_tokens: [{ name: 'ada', role: 'sponsor', token_sha256: HASH }] }, { baseDir: dir });
    expect(good.api_tokens).toEqual([{ name: 'ada', role: 'sponsor', token_sha256: HASH }]);
    expect(Object.isFrozen(good.api_tokens[0])).toBe(true);
    const invalid = catchError(() =>
      parseCoordinatorConfig(
        {
          sites,
          api_tokens: [
            { name: 'bob', role: 'key_holder', token_sha256: 'c'.repeat(64) },
            { name: 'c:d', role: 'auditor', token_sha256: HASH, token: 'plain' },
          ],
        },
        { baseDir: dir },
      ),
    );
    for (const problem of ['api_tokens[0].role', 'api_tokens[1].name', 'api_tokens[1]: Unrecognized key: "token"']) expect(invalid.message).toContain(problem);
    expect(invalid.message).not.toContain('plain');
    const duplicates = catchError(() =>
      parseCoordinatorConfig(
        {
          sites,
          api_tokens: [
            { name: 'ada', role: 'sponsor', token_sha256: HASH },
            { name: 'ada', role: 'auditor', token_sha256: 'b'.repeat(64) },
            { name: 'cy', role: 'auditor', token_sha256: HASH },
          ],
        },
        { baseDir: dir },
      ),
    );
    for (const problem of ['api_tokens[1].name: duplicate token name "ada"', 'api_tokens[2].token_sha256: the same token is configured twice']) {
      expect(duplicates.message).toContain(problem);
    }
  });

  it('records the SHA-256 of the configuration file it loaded', () => {
    const file = join(dir, 'coordinator.yaml');
    const text = `sites:\n  - id: site-a\n    token_sha256: ${HASH}\n`;
    writeFileSync(file, text);
    // Reference: printf '%s' "$text" | sha256sum, here through node:crypto on the bytes written.
    expect(loadCoordinatorConfig(file).source).toEqual({ file, sha256: createHash('sha256').update(Buffer.from(text)).digest('hex') });
  });

  it('requires at least one site and an object at the root', () => {
    expect(catchError(() => parseCoordinatorConfig({}, { baseDir: dir })).message).toContain('sites');
    expect(catchError(() => parseCoordinatorConfig({ sites: [] }, { baseDir: dir })).message).toContain('sites: at least one site is required');
    expect(catchError(() => parseCoordinatorConfig([1, 2], { baseDir: dir })).message).toContain('(root)');
  });

  it('names a missing file and a YAML syntax error with its line', () => {
    const missing = catchError(() => loadCoordinatorConfig(join(dir, 'nope.yaml')));
    expect(missing.code).toBe('FEDVAL_ERR_COORD_CONFIG_UNREADABLE');
    expect(missing.message).toContain('ENOENT');
    const file = join(dir, 'broken.yaml');
    writeFileSync(file, `sites:\n  - id: a\n    token_sha256: "${HASH}\nlisten: [\n`);
    const syntax = catchError(() => loadCoordinatorConfig(file));
    expect(syntax.code).toBe('FEDVAL_ERR_COORD_CONFIG');
    expect(syntax.message).toContain('broken.yaml');
    const duplicateKey = join(dir, 'dup.yaml');
    writeFileSync(duplicateKey, `log_level: info\nlog_level: debug\nsites: []\n`);
    expect(catchError(() => loadCoordinatorConfig(duplicateKey)).message).toContain('dup.yaml:2');
  });
});

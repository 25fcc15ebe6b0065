import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AuditLog } from '@fedval/trust';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { crossCheckAuditDirs, KEY_HOLDER_AUDIT_LINE_BYTES, parseSiteDir, showAuditDir, verifyAuditDir } from './audit.ts';
import { CliError } from './errors.ts';
import { requirePrerequisite } from '../../../tests/helpers/prerequisites.ts';

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));
const SHA_A = 'a'.repeat(64);
const SHA_B = 'b'.repeat(64);
let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'fedval-cli-audit-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function fedval(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8' });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

/** Writes a log of `events` into `<dir>/<name>/audit.jsonl` and returns the directory. */
function writeLog(name: string, events: { actor: string; action: string; object: string; details?: Record<string, string> }[]): string {
  const logDir = join(dir, name);
  mkdirSync(logDir, { recursive: true });
  const log = AuditLog.open(join(logDir, 'audit.jsonl'));
  for (const event of events) log.append(event);
  log.close();
  return logDir;
}

function coordinatorEvents(shaFromA: string) {
  return [
    { actor: 'coordinator', action: 'config.loaded', object: 'config:coordinator.yaml' },
    { actor: 'role:sponsor:ada', action: 'round.started', object: 'round:r-1' },
    { actor: 'site:site-a', action: 'contribution.received', object: 'round:r-1', details: { site: 'site-a', sha256: shaFromA } },
    { actor: 'site:site-b', action: 'contribution.received', object: 'round:r-1', details: { site: 'site-b', sha256: SHA_B } },
    { actor: 'coordinator', action: 'round.closed', object: 'round:r-1' },
  ];
}

/**
 * The recipe of packages/trust/README.md "Checking a log without fedval", in Python's standard library: an
 * implementation independent of @fedval/trust that names the first broken line.
 */
const PYTHON_CHECK = `
import hashlib, json, sys
prev, seq = '0' * 64, 0
with open(sys.argv[1], 'rb') as f:
    for n, line in enumerate(f, 1):
        line = line[:-1]
        entry = json.loads(line)
        cut = line.rfind(b',"hash":"')
        unsealed = line[:cut] + line[cut + 74:]
        if hashlib.sha256(unsealed).hexdigest() != entry['hash']: sys.exit(f'line {n}: hash_mismatch')
        if entry['seq'] != seq + 1: sys.exit(f'line {n}: bad_sequence')
        if entry['prev'] != prev: sys.exit(f'line {n}: broken_link')
        prev, seq = entry['hash'], entry['seq']
print(f'ok: {seq} entries, head {prev}')
`;

function pythonCheck(file: string): string {
  const run = spawnSync(requirePrerequisite('python3'), ['-c', PYTHON_CHECK, file], { encoding: 'utf8' });
  return (run.stdout + run.stderr).trim();
}

describe('fedval audit verify', () => {
  it('exits 0 on an intact log, with the head the Python reference computes', () => {
    const logDir = writeLog('coordinator', coordinatorEvents(SHA_A));
    const run = fedval(['audit', 'verify', '--dir', logDir, '--json']);
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout) as { verification: { ok: boolean; entries: number; head: string } };
    expect(pythonCheck(join(logDir, 'audit.jsonl'))).toBe(`ok: 5 entries, head ${report.verification.head}`);
    expect(report.verification).toMatchObject({ ok: true, entries: 5 });
    expect(fedval(['audit', 'verify', '--dir', logDir]).stdout).toContain('intact, 5 entries');
  });

  it('exits 1 naming the first broken line for an edited and for a deleted entry, as the Python reference does', () => {
    const edited = writeLog('edited', coordinatorEvents(SHA_A));
    const editedFile = join(edited, 'audit.jsonl');
    const lines = readFileSync(editedFile, 'utf8').split('\n');
    lines[2] = (lines[2] as string).replace(SHA_A, 'c'.repeat(64));
    writeFileSync(editedFile, lines.join('\n'));
    const run = fedval(['audit', 'verify', '--dir', edited]);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('BROKEN at line 3, seq 3: hash_mismatch');
    expect(pythonCheck(editedFile)).toBe('line 3: hash_mismatch');

    const deleted = writeLog('deleted', coordinatorEvents(SHA_A));
    const deletedFile = join(deleted, 'audit.jsonl');
    const kept = readFileSync(deletedFile, 'utf8').split('\n');
    kept.splice(1, 1);
    writeFileSync(deletedFile, kept.join('\n'));
    const json = fedval(['audit', 'verify', '--dir', deleted, '--json']);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout).verification).toMatchObject({ ok: false, line: 2, seq: 3, reason: 'bad_sequence', intactEntries: 1 });
    expect(pythonCheck(deletedFile)).toBe('line 2: bad_sequence');
  });

  it('exits 1 with the trust code when there is no log in the directory', () => {
    const run = fedval(['audit', 'verify', '--dir', join(dir, 'nothing-here')]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('FEDVAL_ERR_TRUST_AUDIT_UNREADABLE');
  });
});

describe('fedval audit cross-check', () => {
  it('exits 0 when every site sent what the coordinator received, 1 listing each disagreement', () => {
    const coordinator = writeLog('coordinator', coordinatorEvents(SHA_A));
    const siteA = writeLog('site-a', [{ actor: 'site:site-a', action: 'contribution.sent', object: 'round:r-1', details: { sha256: SHA_A } }]);
    const siteB = writeLog('site-b', [{ actor: 'site:site-b', action: 'contribution.sent', object: 'round:r-1', details: { sha256: SHA_B } }]);
    const agree = fedval(['audit', 'cross-check', '--coordinator-dir', coordinator, '--site', `site-a=${siteA}`, '--site', `site-b=${siteB}`, '--round', 'r-1']);
    expect(agree.code).toBe(0);
    expect(agree.stdout).toContain('round r-1: the logs agree');

    const tampered = writeLog('coordinator-2', coordinatorEvents('d'.repeat(64)));
    const report = crossCheckAuditDirs({ coordinatorDir: tampered, sites: [{ site: 'site-a', dir: siteA }], round: 'r-1' });
    expect(report.discrepancies).toEqual([
      { kind: 'hash_mismatch', siteId: 'site-a', sent: SHA_A, received: 'd'.repeat(64), siteSeq: 1, coordinatorSeq: 3 },
      { kind: 'site_log_missing', siteId: 'site-b', coordinatorSeq: 4 },
    ]);
    const disagree = fedval(['audit', 'cross-check', '--coordinator-dir', tampered, '--site', `site-a=${siteA}`, '--round', 'r-1', '--json']);
    expect(disagree.code).toBe(1);
    expect(JSON.parse(disagree.stdout).discrepancies).toEqual(report.discrepancies);
  });

  it('does not compare when a log is broken, and refuses malformed --site arguments', () => {
    const coordinator = writeLog('coordinator', coordinatorEvents(SHA_A));
    const siteA = writeLog('site-a', [{ actor: 'site:site-a', action: 'contribution.sent', object: 'round:r-1', details: { sha256: SHA_A } }]);
    const file = join(siteA, 'audit.jsonl');
    writeFileSync(file, readFileSync(file, 'utf8').replace('contribution.sent', 'contribution.lost'));
    const run = fedval(['audit', 'cross-check', '--coordinator-dir', coordinator, '--site', `site-a=${siteA}`, '--round', 'r-1']);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('site:site-a:');
    expect(run.stdout).toContain('BROKEN at line 1');
    expect(run.stdout).toContain('not compared, a trail is broken');
    for (const bad of ['=dir', 'site-a=', 'no-equals', 'a b=dir']) expect(() => parseSiteDir(bad)).toThrow(CliError);
  });
});

describe('trails anchored in each other', () => {
  /** Three trails as a round writes them: each keeps the heads of the others it was sent. */
  function anchoredTrails(): { coordinator: string; site: string; keys: string } {
    const paths = { coordinator: join(dir, 'c'), site: join(dir, 's'), keys: join(dir, 'k') };
    for (const path of Object.values(paths)) mkdirSync(path);
    const c = AuditLog.open(join(paths.coordinator, 'audit.jsonl'));
    const s = AuditLog.open(join(paths.site, 'audit.jsonl'));
    const k = AuditLog.open(join(paths.keys, 'audit.jsonl'));
    const head = (e: { seq: number; hash: string }) => ({ seq: e.seq, hash: e.hash });
    c.append({ actor: 'coordinator', action: 'config.loaded', object: 'config:c.yaml' });
    const dispatched = head(c.append({ actor: 'coordinator', action: 'task.dispatched', object: 'round:r-1', details: { site: 'site-a' } }));
    s.append({ actor: 'site:site-a', action: 'task.received', object: 'round:r-1', details: { coordinator_audit_seq: dispatched.seq, coordinator_audit_hash: dispatched.hash } });
    const sent = head(s.append({ actor: 'site:site-a', action: 'contribution.sent', object: 'round:r-1', details: { sha256: SHA_A } }));
    c.append({ actor: 'site:site-a', action: 'contribution.received', object: 'round:r-1', details: { site: 'site-a', sha256: SHA_A, site_audit_seq: sent.seq, site_audit_hash: sent.hash } });
    const read = head(c.append({ actor: 'role:privacy_officer:po', action: 'aggregate.read', object: 'round:r-1' }));
    const decrypted = head(k.append({ actor: 'key_holder:po', action: 'aggregate.decrypted', object: 'round:r-1', details: { coordinator_audit_seq: read.seq, coordinator_audit_hash: read.hash } }));
    c.append({ actor: 'role:privacy_officer:po', action: 'result.released', object: 'round:r-1', details: { key_holder_audit_seq: decrypted.seq, key_holder_audit_hash: decrypted.hash } });
    for (const log of [c, s, k]) log.close();
    return paths;
  }
  const cut = (path: string, keep: number): void => {
    const file = join(path, 'audit.jsonl');
    writeFileSync(file, readFileSync(file, 'utf8').split('\n').slice(0, keep).map((line) => `${line}\n`).join(''));
  };
  const crossCheck = (paths: { coordinator: string; site: string; keys: string }) =>
    fedval(['audit', 'cross-check', '--coordinator-dir', paths.coordinator, '--site', `site-a=${paths.site}`, '--key-dir', paths.keys, '--round', 'r-1', '--json']);

  it('exports the heads each trail kept and verifies a trail against them: cut short or emptied, it fails', () => {
    const paths = anchoredTrails();
    const exported = fedval(['audit', 'anchors', '--dir', paths.coordinator, '--party', 'site:site-a', '--json']);
    expect(exported.code).toBe(0);
    const anchorsFile = join(dir, 'site-a-anchors.json');
    writeFileSync(anchorsFile, exported.stdout);
    expect(JSON.parse(exported.stdout).anchors).toHaveLength(1);
    expect(fedval(['audit', 'verify', '--dir', paths.site, '--anchors', anchorsFile]).code).toBe(0);
    const [anchor] = fedval(['audit', 'anchors', '--dir', paths.keys, '--party', 'coordinator']).stdout.trim().split('\n');
    expect(anchor).toMatch(/^4:[0-9a-f]{64}$/);
    expect(fedval(['audit', 'verify', '--dir', paths.coordinator, '--anchor', anchor!]).code).toBe(0);
    expect(crossCheck(paths).code).toBe(0);

    cut(paths.site, 1); // the site's contribution.sent removed: its chain alone still verifies
    expect(fedval(['audit', 'verify', '--dir', paths.site]).code).toBe(0);
    const verify = fedval(['audit', 'verify', '--dir', paths.site, '--anchors', anchorsFile, '--json']);
    expect(verify.code).toBe(1);
    expect(JSON.parse(verify.stdout).verification).toMatchObject({ ok: false, reason: 'anchor_mismatch' });
    cut(paths.coordinator, 0); // emptied
    expect(fedval(['audit', 'verify', '--dir', paths.coordinator]).code).toBe(0);
    expect(fedval(['audit', 'verify', '--dir', paths.coordinator, '--anchor', anchor!]).code).toBe(1);
    expect(fedval(['audit', 'verify', '--dir', paths.coordinator, '--anchor', 'four:abc']).stderr).toContain('FEDVAL_ERR_CLI_USAGE');
  });

  it('cross-check names the trail cut short, whichever party it is', () => {
    for (const [party, keep] of [['coordinator', 3], ['site:site-a', 1], ['key-holder', 0]] as const) {
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir);
      const paths = anchoredTrails();
      cut(party === 'coordinator' ? paths.coordinator : party === 'key-holder' ? paths.keys : paths.site, keep);
      const run = crossCheck(paths);
      expect(run.code).toBe(1);
      const report = JSON.parse(run.stdout) as { logs: { party: string; verification: { ok: boolean; reason?: string } }[]; discrepancies: unknown };
      expect(report.logs.filter((log) => !log.verification.ok)).toEqual([expect.objectContaining({ party, verification: expect.objectContaining({ reason: 'anchor_mismatch' }) })]);
      expect(report.discrepancies).toBeNull();
    }
  });
});

describe('line limits: only the key holder\'s own trail is read with long lines', () => {
  /** A trail whose one entry is about 200 KiB (a key holder's roster of ~2000 sites), written as the key holder writes it. */
  function longEntryTrail(name: string, keyDir: boolean): string {
    const logDir = join(dir, name);
    mkdirSync(logDir, { recursive: true });
    if (keyDir) for (const file of ['plan.json', 'public.key']) writeFileSync(join(logDir, file), '{}');
    const log = AuditLog.open(join(logDir, 'audit.jsonl'), { maxDetailsBytes: 1024 * 1024, maxLineBytes: KEY_HOLDER_AUDIT_LINE_BYTES });
    const fingerprints = Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [`site-${i}`, SHA_A]));
    log.append({ actor: 'key_holder:ada', action: 'roster.pinned', object: 'roster:r', details: { fingerprints } });
    log.close();
    return logDir;
  }

  it('verifies and shows a key directory\'s trail, and cross-checks it as the key holder', () => {
    const keys = longEntryTrail('keys', true);
    expect(verifyAuditDir(keys).verification).toMatchObject({ ok: true, entries: 1 });
    expect(showAuditDir(keys).entries).toHaveLength(1);
    const coordinator = writeLog('coordinator', [{ actor: 'coordinator', action: 'config.loaded', object: 'config:c' }]);
    const report = crossCheckAuditDirs({ coordinatorDir: coordinator, sites: [], keyDir: keys });
    expect(report.logs.find((log) => log.party === 'key-holder')?.verification).toMatchObject({ ok: true, entries: 1 });
  });

  it('reads any other trail with the 64 KiB default: the same long line is malformed there', () => {
    const other = longEntryTrail('coordinator-like', false);
    expect(verifyAuditDir(other).verification).toMatchObject({ ok: false, line: 1, reason: 'malformed' });
  });
});

// The agent's trust controls end to end, driven by a scripted coordinator: signed model bundles under the site's
// approval policy, the site admin's review and approval, subgroup policy, the dataset commitment, and the agent's
// hash-chained audit trail (what it records, that it matches what was received, that an edit is caught).
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveMetricSpec } from '@fedval/metrics';
import type { GroupSpec } from '@fedval/metrics';
import { createMessage } from '@fedval/protocol';
import type { Message } from '@fedval/protocol';
import { AuditLog, crossCheckRound, generateSiteIdentity, readAuditLog, signManifest } from '@fedval/trust';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, runCli } from '../helpers/run-cli.ts';
import { ScriptedCoordinator } from '../helpers/scripted-coordinator.ts';
import { requirePrerequisite } from '../helpers/prerequisites.ts';

const EXAMPLE_MODEL = join(REPO_ROOT, 'examples/rotterdam/model');
const dir = mkdtempSync(join(tmpdir(), 'fedval-agent-trust-'));
const dataFile = join(dir, 'site.csv');

interface BundleFile {
  path: string;
  data: Uint8Array<ArrayBuffer>;
}

function exampleBundle(): { manifest: Record<string, unknown>; files: BundleFile[] } {
  const manifest = JSON.parse(readFileSync(join(EXAMPLE_MODEL, 'manifest.json'), 'utf8')) as Record<string, unknown>;
  const files = (manifest.files as { path: string }[]).map((file) => ({ path: file.path, data: new Uint8Array(readFileSync(join(EXAMPLE_MODEL, file.path))) }));
  return { manifest, files };
}

/** A task scorer for a bundle: the manifest bytes as given, its SHA-256 as the bundle id. */
function modelScorer(manifestBytes: Uint8Array<ArrayBuffer>, files: BundleFile[]) {
  return {
    kind: 'model' as const,
    bundleSha256: createHash('sha256').update(manifestBytes).digest('hex'),
    files: [{ path: 'manifest.json', data: manifestBytes }, ...files],
  };
}

const encode = (value: unknown): Uint8Array<ArrayBuffer> => new TextEncoder().encode(JSON.stringify(value, null, 2));

function task(roundId: string, scorer: ReturnType<typeof modelScorer>, groups: GroupSpec[] = []): Message {
  return createMessage('task', {
    studyId: 'study-trust',
    roundId,
    metricSpec: resolveMetricSpec({ task: 'binary', bins: 100, groups }),
    scorer,
    contribution: { kind: 'plaintext' },
    deadline: Date.now() + 60_000,
  });
}

function writeConfig(name: string, port: number, policy: string): string {
  const path = join(dir, `${name}.yaml`);
  writeFileSync(
    path,
    [
      `coordinator: ws://127.0.0.1:${port}/ws`,
      `site_id: ${name}`,
      'token: trust-test-token-0123456789',
      'data: { path: ./site.csv, label: { column: event5y, positive: "1", negative: "0" } }',
      `data_dir: ./${name}-state`,
      `policy: { allowed_contributions: [plaintext], require_dp: false, min_cohort: 1, ${policy} }`,
      'limits: { reconnect_initial_ms: 100, reconnect_max_ms: 400 }',
    ].join('\n'),
  );
  return path;
}

function startAgent(config: string): { child: ChildProcess; stderr: () => string } {
  const child = spawn(process.execPath, ['site-agent/src/main.ts', 'start', '--config', config], { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return { child, stderr: () => stderr };
}

async function reply(coordinator: ScriptedCoordinator, message: Message): Promise<Message> {
  coordinator.send(message);
  return coordinator.next((m) => (m.type === 'task.refuse' || m.type === 'task.result') && m.content.roundId === (message as { content: { roundId: string } }).content.roundId);
}

const refusal = (message: Message): string | undefined => (message.type === 'task.refuse' ? message.content.reason.code : undefined);

describe('site agent trust controls', () => {
  const manualSite = new ScriptedCoordinator();
  const listSite = new ScriptedCoordinator();
  const children: ChildProcess[] = [];
  const example = exampleBundle();
  const exampleFingerprint = createHash('sha256').update(Buffer.from((example.manifest.signature as { publicKey: string }).publicKey, 'base64')).digest('hex');
  // A second sponsor, not trusted by either site: the same model under another name, signed with a fresh key.
  const otherSponsor = generateSiteIdentity();
  const otherManifest = { ...example.manifest, name: 'rotterdam-rfs5y-other-sponsor' };
  const otherSigned = { ...otherManifest, signature: signManifest(otherManifest, otherSponsor.privateKeyPem) };
  const otherFingerprint = createHash('sha256').update(Buffer.from(otherSigned.signature.publicKey, 'base64')).digest('hex');
  const otherScorer = modelScorer(encode(otherSigned), example.files);
  let manualConfig = '';

  beforeAll(() => {
    copyFileSync(join(REPO_ROOT, 'examples/rotterdam/data/site-b.csv'), dataFile);
    manualConfig = writeConfig('site-manual', manualSite.port, `model_approval: manual, trusted_sponsor_keys: [${exampleFingerprint}], allowed_group_columns: [meno]`);
    const listConfig = writeConfig('site-list', listSite.port, `model_approval: allow_list, trusted_sponsor_keys: [${exampleFingerprint}]`);
    children.push(startAgent(manualConfig).child, startAgent(listConfig).child);
  });

  afterAll(async () => {
    children.forEach((child) => child.kill('SIGKILL'));
    await Promise.all([manualSite.close(), listSite.close()]);
  });

  it('checks the example bundle signature with OpenSSL, independently of fedval', () => {
    // Canonical JSON of this manifest (RFC 8785) is Python's sorted, compact json.dumps: its numbers print the same.
    const { signature, ...unsigned } = example.manifest as { signature: { publicKey: string; value: string } };
    const python = `import json,sys; m=json.load(open(sys.argv[1])); m.pop('signature'); sys.stdout.write(json.dumps(m, sort_keys=True, separators=(',',':'), ensure_ascii=False))`;
    const payload = execFileSync(requirePrerequisite('python3'), ['-c', python, join(EXAMPLE_MODEL, 'manifest.json')]);
    expect(Object.keys(unsigned).length).toBeGreaterThan(5);
    writeFileSync(join(dir, 'payload.bin'), payload);
    writeFileSync(join(dir, 'signature.bin'), Buffer.from(signature.value, 'base64'));
    // Ed25519 SubjectPublicKeyInfo (RFC 8410): a fixed 12-byte prefix, then the raw 32-byte key.
    writeFileSync(join(dir, 'sponsor.der'), Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(signature.publicKey, 'base64')]));
    const verified = execFileSync('openssl', ['pkeyutl', '-verify', '-pubin', '-keyform', 'DER', '-inkey', join(dir, 'sponsor.der'), '-rawin', '-in', join(dir, 'payload.bin'), '-sigfile', join(dir, 'signature.bin')]);
    expect(verified.toString()).toContain('Signature Verified Successfully');
    // The example site configurations trust exactly this key.
    for (const site of ['a', 'b', 'c']) expect(readFileSync(join(REPO_ROOT, `examples/rotterdam/sites/site-${site}.yaml`), 'utf8')).toContain(exampleFingerprint);
  });

  it('refuses tampered and mis-signed bundles, holds unapproved ones until the site admin approves, and enforces subgroup policy', async () => {
    await manualSite.next((m) => m.type === 'hello');
    const exampleBytes = new Uint8Array(readFileSync(join(EXAMPLE_MODEL, 'manifest.json')));

    const tamperedFiles = example.files.map((file) => (file.path === 'weights.bin' ? { ...file, data: file.data.map((byte, i) => (i === 0 ? byte ^ 0x01 : byte)) } : file));
    const tampered = await reply(manualSite, task('r-tampered', modelScorer(exampleBytes, tamperedFiles)));
    expect(refusal(tampered)).toBe('FEDVAL_ERR_AGENT_MODEL');
    expect(tampered.type === 'task.refuse' && tampered.content.reason.message).toContain('FEDVAL_ERR_MODELS_HASH_MISMATCH');

    const misSigned = encode({ ...example.manifest, description: 'the same signature over different words' });
    expect(refusal(await reply(manualSite, task('r-missigned', modelScorer(misSigned, example.files))))).toBe('FEDVAL_ERR_AGENT_MODEL_SIGNATURE');

    expect(refusal(await reply(manualSite, task('r-pending', otherScorer)))).toBe('FEDVAL_ERR_AGENT_MODEL_NOT_APPROVED');
    const listed = await runCli('fedval-agent', ['models', '--config', manualConfig, '--pending', '--json']);
    expect(listed.code).toBe(0);
    expect(JSON.parse(listed.stdout).models).toEqual([
      expect.objectContaining({
        bundleSha256: otherScorer.bundleSha256,
        name: 'rotterdam-rfs5y-other-sponsor',
        signerFingerprint: otherFingerprint,
        inputs: ['age', 'meno', 'size', 'grade', 'nodes', 'pgr', 'er', 'hormon'],
        status: 'pending approval',
      }),
    ]);
    expect(readFileSync(join(dir, 'site-manual-state/models', otherScorer.bundleSha256, 'manifest.json'))).toEqual(Buffer.from(otherScorer.files[0]!.data));

    const unknown = await runCli('fedval-agent', ['approve', 'e'.repeat(64), '--config', manualConfig]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('FEDVAL_ERR_AGENT_MODEL_UNKNOWN');
    const approve = await runCli('fedval-agent', ['approve', otherScorer.bundleSha256, '--config', manualConfig, '--note', 'reviewed by the site committee']);
    expect(approve.stderr).toBe('');
    expect(approve.code).toBe(0);

    const result = await reply(manualSite, task('r-approved', otherScorer, [{ column: 'meno', levels: ['0', '1'] }]));
    if (result.type !== 'task.result' || result.content.contribution.kind !== 'plaintext') throw new Error(`expected a result, got ${refusal(result)}`);
    const { vector } = result.content.contribution;
    const receivedSha256 = createHash('sha256').update(new Uint8Array(vector.buffer, vector.byteOffset, vector.byteLength)).digest('hex');
    expect(result.content.contributionSha256).toBe(receivedSha256);

    expect(refusal(await reply(manualSite, task('r-groups', otherScorer, [{ column: 'grade', levels: ['1', '2', '3'] }])))).toBe('FEDVAL_ERR_AGENT_POLICY_GROUPS');

    // The site's audit trail: the sent hash equals what the coordinator received, and a coordinator log recording that
    // receipt cross-checks clean with the site's log.
    const auditPath = join(dir, 'site-manual-state/audit.jsonl');
    const { verification, entries } = readAuditLog(auditPath);
    expect(verification.ok).toBe(true);
    const sent = entries.filter((entry) => entry.action === 'contribution.sent');
    expect(sent).toHaveLength(1);
    expect(sent[0]!.details).toMatchObject({ site: 'site-manual', round: 'r-approved', sha256: receivedSha256, bytes: vector.byteLength, kind: 'plaintext', epsilon: null });
    const coordinatorLog = AuditLog.open(join(dir, 'coordinator-audit.jsonl'));
    coordinatorLog.append({ actor: 'coordinator', action: 'contribution.received', object: 'round:r-approved', details: { site: 'site-manual', sha256: receivedSha256 } });
    coordinatorLog.close();
    const coordinatorEntries = readAuditLog(join(dir, 'coordinator-audit.jsonl')).entries;
    expect(crossCheckRound({ 'site-manual': entries }, coordinatorEntries, 'r-approved')).toEqual([]);
    expect(entries.map((entry) => `${entry.action} ${entry.object.startsWith('model:') ? 'model' : entry.object}${entry.reason ? ` ${entry.reason}` : ''}`)).toEqual([
      'config.loaded config:site-manual.yaml',
      `connection.established coordinator:ws://127.0.0.1:${manualSite.port}/ws`,
      'task.received round:r-tampered',
      'model.verified model',
      'task.accepted round:r-tampered',
      'task.refused round:r-tampered FEDVAL_ERR_AGENT_MODEL',
      'task.received round:r-missigned',
      'task.refused round:r-missigned FEDVAL_ERR_AGENT_MODEL_SIGNATURE',
      'task.received round:r-pending',
      'model.verified model',
      'task.refused round:r-pending FEDVAL_ERR_AGENT_MODEL_NOT_APPROVED',
      'model.approved model reviewed by the site committee',
      'task.received round:r-approved',
      'model.verified model',
      'task.accepted round:r-approved',
      'dataset.committed round:r-approved',
      'contribution.sent round:r-approved',
      'task.received round:r-groups',
      'task.refused round:r-groups FEDVAL_ERR_AGENT_POLICY_GROUPS',
    ]);
    expect(entries[0]!.details.sha256).toBe(createHash('sha256').update(readFileSync(manualConfig)).digest('hex'));
    expect(entries.find((entry) => entry.action === 'model.approved')).toMatchObject({ actor: 'site_admin', details: { bundle_sha256: otherScorer.bundleSha256, signer: otherFingerprint } });

    // The dataset commitment: only the commitment left; the inspector's proof opens it to the file's SHA-256.
    const attestation = result.content.attestation as { dataset_commitment: string; audit_head: { seq: number; hash: string } };
    expect(attestation.audit_head).toEqual({ seq: sent[0]!.seq, hash: sent[0]!.hash });
    const prove = await runCli('fedval-agent', ['audit', 'prove', '--round', 'r-approved', '--config', manualConfig, '--json']);
    expect(prove.code).toBe(0);
    const [proof] = JSON.parse(prove.stdout).commitments as { fingerprint: string; salt: string; commitment: string }[];
    expect(proof!.commitment).toBe(attestation.dataset_commitment);
    expect(proof!.fingerprint).toBe(execFileSync('sha256sum', [dataFile]).toString().split(' ')[0]);
    const opened = execFileSync(requirePrerequisite('python3'), ['-c', 'import hashlib,sys; print(hashlib.sha256(bytes.fromhex(sys.argv[1]) + bytes.fromhex(sys.argv[2])).hexdigest())', proof!.salt, proof!.fingerprint]);
    expect(opened.toString().trim()).toBe(attestation.dataset_commitment);
    for (const secret of [proof!.fingerprint, proof!.salt]) expect(JSON.stringify(result.content.attestation)).not.toContain(secret);

    const shown = await runCli('fedval-agent', ['audit', 'show', '--round', 'r-approved', '--config', manualConfig]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain(`contribution.sent round:r-approved`);
    expect(shown.stdout).toContain(`sha256=${receivedSha256}`);
    expect(shown.stdout).not.toContain('r-pending');
  }, 90_000);

  it('under allow_list, runs only bundles signed by a trusted sponsor', async () => {
    await listSite.next((m) => m.type === 'hello');
    expect(refusal(await reply(listSite, task('l-other', otherScorer)))).toBe('FEDVAL_ERR_AGENT_MODEL_UNTRUSTED');
    const { signature: _signature, ...unsigned } = example.manifest;
    expect(refusal(await reply(listSite, task('l-unsigned', modelScorer(encode(unsigned), example.files))))).toBe('FEDVAL_ERR_AGENT_MODEL_SIGNATURE');
    const exampleBytes = new Uint8Array(readFileSync(join(EXAMPLE_MODEL, 'manifest.json')));
    const result = await reply(listSite, task('l-example', modelScorer(exampleBytes, example.files)));
    expect(result.type).toBe('task.result');
  }, 60_000);

  it('audit verify exits 0 on the intact log and names the first edited line', async () => {
    const intact = await runCli('fedval-agent', ['audit', 'verify', '--dir', join(dir, 'site-manual-state')]);
    expect(intact.code).toBe(0);
    expect(intact.stdout).toMatch(/intact, \d+ entries/);
    children.forEach((child) => child.kill('SIGKILL'));
    const path = join(dir, 'site-manual-state/audit.jsonl');
    const lines = readFileSync(path, 'utf8').split('\n');
    expect(lines[6]).toContain('"object":"round:r-missigned"');
    lines[6] = lines[6]!.replace('"object":"round:r-missigned"', '"object":"round:r-missigneX"');
    writeFileSync(path, lines.join('\n'));
    const broken = await runCli('fedval-agent', ['audit', 'verify', '--config', manualConfig]);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toContain('FEDVAL_ERR_AGENT_AUDIT');
    expect(broken.stderr).toContain('line 7 (seq 7): hash_mismatch');
    const json = await runCli('fedval-agent', ['audit', 'verify', '--config', manualConfig, '--json']);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, line: 7, seq: 7, reason: 'hash_mismatch', intactEntries: 6 });
  }, 30_000);
});

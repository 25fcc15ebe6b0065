// Canary test: plant unmistakable values in a site's data (names, identifiers, an exact unusual feature value the
// model reads, a unique label string), run a real encrypted, noised round with the signed example model, and search
// every byte the agent sent, every line it logged (at trace level) and every line it audited for any of them, in
// UTF-8, UTF-16 and as float64/float32 in both byte orders.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPrivateRelease, resolvePrivacySpec } from '@fedval/dp';
import { createHeContext, decryptVector, EncryptedSum, generateKeyPair, planBfvParameters, planSha256 } from '@fedval/he';
import { generateSiteIdentity, signStudyKeyStatement } from '@fedval/trust';
import type { HeContext, HeKeyPair } from '@fedval/he';
import { createStatisticsLayout, resolveMetricSpec } from '@fedval/metrics';
import { createMessage } from '@fedval/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/run-cli.ts';
import { ScriptedCoordinator } from '../helpers/scripted-coordinator.ts';

const dir = mkdtempSync(join(tmpdir(), 'fedval-canary-'));
const MODEL = join(REPO_ROOT, 'examples/rotterdam/model');
const METRIC_SPEC = resolveMetricSpec({ task: 'binary', bins: 100, groups: [{ column: 'meno', levels: ['0', '1'] }] });

const CANARY_NAME = 'Canarina Quixotewell';
const CANARY_MRN = 'MRN-CANARY-7Q4Z';
const CANARY_LABEL = 'CANARY-LABEL-Xq7';
const CANARY_AGE = 123.456789; // an age the model reads (standardized), in no real record

/** Every encoding under which a canary could leave: texts as UTF-8 and UTF-16LE, the number also as IEEE 754 bytes. */
function encodings(): { name: string; bytes: Buffer }[] {
  const texts = [CANARY_NAME, CANARY_MRN, CANARY_LABEL, String(CANARY_AGE)];
  const number = (write: (b: Buffer) => void, size: number) => {
    const b = Buffer.alloc(size);
    write(b);
    return b;
  };
  return [
    ...texts.map((text) => ({ name: `utf8 ${text}`, bytes: Buffer.from(text, 'utf8') })),
    ...texts.map((text) => ({ name: `utf16le ${text}`, bytes: Buffer.from(text, 'utf16le') })),
    { name: 'float64le', bytes: number((b) => b.writeDoubleLE(CANARY_AGE), 8) },
    { name: 'float64be', bytes: number((b) => b.writeDoubleBE(CANARY_AGE), 8) },
    { name: 'float32le', bytes: number((b) => b.writeFloatLE(CANARY_AGE), 4) },
    { name: 'float32be', bytes: number((b) => b.writeFloatBE(CANARY_AGE), 4) },
  ];
}

function canariesIn(haystack: Buffer): string[] {
  return encodings()
    .filter(({ bytes }) => haystack.includes(bytes))
    .map(({ name }) => name);
}

/** GBSG premenopausal site data with identifying columns and canary rows added. */
function writeCanaryData(path: string): void {
  const [header, ...rows] = readFileSync(join(REPO_ROOT, 'examples/rotterdam/data/site-b.csv'), 'utf8').trimEnd().split('\n');
  const lines = rows.map((row, i) => `${CANARY_NAME} ${i},${CANARY_MRN}-${i},${row}`);
  // header: age,meno,size,grade,nodes,pgr,er,hormon,event5y
  lines.push(`${CANARY_NAME} X,${CANARY_MRN}-X,${CANARY_AGE},0,20-50,2,3,40,30,0,1`);
  lines.push(`${CANARY_NAME} Y,${CANARY_MRN}-Y,51,0,<=20,2,1,10,10,0,${CANARY_LABEL}`);
  writeFileSync(path, `patient_name,mrn,${header}\n${lines.join('\n')}\n`);
}

describe('canary values planted in site data', () => {
  const coordinator = new ScriptedCoordinator();
  const frames: Buffer[] = [];
  let agent: ChildProcess | undefined;
  let stderr = '';
  let he: HeContext | undefined;
  let keys: HeKeyPair | undefined;

  beforeAll(() => {
    // Every byte the agent sends, as it arrives, before any decoding.
    coordinator.server.on('connection', (socket) => socket.on('message', (data: Buffer) => frames.push(Buffer.from(data))));
  });

  afterAll(async () => {
    agent?.kill('SIGKILL');
    he?.dispose();
    await coordinator.close();
  });

  it('never leave the site: not on the wire, not in the logs, not in the audit trail', async () => {
    const dataPath = join(dir, 'site.csv');
    writeCanaryData(dataPath);
    // Positive controls: the search finds each planted text in the data file, and the number in a float64 vector.
    expect(canariesIn(readFileSync(dataPath))).toEqual(expect.arrayContaining([`utf8 ${CANARY_NAME}`, `utf8 ${CANARY_MRN}`, `utf8 ${CANARY_LABEL}`, `utf8 ${CANARY_AGE}`]));
    expect(canariesIn(Buffer.from(new Float64Array([1, CANARY_AGE, 2]).buffer))).toEqual(['float64le']);

    const manifest = JSON.parse(readFileSync(join(MODEL, 'manifest.json'), 'utf8')) as { files: { path: string }[]; signature: { publicKey: string } };
    const sponsor = createHash('sha256').update(Buffer.from(manifest.signature.publicKey, 'base64')).digest('hex');
    const keyHolder = generateSiteIdentity();
    writeFileSync(
      join(dir, 'site.yaml'),
      [
        `coordinator: ws://127.0.0.1:${coordinator.port}/ws`,
        'site_id: site-canary',
        'token: canary-test-token-0123456789',
        'data: { path: ./site.csv, label: { column: event5y, positive: "1", negative: "0" } }',
        'data_dir: ./state',
        // The key holder key is pinned (it vouches for the study key); the plan below is sized for 1,000 patients.
        // Unmasked encrypted contributions allowed: this one-site scripted coordinator runs no secure aggregation, and
        // the unmasked bytes are the worst case for the canary search (masks would only add uniform values on top).
        `policy: { model_approval: allow_list, trusted_sponsor_keys: [${sponsor}], min_sites: 1, key_holder_keys: [${keyHolder.fingerprint}], min_plan_patients: 1000, require_secure_aggregation: false }`,
        'log_level: trace',
      ].join('\n'),
    );
    agent = spawn(process.execPath, ['site-agent/src/main.ts', 'start', '--config', join(dir, 'site.yaml')], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    agent.stdout!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    agent.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    await coordinator.next((m) => m.type === 'hello');

    // The study's protection, planned as the coordinator plans it: DP release vector, BFV parameters sized for it.
    const layout = createStatisticsLayout(METRIC_SPEC);
    const privacy = resolvePrivacySpec({ epsilon: 1, delta: 1e-6, minSites: 1, layout: { kind: 'flat', bins: 20 } } as never, { layout });
    const release = createPrivateRelease(layout, privacy);
    const bounds = release.entryMaxAbsPerSite(1000);
    const plan = planBfvParameters({ vectorLength: release.length, maxSites: 1, maxAbsPerSite: bounds.reduce((m, b) => Math.max(m, b), 1), entryMaxAbs: bounds });
    he = await createHeContext(plan);
    keys = generateKeyPair(he);
    const manifestBytes = new Uint8Array(readFileSync(join(MODEL, 'manifest.json')));
    coordinator.send(
      createMessage('task', {
        studyId: 'study-canary',
        roundId: 'round-canary',
        metricSpec: METRIC_SPEC,
        scorer: {
          kind: 'model',
          bundleSha256: createHash('sha256').update(manifestBytes).digest('hex'),
          files: [{ path: 'manifest.json', data: manifestBytes }, ...manifest.files.map((file) => ({ path: file.path, data: new Uint8Array(readFileSync(join(MODEL, file.path))) }))],
        },
        contribution: {
          kind: 'bfv',
          plan: JSON.parse(JSON.stringify(plan)),
          publicKey: new Uint8Array(keys.publicKey),
          keyStatement: signStudyKeyStatement(keyHolder.privateKeyPem, {
            studyId: 'study-canary', planSha256: planSha256(plan), publicKeySha256: createHash('sha256').update(keys.publicKey).digest('hex'), minSites: 1,
            roster: [{ siteId: 'site-canary', fingerprint: '0'.repeat(64) }], rosterSha256: '0'.repeat(64), issuedAt: Date.now(), version: 1,
          }),
        },
        privacy: JSON.parse(JSON.stringify(privacy)),
        deadline: Date.now() + 120_000,
      }),
    );
    const result = await coordinator.next((m) => m.type === 'task.result' || m.type === 'task.refuse', 90_000);
    if (result.type !== 'task.result' || result.content.contribution.kind !== 'bfv') throw new Error(`expected an encrypted result, got ${JSON.stringify(result)}`);
    // The round really ran: the ciphertexts decrypt to a release vector of the planned length.
    const sum = new EncryptedSum(he);
    sum.add({ ciphertexts: result.content.contribution.ciphertexts });
    const decrypted = decryptVector(he, keys.secretKey, sum.toEncryptedVector(), 1);
    expect(decrypted.length).toBe(release.length);

    // Stop the agent so that every log line it wrote has been read.
    const exited = new Promise((resolve) => agent!.once('exit', resolve));
    agent.kill('SIGTERM');
    await exited;
    const audit = readFileSync(join(dir, 'state/audit.jsonl'));
    expect(audit.toString()).toContain('"action":"contribution.sent"');
    expect(stderr).toContain('contribution sent');
    expect(frames.length).toBeGreaterThan(3);

    expect(canariesIn(Buffer.concat(frames)), 'bytes sent').toEqual([]);
    expect(canariesIn(Buffer.from(stderr)), 'agent log').toEqual([]);
    expect(canariesIn(audit), 'audit trail').toEqual([]);
  }, 120_000);
});

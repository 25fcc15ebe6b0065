import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { COORD_ERRORS } from './errors.ts';
import { expectControlCharactersRefused } from './test-support/control-character-requests.ts';
import { API_TOKENS, startTestCoordinator } from './test-support/protocol-site.ts';
import type { RunningCoordinator } from './test-support/protocol-site.ts';

let running: RunningCoordinator | undefined;
afterEach(async () => {
  await running?.stop();
  running = undefined;
});
async function start(limits: Record<string, number> = {}): Promise<RunningCoordinator> {
  running = await startTestCoordinator(limits);
  return running;
}

const sha = (data: string): string => createHash('sha256').update(data).digest('hex');
const b64 = (data: string): string => Buffer.from(data).toString('base64');
const study = { name: 's', score_column: 'score', metric_spec: { bins: 100 }, sites: ['site-a', 'site-b'], contribution: 'plaintext' };

function expectError(response: { status: number; body: any }, code: keyof typeof COORD_ERRORS | `FEDVAL_ERR_${string}`, status?: number): void {
  const expectedStatus = status ?? (COORD_ERRORS as Record<string, readonly [string, number]>)[code]?.[1];
  expect(response.status).toBe(expectedStatus);
  expect(response.body).toEqual({ error: { code, message: expect.any(String) } });
}

describe('models', () => {
  it('registers a bundle, returns it by id, and refuses tampered or traversing uploads', async () => {
    const server = await start();
    const manifest_json = JSON.stringify({ name: 'toy', version: '1.2', format: 'tfjs', files: [{ path: 'model.json', sha256: sha('{}') }] });
    const created = await server.api('POST', '/api/models', { manifest_json, files: [{ path: 'model.json', data_base64: b64('{}') }] });
    expect(created).toEqual({ status: 201, body: { model_id: sha(manifest_json), name: 'toy', version: '1.2' } });
    expect((await server.api('POST', '/api/models', { manifest_json, files: [{ path: 'model.json', data_base64: b64('{}') }] })).status).toBe(200);
    const fetched = await server.api('GET', `/api/models/${sha(manifest_json)}`);
    expect(fetched.body).toMatchObject({ model_id: sha(manifest_json), format: 'tfjs', files: [{ path: 'model.json', sha256: sha('{}'), bytes: 2 }] });

    expectError(await server.api('POST', '/api/models', { manifest_json, files: [{ path: 'model.json', data_base64: b64('{ }') }] }), 'FEDVAL_ERR_COORD_MODEL_FILES');
    const traversal = JSON.stringify({ name: 't', version: '1', format: 'onnx', files: [{ path: '../../etc/cron.d/x', sha256: sha('x') }] });
    expectError(await server.api('POST', '/api/models', { manifest_json: traversal, files: [] }), 'FEDVAL_ERR_COORD_UNSAFE_PATH');
    expectError(await server.api('POST', '/api/models', { manifest: {}, files: [] }), 'FEDVAL_ERR_COORD_INVALID_REQUEST');
    expectError(await server.api('GET', `/api/models/${'0'.repeat(64)}`), 'FEDVAL_ERR_COORD_MODEL_NOT_FOUND');
    expectError(await server.api('GET', '/api/models/not-an-id'), 'FEDVAL_ERR_COORD_INVALID_REQUEST');
  });

  it('refuses a body over body_limit_bytes with 413', async () => {
    const server = await start({ body_limit_bytes: 1024 });
    expectError(await server.api('POST', '/api/models', { manifest_json: 'x'.repeat(2048), files: [] }), 'FEDVAL_ERR_COORD_BODY_TOO_LARGE');
  });
});

describe('studies', () => {
  it('creates a study with the resolved metric spec and the default quorum and deadline', async () => {
    const server = await start();
    const created = await server.api('POST', '/api/studies', study);
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ name: 's', model_id: null, score_column: 'score', sites: ['site-a', 'site-b'], quorum: 2, deadline_seconds: 600, contribution: 'plaintext' });
    expect(created.body.metric_spec).toMatchObject({ task: 'binary', bins: 100, threshold: 0.5, calibration_bins: 10 });
    expect((await server.api('GET', `/api/studies/${created.body.study_id}`)).body).toEqual(created.body);
  });

  it('refuses each kind of bad study with its own code, naming the problem', async () => {
    const server = await start();
    const both = await server.api('POST', '/api/studies', { ...study, model_id: 'a'.repeat(64) });
    expectError(both, 'FEDVAL_ERR_COORD_INVALID_REQUEST');
    expect(both.body.error.message).toContain('exactly one of model_id and score_column');
    const unknownKey = await server.api('POST', '/api/studies', { ...study, surprise: {} });
    expectError(unknownKey, 'FEDVAL_ERR_COORD_INVALID_REQUEST');
    expect(unknownKey.body.error.message).toContain('unknown property "body.surprise"');
    const quorum = await server.api('POST', '/api/studies', { ...study, quorum: 3 });
    expect(quorum.body.error.message).toContain('body.quorum');
    const unknownSite = await server.api('POST', '/api/studies', { ...study, sites: ['site-a', 'site-x'] });
    expectError(unknownSite, 'FEDVAL_ERR_COORD_UNKNOWN_SITE');
    expect(unknownSite.body.error.message).toContain('"site-x"');
    expectError(await server.api('POST', '/api/studies', { ...study, score_column: undefined, model_id: 'b'.repeat(64) }), 'FEDVAL_ERR_COORD_UNKNOWN_MODEL');
    // The metric spec is parsed at the boundary with @fedval/metrics' input schema: its problems name the fields as written.
    const badSpec = await server.api('POST', '/api/studies', { ...study, metric_spec: { bins: 1, calibrationBins: 10 } });
    expectError(badSpec, 'FEDVAL_ERR_COORD_INVALID_REQUEST');
    expect(badSpec.body.error.message).toContain('body.metric_spec.bins');
    expect(badSpec.body.error.message).toContain('unknown property "body.metric_spec.calibrationBins"');
    expectError(await server.api('POST', '/api/studies', { ...study, contribution: 'paillier' }), 'FEDVAL_ERR_COORD_INVALID_REQUEST');
    expectError(await server.api('GET', '/api/studies/00000000-0000-4000-8000-000000000000'), 'FEDVAL_ERR_COORD_STUDY_NOT_FOUND');
    expectError(await server.api('POST', '/api/studies/00000000-0000-4000-8000-000000000000/rounds'), 'FEDVAL_ERR_COORD_STUDY_NOT_FOUND');
    expectError(await server.api('GET', '/api/rounds/00000000-0000-4000-8000-000000000000'), 'FEDVAL_ERR_COORD_ROUND_NOT_FOUND');
  });

  it('refuses a control character in any free-text field with a coded 400 and stores nothing (SQLite; PostgreSQL: postgres-coordinator.test.ts)', async () => {
    const server = await start();
    await expectControlCharactersRefused(server.api, ['site-a', 'site-b'], ['\u0000', '\u0009', '\u000a', '\u001b', '\u001f', '\u007f']);
  });

  it('refuses, by default, a study whose release needs fewer than 3 sites (FEDVAL_ERR_COORD_RELEASE_MINIMUM)', async () => {
    const server = await start({ min_release_sites: 3 }); // the production default (DEFAULT_LIMITS)
    const threeSites = ['site-a', 'site-b', 'site-c'];
    expectError(await server.api('POST', '/api/studies', study), 'FEDVAL_ERR_COORD_RELEASE_MINIMUM'); // two sites
    expectError(await server.api('POST', '/api/studies', { ...study, sites: threeSites, release: { min_sites: 2 } }), 'FEDVAL_ERR_COORD_RELEASE_MINIMUM');
    expectError(await server.api('POST', '/api/studies', { ...study, release: { min_sites: 3 } }), 'FEDVAL_ERR_COORD_RELEASE_MINIMUM'); // 3 of 2 sites
    const created = await server.api('POST', '/api/studies', { ...study, sites: threeSites });
    expect(created.status).toBe(201);
    expect(created.body.release).toEqual({ min_sites: 3 });
  });

  it('lists models, studies and the rounds of a study, oldest first', async () => {
    const server = await start();
    expect((await server.api('GET', '/api/models')).body).toEqual([]);
    expect((await server.api('GET', '/api/studies')).body).toEqual([]);
    const manifests = ['first', 'second'].map((name) => JSON.stringify({ name, version: '1', format: 'tfjs', files: [{ path: 'model.json', sha256: sha('{}') }] }));
    for (const manifest_json of manifests) await server.api('POST', '/api/models', { manifest_json, files: [{ path: 'model.json', data_base64: b64('{}') }] });
    const models = (await server.api('GET', '/api/models', undefined, 'auditor')).body as { model_id: string; name: string }[];
    expect(models.map((model) => [model.model_id, model.name])).toEqual([[sha(manifests[0]!), 'first'], [sha(manifests[1]!), 'second']]);

    const first = (await server.api('POST', '/api/studies', { ...study, name: 'first' })).body;
    const second = (await server.api('POST', '/api/studies', { ...study, name: 'second' })).body;
    const studies = (await server.api('GET', '/api/studies', undefined, 'privacy_officer')).body as { study_id: string }[];
    expect(studies).toEqual([first, second]);

    expect((await server.api('GET', `/api/studies/${second.study_id}/rounds`)).body).toEqual([]);
    const round = (await server.api('POST', `/api/studies/${first.study_id}/rounds`)).body.round_id as string;
    const listed = (await server.api('GET', `/api/studies/${first.study_id}/rounds`)).body as { round_id: string }[];
    expect(listed.map((each) => each.round_id)).toEqual([round]);
    expect(listed[0]).toEqual((await server.api('GET', `/api/rounds/${round}`)).body);
    expect((await server.api('GET', `/api/studies/${second.study_id}/rounds`)).body).toEqual([]);
    expectError(await server.api('GET', '/api/studies/00000000-0000-4000-8000-000000000000/rounds'), 'FEDVAL_ERR_COORD_STUDY_NOT_FOUND');
  });

  it('answers malformed JSON, a wrong content type and unknown routes with coded errors', async () => {
    const server = await start();
    const authorization = `Bearer ${API_TOKENS.sponsor}`;
    const malformed = await fetch(`${server.url}/api/studies`, { method: 'POST', headers: { authorization, 'content-type': 'application/json' }, body: '{"name":' });
    expectError({ status: malformed.status, body: await malformed.json() }, 'FEDVAL_ERR_COORD_INVALID_REQUEST');
    const text = await fetch(`${server.url}/api/studies`, { method: 'POST', headers: { authorization, 'content-type': 'text/plain' }, body: 'hello' });
    expectError({ status: text.status, body: await text.json() }, 'FEDVAL_ERR_COORD_UNSUPPORTED_MEDIA_TYPE');
    expectError(await server.api('GET', '/api/nothing'), 'FEDVAL_ERR_COORD_NOT_FOUND');
  });
});

// control-character-requests.ts — test support: REST requests each carrying one control character in one free-text field, and the coded refusal each must get on any store.
import { createHash } from 'node:crypto';
import { expect } from 'vitest';

/** One request of the probe: a REST call (or a console page) and the refusal a coordinator must answer with. */
export interface ControlCharacterRequest {
  /** The field that carries the control character. */
  field: string;
  method: 'GET' | 'POST';
  path: string;
  body?: unknown;
  /** null: the public enrollment route, no token. */
  role: 'sponsor' | 'admin' | null;
  code: string;
  status: number;
}

const sha = (data: string): string => createHash('sha256').update(data).digest('hex');

/** The requests of the probe with `character` in each free-text field, for a coordinator that knows `sites` (two at least). */
export function controlCharacterRequests(sites: readonly string[], character: string): ControlCharacterRequest[] {
  const study = { name: 'probe', score_column: 'score', metric_spec: { bins: 50 }, sites: [...sites], contribution: 'plaintext', release: { min_sites: sites.length } };
  const bad = `a${character}b`;
  const manifest = (name: string, version: string) => JSON.stringify({ name, version, format: 'onnx', files: [{ path: 'model.onnx', sha256: sha('x') }] });
  const files = [{ path: 'model.onnx', data_base64: Buffer.from('x').toString('base64') }];
  const invalid = { code: 'FEDVAL_ERR_COORD_INVALID_REQUEST', status: 400 } as const;
  const invalidManifest = { code: 'FEDVAL_ERR_COORD_INVALID_MANIFEST', status: 400 } as const;
  return [
    { field: 'study name', method: 'POST', path: '/api/studies', body: { ...study, name: bad }, role: 'sponsor', ...invalid },
    { field: 'score_column', method: 'POST', path: '/api/studies', body: { ...study, score_column: bad }, role: 'sponsor', ...invalid },
    { field: 'site id of a study', method: 'POST', path: '/api/studies', body: { ...study, sites: [sites[0], bad] }, role: 'sponsor', ...invalid },
    { field: 'metric_spec group column', method: 'POST', path: '/api/studies', body: { ...study, metric_spec: { bins: 50, groups: [{ column: bad, cuts: [50] }] } }, role: 'sponsor', ...invalid },
    { field: 'metric_spec group level', method: 'POST', path: '/api/studies', body: { ...study, metric_spec: { bins: 50, groups: [{ column: 'sex', levels: ['f', bad] }] } }, role: 'sponsor', ...invalid },
    { field: 'model name', method: 'POST', path: '/api/models', body: { manifest_json: manifest(bad, '1'), files }, role: 'sponsor', ...invalidManifest },
    { field: 'model version', method: 'POST', path: '/api/models', body: { manifest_json: manifest('probe', bad), files }, role: 'sponsor', ...invalidManifest },
    { field: 'model file path', method: 'POST', path: '/api/models', body: { manifest_json: manifest('probe', '1'), files: [{ ...files[0], path: bad }] }, role: 'sponsor', ...invalid },
    {
      field: 'enrollment token',
      method: 'POST',
      path: '/api/enroll',
      body: { site_id: sites[0], enrollment_token: `${'t'.repeat(20)}${character}`, public_key: 'A'.repeat(43) + '=', signature: 'A'.repeat(86) + '==' },
      role: null,
      ...invalid,
    },
    { field: 'site id in a path', method: 'POST', path: `/api/sites/${encodeURIComponent(bad)}/enrollment-token`, role: 'admin', ...invalid },
  ];
}

/** Sends every probe request through `api` and expects its coded refusal; then checks that no model and no study was stored. */
export async function expectControlCharactersRefused(
  api: (method: string, path: string, body?: unknown, role?: 'sponsor' | 'admin' | null) => Promise<{ status: number; body: any }>,
  sites: readonly string[],
  characters: readonly string[],
): Promise<void> {
  const stored = async () => ({ models: (await api('GET', '/api/models', undefined, 'sponsor')).body, studies: (await api('GET', '/api/studies', undefined, 'sponsor')).body });
  const before = await stored();
  for (const character of characters) {
    const label = `U+${character.charCodeAt(0).toString(16).padStart(4, '0')}`;
    for (const probe of controlCharacterRequests(sites, character)) {
      const response = await api(probe.method, probe.path, probe.body, probe.role);
      expect(response, `${probe.field} with ${label}`).toEqual({ status: probe.status, body: { error: { code: probe.code, message: expect.any(String) } } });
    }
  }
  expect(await stored()).toEqual(before);
}

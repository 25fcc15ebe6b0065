// coordinator-client.ts — the coordinator's REST API as typed calls: every response parsed with the schemas of @fedval/protocol.
import {
  apiErrorSchema,
  enrollmentTokenResponseSchema,
  modelListResponseSchema,
  modelRegisteredResponseSchema,
  modelViewSchema,
  roundListResponseSchema,
  roundStartedResponseSchema,
  roundViewSchema,
  siteListResponseSchema,
  studyListResponseSchema,
  studyViewSchema,
} from '@fedval/protocol';
import type {
  EnrollmentTokenResponse,
  ModelRegisteredResponse,
  ModelUploadRequest,
  ModelView,
  RoundStartedResponse,
  RoundView,
  SiteView,
  StudyCreateRequest,
  StudyView,
} from '@fedval/protocol';
import type { z } from 'zod';
import { CliError } from './errors.ts';

type Method = 'GET' | 'POST' | 'PUT';

/** How many problems of a response that breaks the contract are named in the error. */
const MAX_LISTED_PROBLEMS = 5;

export class CoordinatorClient {
  readonly baseUrl: string;
  readonly #token: string | undefined;

  constructor(baseUrl: string, token?: string) {
    this.baseUrl = baseUrl.replace(/\/$/, '');
    this.#token = token;
  }

  /** Calls a route and parses its answer with `schema`: a refusal or a document that breaks the contract is a coded CliError. */
  async call<S extends z.ZodType>(method: Method, path: string, schema: S, body?: unknown): Promise<z.output<S>> {
    return (await this.#send(method, path, schema, body)).value;
  }

  /** `POST /api/models`; `created` is false when the same manifest was registered before. */
  async registerModel(upload: ModelUploadRequest): Promise<ModelRegisteredResponse & { created: boolean }> {
    const { value, status } = await this.#send('POST', '/api/models', modelRegisteredResponseSchema, upload);
    return { ...value, created: status === 201 };
  }

  listModels(): Promise<ModelView[]> {
    return this.call('GET', '/api/models', modelListResponseSchema);
  }

  getModel(id: string): Promise<ModelView> {
    return this.call('GET', `/api/models/${encodeURIComponent(id)}`, modelViewSchema);
  }

  createStudy(study: StudyCreateRequest): Promise<StudyView> {
    return this.call('POST', '/api/studies', studyViewSchema, study);
  }

  listStudies(): Promise<StudyView[]> {
    return this.call('GET', '/api/studies', studyListResponseSchema);
  }

  getStudy(id: string): Promise<StudyView> {
    return this.call('GET', `/api/studies/${encodeURIComponent(id)}`, studyViewSchema);
  }

  startRound(studyId: string): Promise<RoundStartedResponse> {
    return this.call('POST', `/api/studies/${encodeURIComponent(studyId)}/rounds`, roundStartedResponseSchema);
  }

  listRounds(studyId: string): Promise<RoundView[]> {
    return this.call('GET', `/api/studies/${encodeURIComponent(studyId)}/rounds`, roundListResponseSchema);
  }

  getRound(id: string): Promise<RoundView> {
    return this.call('GET', `/api/rounds/${encodeURIComponent(id)}`, roundViewSchema);
  }

  listSites(): Promise<SiteView[]> {
    return this.call('GET', '/api/sites', siteListResponseSchema);
  }

  issueEnrollmentToken(siteId: string): Promise<EnrollmentTokenResponse> {
    return this.call('POST', `/api/sites/${encodeURIComponent(siteId)}/enrollment-token`, enrollmentTokenResponseSchema);
  }

  async #send<S extends z.ZodType>(method: Method, path: string, schema: S, body?: unknown): Promise<{ value: z.output<S>; status: number }> {
    const { parsed, status } = await this.#fetch(method, path, body);
    const result = schema.safeParse(parsed);
    if (!result.success) {
      const problems = result.error.issues.slice(0, MAX_LISTED_PROBLEMS).map((issue) => `${issue.path.join('.') || '(document)'}: ${issue.message}`);
      throw new CliError('FEDVAL_ERR_CLI_RESPONSE', `${method} ${path}: ${problems.join('; ')}`);
    }
    return { value: result.data, status };
  }

  async #fetch(method: Method, path: string, body?: unknown): Promise<{ parsed: unknown; status: number }> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.#token) headers.authorization = `Bearer ${this.#token}`;
    let response: Response;
    try {
      response = await fetch(`${this.baseUrl}${path}`, { method, headers, body: body === undefined ? null : JSON.stringify(body) });
    } catch (cause) {
      // fetch says only "fetch failed"; the reason (ECONNREFUSED, an untrusted certificate…) is its cause's code.
      const inner = cause instanceof Error ? cause.cause : undefined;
      const reason = typeof inner === 'object' && inner !== null && 'code' in inner ? inner.code : undefined;
      throw new CliError('FEDVAL_ERR_CLI_API', `${method} ${path}: coordinator unreachable${typeof reason === 'string' ? ` (${reason})` : ''}`, { cause });
    }
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    if (!response.ok) {
      const refusal = apiErrorSchema.safeParse(parsed);
      const detail = refusal.success ? `${refusal.data.error.code} ${refusal.data.error.message}` : '';
      throw new CliError('FEDVAL_ERR_CLI_API', `${method} ${path}: ${response.status} ${detail}`.trim());
    }
    return { parsed, status: response.status };
  }
}

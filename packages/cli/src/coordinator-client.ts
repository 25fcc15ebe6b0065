// coordinator-client.ts — a small typed client for the coordinator's REST API.
import { CliError } from './errors.ts';

export class CoordinatorClient {
  readonly baseUrl: string;
  readonly #token: string | undefined;

  constructor(baseUrl: string, token?: string) {
    this.baseUrl = baseUrl.replace(/\/$/, '');
    this.#token = token;
  }

  get<T>(path: string): Promise<T> {
    return this.#request<T>('GET', path);
  }

  post<T>(path: string, body?: unknown): Promise<T> {
    return this.#request<T>('POST', path, body);
  }

  request<T>(method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown): Promise<T> {
    return this.#request<T>(method, path, body);
  }

  async #request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.#token) headers.authorization = `Bearer ${this.#token}`;
    let response: Response;
    try {
      response = await fetch(`${this.baseUrl}${path}`, { method, headers, body: body === undefined ? null : JSON.stringify(body) });
    } catch (cause) {
      // fetch says only "fetch failed"; the reason (ECONNREFUSED, an untrusted certificate…) is its cause's code.
      const reason = (cause as { cause?: { code?: unknown } }).cause?.code;
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
      const error = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
      throw new CliError('FEDVAL_ERR_CLI_API', `${method} ${path}: ${response.status} ${error?.code ?? ''} ${error?.message ?? ''}`.trim());
    }
    return parsed as T;
  }
}

// enrollment.ts — `fedval-agent enroll`'s one request: POST the site's public key and one-time token to the coordinator, over http or https.
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { z } from 'zod';
import type { AgentTlsOptions } from './tls.ts';

/** Largest enrollment answer read; the coordinator's is a few hundred bytes. */
const MAX_RESPONSE_BYTES = 64 * 1024;

/** The coordinator's enrollment route, from the agent's socket URL: ws → http, wss → https, the trailing /ws dropped. */
export function enrollmentUrl(coordinator: string): string {
  const url = new URL(coordinator);
  url.protocol = url.protocol === 'wss:' ? 'https:' : 'http:';
  url.pathname = `${url.pathname.replace(/\/ws\/?$/, '')}/api/enroll`.replace(/^\/\//, '/');
  url.search = '';
  url.hash = '';
  return url.href;
}

/** What the agent reads of the coordinator's answer: the enrolled key's fingerprint, or a coded error. Other fields are ignored. */
const enrollmentAnswerBodySchema = z.object({
  fingerprint: z.string().optional(),
  error: z.object({ code: z.string().optional(), message: z.string().optional() }).optional(),
});

export interface EnrollmentAnswer {
  status: number;
  body: z.output<typeof enrollmentAnswerBodySchema>;
}

/** POSTs `body` as JSON with the site's TLS options (private CA, client certificate); rejects on network or TLS failure. */
export function postEnrollment(url: string, body: unknown, tls: AgentTlsOptions, timeoutMs = 30_000): Promise<EnrollmentAnswer> {
  const payload = Buffer.from(JSON.stringify(body));
  const secure = url.startsWith('https:');
  return new Promise((resolve, reject) => {
    const options = { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': payload.byteLength }, timeout: timeoutMs };
    const request = secure ? httpsRequest(url, { ...options, ...tls }) : httpRequest(url, options);
    request.on('timeout', () => request.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    request.on('error', reject);
    request.on('response', (response) => {
      const chunks: Buffer[] = [];
      let size = 0;
      response.on('data', (chunk: Buffer) => {
        size += chunk.byteLength;
        if (size > MAX_RESPONSE_BYTES) return request.destroy(new Error('answer too large'));
        chunks.push(chunk);
      });
      response.on('error', reject);
      response.on('end', () => {
        let json: unknown = {};
        try {
          json = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          // not JSON: the status alone says what happened
        }
        const parsed = enrollmentAnswerBodySchema.safeParse(json);
        resolve({ status: response.statusCode ?? 0, body: parsed.success ? parsed.data : {} });
      });
    });
    request.end(payload);
  });
}

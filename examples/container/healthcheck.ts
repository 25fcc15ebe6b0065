#!/usr/bin/env node
// healthcheck.ts — a container HEALTHCHECK without curl: GET a loopback URL; healthy when it answers 200 (and, if given, has the line `expect`).
// Usage: node healthcheck.ts <url> [expected line]. Exit 0 healthy, 1 not. A https:// URL on loopback is not verified (liveness only).
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

const [target, expect] = process.argv.slice(2);
if (!target) {
  process.stderr.write('usage: node healthcheck.ts <url> [expected line]\n');
  process.exit(1);
}
const url = new URL(target);
const loopback = ['127.0.0.1', '[::1]', 'localhost'].includes(url.hostname);
const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
const timer = setTimeout(() => process.exit(1), 5_000); // 5 s
request(url, { method: 'GET', ...(url.protocol === 'https:' && loopback ? { rejectUnauthorized: false } : {}) }, (response) => {
  let body = '';
  response.setEncoding('utf8');
  response.on('data', (chunk: string) => (body += chunk));
  response.on('end', () => {
    clearTimeout(timer);
    const healthy = response.statusCode === 200 && (expect === undefined || body.split('\n').includes(expect));
    process.exit(healthy ? 0 : 1);
  });
})
  .on('error', () => process.exit(1))
  .end();

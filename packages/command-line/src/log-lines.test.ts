import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { logLineJsonSchemaText } from './log-line-json-schema.ts';
import { formatLogLine, logLineOptions, logLineSchema } from './log-lines.ts';

function capture(): { stream: Writable; lines: () => unknown[] } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString();
      done();
    },
  });
  return { stream, lines: () => text.trimEnd().split('\n').map((line) => JSON.parse(line) as unknown) };
}

describe('log lines', () => {
  it('log-line.schema.json is the schema as the code defines it (regenerate: node packages/command-line/scripts/write-log-line-schema.ts)', () => {
    expect(readFileSync(new URL('../log-line.schema.json', import.meta.url), 'utf8')).toBe(logLineJsonSchemaText());
  });

  it('a pino logger with logLineOptions writes lines of the schema: ISO time, level label, component, pid, host', () => {
    const out = capture();
    const log = pino({ ...logLineOptions('fedval-agent'), level: 'debug' }, out.stream);
    log.child({ siteId: 'site-a' }).warn({ code: 'FEDVAL_ERR_AGENT_TLS', roundId: 'r-1' }, 'cannot connect');
    log.error({ err: Object.assign(new Error('boom'), { code: 'EPIPE' }) }, 'write failed');
    const [first, second] = out.lines() as Record<string, unknown>[];
    expect(logLineSchema.parse(first)).toMatchObject({ level: 'warn', component: 'fedval-agent', pid: process.pid, siteId: 'site-a', code: 'FEDVAL_ERR_AGENT_TLS', msg: 'cannot connect' });
    expect(first!.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(Math.abs(Date.parse(first!.time as string) - Date.now())).toBeLessThan(60_000);
    expect(logLineSchema.parse(second)).toMatchObject({ level: 'error', err: { type: 'Error', message: 'boom', code: 'EPIPE' } });
  });

  it('formatLogLine writes one line of the same schema without a logger', () => {
    const line = formatLogLine('fedval-coordinator', 'info', 'listening', { event: 'listening', url: 'http://127.0.0.1:1' });
    expect(line.endsWith('\n') && !line.slice(0, -1).includes('\n')).toBe(true);
    expect(logLineSchema.parse(JSON.parse(line))).toMatchObject({ level: 'info', component: 'fedval-coordinator', event: 'listening', url: 'http://127.0.0.1:1', msg: 'listening' });
  });

  it('refuses lines of another format: pino defaults (numeric level, epoch time, no component), plain text fields', () => {
    const defaults = capture();
    pino(defaults.stream).info('hello');
    expect(logLineSchema.safeParse(defaults.lines()[0]).success).toBe(false);
    const good = JSON.parse(formatLogLine('fedval-agent', 'info', 'ok')) as Record<string, unknown>;
    expect(logLineSchema.safeParse(good).success).toBe(true);
    for (const bad of [{ level: 30 }, { level: 'notice' }, { component: 'other' }, { time: 1_700_000_000_000 }, { code: 'not a code' }, { msg: undefined }]) {
      expect(logLineSchema.safeParse({ ...good, ...bad }).success, JSON.stringify(bad)).toBe(false);
    }
  });
});

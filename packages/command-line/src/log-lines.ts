// log-lines.ts — the one JSON log-line format of fedval's long-running processes (coordinator, agent): pino options and the line's schema.
import { hostname } from 'node:os';
import { z } from 'zod';

/** The processes that write log lines, as the `component` field names them. */
export const LOG_COMPONENTS = ['fedval-coordinator', 'fedval-agent'] as const;
export type LogComponent = (typeof LOG_COMPONENTS)[number];

/** pino's level labels, as the `level` field carries them. */
export const LOG_LEVEL_LABELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;

/**
 * One log line (the README's "Log lines" table; committed as JSON Schema in log-line.schema.json). Fields not named here
 * may appear (request and error details); none carries a row-level value.
 */
export const logLineSchema = z.looseObject({
  time: z.iso.datetime({ offset: false }).describe('When the line was written: ISO 8601 UTC with milliseconds.'),
  level: z.enum(LOG_LEVEL_LABELS).describe("Severity, pino's label."),
  msg: z.string().describe('A short English sentence; never a data value.'),
  component: z.enum(LOG_COMPONENTS).describe('The process that wrote the line.'),
  pid: z.number().int().positive().describe('Process id.'),
  hostname: z.string().describe('Host name of the machine.'),
  event: z.string().regex(/^[a-z][a-z0-9_.]*$/).optional().describe('A machine-readable event for supervisors, e.g. `listening` (the coordinator, on stdout).'),
  code: z.string().regex(/^[A-Z][A-Z0-9_]*$/).optional().describe('The coded error or refusal the line is about, e.g. `FEDVAL_ERR_AGENT_TLS`.'),
  siteId: z.string().optional().describe('The site the line is about (agent lines always carry their own).'),
  roundId: z.string().optional().describe('The round the line is about.'),
  studyId: z.string().optional().describe('The study the line is about.'),
  reqId: z.string().optional().describe('The coordinator REST request the line is about.'),
  err: z.looseObject({ type: z.string().optional(), message: z.string().optional(), code: z.unknown().optional() }).optional().describe('An error: type, message, code, stack.'),
});
export type LogLine = z.infer<typeof logLineSchema>;

/** The pino options every fedval process logs with: JSON, ISO time, level labels, and the component, pid and host on every line. */
export function logLineOptions(component: LogComponent) {
  return {
    base: { component, pid: process.pid, hostname: hostname() },
    messageKey: 'msg',
    // ISO 8601 UTC time (pino.stdTimeFunctions.isoTime), written without importing pino here.
    timestamp: () => `,"time":"${new Date().toISOString()}"`,
    formatters: { level: (label: string) => ({ level: label }) },
  } as const;
}

/** One schema-conforming line written without a logger (a line a process writes before or instead of pino). */
export function formatLogLine(component: LogComponent, level: (typeof LOG_LEVEL_LABELS)[number], msg: string, fields: Record<string, unknown> = {}): string {
  return `${JSON.stringify({ level, time: new Date().toISOString(), component, pid: process.pid, hostname: hostname(), ...fields, msg })}\n`;
}

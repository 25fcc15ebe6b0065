#!/usr/bin/env node
// main.ts — the fedval-coordinator command: start a coordinator from a YAML file, hash a token, or make a new one.
import { text } from 'node:stream/consumers';
import { generateToken } from '@fedval/trust';
import { createProgram, packageVersion, runProgram } from '@fedval/command-line';
import { formatLogLine, InvalidArgumentError } from '@fedval/command-line';
import { loadCoordinatorConfig } from './config.ts';
import type { ConfigOverrides } from './config.ts';
import { CoordinatorError } from './errors.ts';
import { createCoordinator } from './server.ts';
import { formatCoordinatorCheckLines, runCoordinatorChecks } from './coordinator-check.ts';
import { hashToken } from './site-auth.ts';

function parsePort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65_535) throw new InvalidArgumentError('expected an integer from 0 to 65535');
  return port;
}

async function start(options: { config: string; port?: number; host?: string }): Promise<void> {
  const overrides: ConfigOverrides = {
    ...(options.port !== undefined ? { port: options.port } : {}),
    ...(options.host !== undefined ? { host: options.host } : {}),
  };
  const coordinator = createCoordinator(loadCoordinatorConfig(options.config, overrides));
  let url: string;
  try {
    ({ url } = await coordinator.start());
  } catch (error) {
    await coordinator.close().catch(() => undefined);
    throw error;
  }
  // One log line of the documented schema on stdout, for supervisors (simulate, tests) to wait on; logs go to stderr.
  process.stdout.write(formatLogLine('fedval-coordinator', 'info', 'listening', { event: 'listening', url }));
  let signalled = false;
  // Closed without a signal: the coordinator stopped itself (it lost its PostgreSQL advisory lock); a service manager should see a failure.
  coordinator.app.server.once('close', () => {
    if (!signalled) process.exitCode = 1;
  });
  const shutdown = (signal: NodeJS.Signals): void => {
    signalled = true;
    coordinator.app.log.info({ signal }, 'shutting down');
    coordinator.close().then(
      () => process.exit(0),
      (error: unknown) => {
        coordinator.app.log.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

async function hashTokenFromStdin(): Promise<void> {
  const token = (await text(process.stdin)).replace(/\r?\n$/, '');
  if (token.length === 0) throw new CoordinatorError('FEDVAL_ERR_COORD_USAGE', 'hash-token reads a token from stdin; got nothing');
  process.stdout.write(`${hashToken(token)}\n`);
}

const program = createProgram({
  name: 'fedval-coordinator',
  description: 'fedval coordinator: sends evaluation rounds to site agents and aggregates their contributions',
  usageCode: 'FEDVAL_ERR_COORD_USAGE',
  version: packageVersion(new URL('../package.json', import.meta.url)),
  internalCode: 'FEDVAL_ERR_COORD_INTERNAL',
});

program
  .command('start')
  .description('start the coordinator; prints {"event":"listening","url":...} on stdout when ready, logs to stderr')
  .requiredOption('--config <file>', 'coordinator YAML configuration')
  .option('--port <n>', 'listen port, overrides listen.port (0 = any free port)', parsePort)
  .option('--host <host>', 'listen address, overrides listen.host')
  .action(start);

program
  .command('check')
  .description('check the configuration, storage (data_dir lock and database), TLS files and that the listen port is free; one line per check, exit 1 on a failure')
  .requiredOption('--config <file>', 'coordinator YAML configuration')
  .option('--json', 'print one JSON document on stdout')
  .action(async (options: { config: string; json?: boolean }) => {
    const lines = await runCoordinatorChecks(options.config);
    const failed = lines.filter((line) => line.status === 'fail');
    if (options.json) process.stdout.write(`${JSON.stringify({ ok: failed.length === 0, checks: lines }, null, 2)}\n`);
    else process.stdout.write(formatCoordinatorCheckLines(lines));
    if (failed.length > 0) {
      if (options.json) process.exitCode = 1;
      else throw new CoordinatorError('FEDVAL_ERR_COORD_CHECK', `${failed.length} of ${lines.length} checks failed: ${failed.map((line) => line.check).join(', ')}`);
    }
  });

program
  .command('hash-token')
  .description('read a site token from stdin and print its SHA-256 for sites[].token_sha256')
  .action(hashTokenFromStdin);

program
  .command('new-token')
  .description('print a new random token (256 bits) and its SHA-256, for sites[] or api_tokens[]: give the token to its holder, configure only the hash')
  .action(() => {
    const token = generateToken();
    process.stdout.write(`${JSON.stringify({ token, token_sha256: hashToken(token) })}\n`);
  });

await runProgram(program);

#!/usr/bin/env node
// main.ts — the fedval-coordinator command: start a coordinator from a YAML file, hash a token, or make a new one.
import { readFileSync } from 'node:fs';
import { text } from 'node:stream/consumers';
import { generateToken } from '@fedval/trust';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { loadCoordinatorConfig } from './config.ts';
import type { ConfigOverrides } from './config.ts';
import { CoordinatorError } from './errors.ts';
import { createCoordinator } from './server.ts';
import { hashToken } from './site-auth.ts';

/** Exit code for configuration errors (usage problems); 1 for any other startup failure. */
const EXIT_CONFIG = 2;

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
  let coordinator: ReturnType<typeof createCoordinator>;
  try {
    coordinator = createCoordinator(loadCoordinatorConfig(options.config, overrides));
  } catch (error) {
    return fail(error);
  }
  let url: string;
  try {
    ({ url } = await coordinator.start());
  } catch (error) {
    await coordinator.close().catch(() => undefined);
    return fail(error);
  }
  process.stdout.write(`${JSON.stringify({ event: 'listening', url })}\n`);
  const shutdown = (signal: NodeJS.Signals): void => {
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

function fail(error: unknown): void {
  if (error instanceof CoordinatorError) {
    process.stderr.write(`fedval-coordinator: ${error.code}: ${error.message}\n`);
    process.exitCode = error.code.startsWith('FEDVAL_ERR_COORD_CONFIG') || error.code === 'FEDVAL_ERR_COORD_TLS' ? EXIT_CONFIG : 1;
    return;
  }
  const code = (error as { code?: string }).code;
  process.stderr.write(`fedval-coordinator: ${code ? `${code}: ` : ''}${(error as Error).message ?? String(error)}\n`);
  process.exitCode = 1;
}

async function hashTokenFromStdin(): Promise<void> {
  const token = (await text(process.stdin)).replace(/\r?\n$/, '');
  if (token.length === 0) {
    process.stderr.write('fedval-coordinator: hash-token reads a token from stdin; got nothing\n');
    process.exitCode = EXIT_CONFIG;
    return;
  }
  process.stdout.write(`${hashToken(token)}\n`);
}

// A reader that closed the pipe (`fedval-coordinator … | head -1`) ends the program quietly.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

const packageJson = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: unknown };

const program = new Command('fedval-coordinator')
  .version(typeof packageJson.version === 'string' ? packageJson.version : '0.0.0')
  // Argument errors in the documented form, `fedval-coordinator: FEDVAL_ERR_COORD_USAGE: message`.
  .configureOutput({ outputError: (text, write) => write(`fedval-coordinator: FEDVAL_ERR_COORD_USAGE: ${text.replace(/^error: /, '')}`) })
  .description('fedval coordinator: sends evaluation rounds to site agents and aggregates their contributions')
  .showHelpAfterError()
  .exitOverride();

program
  .command('start')
  .description('start the coordinator; prints {"event":"listening","url":...} on stdout when ready, logs to stderr')
  .requiredOption('--config <file>', 'coordinator YAML configuration')
  .option('--port <n>', 'listen port, overrides listen.port (0 = any free port)', parsePort)
  .option('--host <host>', 'listen address, overrides listen.host')
  .action(start);

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

try {
  await program.parseAsync(process.argv);
} catch (error) {
  // Commander has already printed its own message (bad option, missing argument, --help): exit 2 for a usage error.
  if (error instanceof CommanderError) process.exit(error.exitCode === 0 ? 0 : EXIT_CONFIG);
  throw error;
}

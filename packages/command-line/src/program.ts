// program.ts — how the three fedval programs (fedval, fedval-agent, fedval-coordinator) are built on commander, report
// an error (`program: FEDVAL_ERR_…: message` on stderr) and map it to an exit status.
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';

/** Exit statuses shared by the programs; a program may add its own above these (fedval-agent: 3, refused by the coordinator). */
export const EXIT_STATUS = Object.freeze({
  ok: 0,
  /** The command failed: a coded error, or a bug. */
  failure: 1,
  /** The command was called wrongly: a parser error, or invalid usage, configuration or TLS files. */
  usage: 2,
});

/** Codes whose errors are the caller's to fix before running again: wrong arguments, configuration or TLS material. */
const USAGE_CODE = /^FEDVAL_ERR_[A-Z0-9]+_(USAGE|CONFIG|CONFIG_UNREADABLE|TLS)$/;
const FEDVAL_CODE = /^FEDVAL_ERR_[A-Z0-9_]+$/;

/** The exit status of a failure with this error code. */
export function exitStatusOf(code: string): number {
  return USAGE_CODE.test(code) ? EXIT_STATUS.usage : EXIT_STATUS.failure;
}

/** What a program needs to know to report its errors. */
export interface ProgramOptions {
  name: string;
  description: string;
  /** The program's usage code (e.g. FEDVAL_ERR_CLI_USAGE): parser errors are reported under it. */
  usageCode: string;
  /** The program's internal code (e.g. FEDVAL_ERR_CLI_INTERNAL): an error without a fedval code is reported under it. */
  internalCode: string;
  /** Answered by `--version` when given. */
  version?: string | undefined;
}

const programOptions = new WeakMap<Command, ProgramOptions>();

/** The `version` of a package.json (the program's own, passed as a URL relative to its module); '0.0.0' when it has none. */
export function packageVersion(packageJson: URL): string {
  const parsed: unknown = JSON.parse(readFileSync(packageJson, 'utf8'));
  const version = typeof parsed === 'object' && parsed !== null && 'version' in parsed ? parsed.version : undefined;
  return typeof version === 'string' ? version : '0.0.0';
}

let closedPipeHandled = false;

/** A reader that closed the pipe (`fedval … | head -1`) ends the program quietly, with status 0 and no stack trace. */
function exitQuietlyOnClosedPipe(): void {
  if (closedPipeHandled) return;
  closedPipeHandled = true;
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(EXIT_STATUS.ok);
    throw error;
  });
}

/**
 * A commander program that shows its help after a parser error, reports the error as `name: usageCode: message`, and
 * throws instead of exiting, so {@link runProgram} decides the exit status. Writing to a closed stdout exits 0 quietly.
 */
export function createProgram(options: ProgramOptions): Command {
  exitQuietlyOnClosedPipe();
  const program = new Command(options.name)
    .description(options.description)
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(`${options.name}: ${options.usageCode}: ${text.replace(/^error: /, '')}`) });
  if (options.version !== undefined) program.version(options.version, '--version', 'print the version and exit');
  programOptions.set(program, options);
  return program;
}

/** How a failure is reported on stderr: `name: CODE: message`, the code the error's own when it has a fedval code. */
export function describeFailure(options: Pick<ProgramOptions, 'name' | 'internalCode'>, error: unknown): { code: string; line: string } {
  const own = (error as { code?: unknown } | null)?.code;
  const code = typeof own === 'string' && FEDVAL_CODE.test(own) ? own : options.internalCode;
  const message = error instanceof Error ? error.message : String(error);
  return { code, line: `${options.name}: ${code}: ${message}\n` };
}

/**
 * Parses `argv` and runs the chosen command. A parser error (already printed by commander) exits 2, `--help` and
 * `--version` exit 0; a thrown error is printed as `name: CODE: message` and sets the exit status by its code.
 */
export async function runProgram(program: Command, argv: readonly string[] = process.argv): Promise<void> {
  const options = programOptions.get(program);
  if (!options) throw new TypeError('runProgram takes a program made by createProgram');
  try {
    await program.parseAsync([...argv]);
  } catch (error) {
    if (error instanceof CommanderError) process.exit(error.exitCode === 0 ? EXIT_STATUS.ok : EXIT_STATUS.usage);
    const failure = describeFailure(options, error);
    process.stderr.write(failure.line);
    process.exitCode = exitStatusOf(failure.code);
  }
}

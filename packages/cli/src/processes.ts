// processes.ts — starts fedval's own programs (coordinator, agents) as child processes and stops them cleanly.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { listProblems } from '@fedval/schema';
import { z } from 'zod';
import { CliError } from './errors.ts';

/** Entry points of the apps, spawned (never imported: packages do not depend on apps). Overridable for installs elsewhere. */
export const PROGRAMS = Object.freeze({
  coordinator: process.env.FEDVAL_COORDINATOR_BIN ?? fileURLToPath(new URL('../../../coordinator/src/main.ts', import.meta.url)),
  agent: process.env.FEDVAL_AGENT_BIN ?? fileURLToPath(new URL('../../../site-agent/src/main.ts', import.meta.url)),
  /** This CLI itself, run as the separate key-holder process. */
  fedval: fileURLToPath(new URL('./main.ts', import.meta.url)),
});

/** Runs a program to completion; resolves with its stdout, rejects with the last line of its stderr. */
export async function runProgram(name: string, program: string, args: string[]): Promise<string> {
  const child = startProcess({ name, program, args });
  let stdout = '';
  let stderr = '';
  child.child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await child.exited;
  if (code !== 0) {
    const last = stderr.trim().split('\n').pop() ?? '';
    throw new CliError('FEDVAL_ERR_CLI_PROCESS', `${name} exited with code ${code}: ${last}`);
  }
  return stdout;
}

export interface ManagedProcess {
  readonly name: string;
  readonly child: ChildProcess;
  /** Resolves with the exit code once the process has exited. */
  readonly exited: Promise<number | null>;
  stop(): Promise<void>;
}

export interface StartOptions {
  name: string;
  program: string;
  args: string[];
  /** Where the child's stderr (its log) goes: a callback per line. */
  onLogLine?: (line: string) => void;
  env?: NodeJS.ProcessEnv;
}

/** Children started here and not yet exited: ended with this process, however it ends (see {@link stopChildrenOnSignals}). */
const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;

function endLiveChildren(): void {
  for (const child of liveChildren) child.kill('SIGTERM');
}

/**
 * A fedval program that started agents or a coordinator must not leave them behind: an agent outliving `fedval simulate`
 * retries its coordinator forever. Node runs 'exit' listeners on process.exit, on an empty event loop and after an
 * uncaught exception (for instance EPIPE when the reader of stdout went away), so children are signalled then.
 */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', endLiveChildren);
}

/**
 * For a program's entry point: SIGINT and SIGTERM end the children started here, then the program (exit code 130 or
 * 143, as a shell reports a signal). Signals otherwise end a Node process without running its 'exit' listeners.
 */
export function stopChildrenOnSignals(): void {
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    process.once(signal, () => {
      endLiveChildren();
      process.exit(code);
    });
  }
}

export function startProcess(options: StartOptions): ManagedProcess {
  installExitHook();
  const child = spawn(process.execPath, [options.program, ...options.args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...options.env },
  });
  liveChildren.add(child);
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      liveChildren.delete(child);
      resolve(code);
    }),
  );
  if (options.onLogLine) createInterface({ input: child.stderr! }).on('line', options.onLogLine);
  else child.stderr!.resume();
  return {
    name: options.name,
    child,
    exited,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Waits for the first stdout line that is a JSON event `{ event, … }` with the given name, parsed with `schema`. */
export function waitForEvent<S extends z.ZodType>(process_: ManagedProcess, event: string, schema: S, timeoutMs: number): Promise<z.output<S>> {
  const eventLine = z.looseObject({ event: z.string() });
  return new Promise<z.output<S>>((resolve, reject) => {
    const lines = createInterface({ input: process_.child.stdout! });
    const timer = setTimeout(() => reject(new CliError('FEDVAL_ERR_CLI_TIMEOUT', `${process_.name} did not report ${event}`)), timeoutMs);
    lines.on('line', (line) => {
      let json: unknown;
      try {
        json = JSON.parse(line);
      } catch {
        return; // not a JSON event line
      }
      if (eventLine.safeParse(json).data?.event !== event) return;
      clearTimeout(timer);
      const parsed = schema.safeParse(json);
      if (parsed.success) resolve(parsed.data);
      else reject(new CliError('FEDVAL_ERR_CLI_PROCESS', `${process_.name} reported ${event} with ${listProblems(parsed.error).join('; ')}`));
    });
    void process_.exited.then((code) => {
      clearTimeout(timer);
      reject(new CliError('FEDVAL_ERR_CLI_PROCESS', `${process_.name} exited with code ${code} before reporting ${event}`));
    });
  });
}

// run-cli.ts — runs fedval's command-line programs as a user would, capturing stdout, stderr and the exit code.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The public data sets committed with the project (Rotterdam, GBSG), provenance in PROVENANCE.md there. */
export const DATA_DIR = fileURLToPath(new URL('../../examples/rotterdam/data/', import.meta.url));

const PROGRAMS = {
  fedval: 'packages/cli/src/main.ts',
  'fedval-agent': 'site-agent/src/main.ts',
  'fedval-coordinator': 'coordinator/src/main.ts',
} as const;

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(program: keyof typeof PROGRAMS, args: string[], options: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [PROGRAMS[program], ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, FEDVAL_LOG_LEVEL: 'warn', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${program} ${args.join(' ')} timed out\n${stderr}`));
    }, options.timeoutMs ?? 120_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Runs a command that must succeed with `--json` and returns its one JSON document. */
export async function runJson<T = { metrics: Record<string, unknown> }>(program: keyof typeof PROGRAMS, args: string[]): Promise<T> {
  const run = await runCli(program, [...args, '--json']);
  if (run.code !== 0) throw new Error(`${program} exited ${run.code}\n${run.stderr}`);
  return JSON.parse(run.stdout) as T;
}

// What every fedval program does the same way: `--version`, argument errors as `program: FEDVAL_ERR_…_USAGE: message`
// (exit 2), and a quiet exit when the reader of its output goes away (`fedval … | head -1`).
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT, runCli } from '../helpers/run-cli.ts';

const PROGRAMS = [
  { name: 'fedval', main: 'packages/cli/src/main.ts', packageJson: 'packages/cli/package.json', usage: 'FEDVAL_ERR_CLI_USAGE' },
  { name: 'fedval-agent', main: 'site-agent/src/main.ts', packageJson: 'site-agent/package.json', usage: 'FEDVAL_ERR_AGENT_USAGE' },
  { name: 'fedval-coordinator', main: 'coordinator/src/main.ts', packageJson: 'coordinator/package.json', usage: 'FEDVAL_ERR_COORD_USAGE' },
] as const;

/** Runs a program whose stdout reader is gone before it writes (as `| head -1` after its first line). */
function runWithClosedStdout(main: string, args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [main, ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

describe('fedval programs', () => {
  it.each(PROGRAMS)('$name answers --version with its package version', async ({ name, packageJson }) => {
    const version = (JSON.parse(readFileSync(join(REPO_ROOT, packageJson), 'utf8')) as { version: string }).version;
    const run = await runCli(name, ['--version']);
    expect(run).toMatchObject({ code: 0, stdout: `${version}\n` });
  });

  it.each(PROGRAMS)('$name reports argument errors as "$name: $usage: message" and exits 2', async ({ name, usage }) => {
    const run = await runCli(name, ['no-such-command']);
    expect(run.code).toBe(2);
    expect(run.stderr.split('\n')[0]).toBe(`${name}: ${usage}: unknown command 'no-such-command'`);
  });

  it('exits 0 without a stack trace when stdout is closed under it', async () => {
    const writers = [
      { main: PROGRAMS[0].main, args: ['plan', '--patients', '2000', '--prevalence', '0.3', '--sites', '3'] },
      { main: PROGRAMS[1].main, args: ['levels', '--data', 'examples/rotterdam/data/site-b.csv', '--group', 'meno'] },
      { main: PROGRAMS[2].main, args: ['new-token'] },
    ];
    for (const { main, args } of writers) {
      const run = await runWithClosedStdout(main, args);
      expect(run.stderr, main).not.toMatch(/EPIPE|Error|\n\s+at /);
      expect(run.code, main).toBe(0);
    }
  });
});

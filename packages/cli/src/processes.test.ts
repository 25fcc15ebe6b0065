// processes.test.ts — children started by a fedval program end with it: after an uncaught exception (EPIPE) and on SIGTERM.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const dir = mkdtempSync(join(tmpdir(), 'fedval-processes-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const processesModule = fileURLToPath(new URL('./processes.ts', import.meta.url));
const sleeper = join(dir, 'sleeper.mjs');
writeFileSync(sleeper, 'setInterval(() => {}, 1000);\n');

/** A parent program that starts a long-lived child, prints its pid, then ends as `ending` says. */
function parentScript(ending: 'throw' | 'wait'): string {
  const file = join(dir, `parent-${ending}.mjs`);
  writeFileSync(
    file,
    [
      `import { startProcess, stopChildrenOnSignals } from ${JSON.stringify(processesModule)};`,
      'stopChildrenOnSignals();',
      `const child = startProcess({ name: 'sleeper', program: ${JSON.stringify(sleeper)}, args: [] });`,
      'process.stdout.write(`${child.child.pid}\\n`);',
      ending === 'throw' ? "setTimeout(() => { throw new Error('stdout went away'); }, 200);" : 'setInterval(() => {}, 1000);',
    ].join('\n'),
  );
  return file;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitUntilGone(pid: number, ms: number): Promise<boolean> {
  for (const started = Date.now(); Date.now() - started < ms; await new Promise((r) => setTimeout(r, 50))) if (!alive(pid)) return true;
  return !alive(pid);
}

async function runParent(ending: 'throw' | 'wait', signal?: NodeJS.Signals): Promise<{ childPid: number; code: number | null }> {
  const parent = spawn(process.execPath, [parentScript(ending)], { stdio: ['ignore', 'pipe', 'ignore'] });
  const exited = new Promise<number | null>((resolve) => parent.once('exit', (code) => resolve(code)));
  const firstLine = await new Promise<string>((resolve) => createInterface({ input: parent.stdout! }).once('line', resolve));
  const childPid = Number(firstLine);
  expect(alive(childPid)).toBe(true);
  if (signal) parent.kill(signal);
  return { childPid, code: await exited };
}

describe('children of a fedval program', () => {
  it('end when the program dies of an uncaught exception', async () => {
    const { childPid, code } = await runParent('throw');
    expect(code).toBe(1);
    expect(await waitUntilGone(childPid, 5000)).toBe(true);
  });

  it('end when the program is sent SIGTERM, which exits 143', async () => {
    const { childPid, code } = await runParent('wait', 'SIGTERM');
    expect(code).toBe(143);
    expect(await waitUntilGone(childPid, 5000)).toBe(true);
  });
});

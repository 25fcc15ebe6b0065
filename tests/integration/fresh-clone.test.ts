// A user's clone has no steering folder beside it: no test, example or reference script may read data from there.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/run-cli.ts';

const RUNNABLE = /\.(ts|js|mjs|py|R|sh)$/;
// A path that leaves the repository for the steering folder (its shared data folder named as a path).
const OUTSIDE_DATA = /\.\.\/shared\b|['"`/]shared\/data|'shared',\s*'data'/;

describe('fresh clone', () => {
  it('no tracked script reads data from outside the repository', () => {
    const files = execFileSync('git', ['ls-files'], { cwd: REPO_ROOT, encoding: 'utf8' }).split('\n').filter((file) => RUNNABLE.test(file));
    expect(files.length).toBeGreaterThan(100);
    const offenders = files.filter((file) => file !== 'tests/integration/fresh-clone.test.ts' && OUTSIDE_DATA.test(readFileSync(join(REPO_ROOT, file), 'utf8')));
    expect(offenders).toEqual([]);
  });

  it('the data the tests and the demo read is committed, with its provenance', () => {
    const tracked = execFileSync('git', ['ls-files', 'examples/rotterdam/data'], { cwd: REPO_ROOT, encoding: 'utf8' }).split('\n');
    for (const file of ['rotterdam.csv', 'gbsg.csv', 'PROVENANCE.md', 'site-a.csv', 'site-b.csv', 'site-c.csv']) {
      expect(tracked).toContain(`examples/rotterdam/data/${file}`);
    }
  });
});

import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { configDefaults, defineConfig } from 'vitest/config';

// The integration and adversarial tests spawn hundreds of real fedval processes (coordinators, agents, CLIs); each one
// type-strips and compiles the same modules again. Node's module compile cache (nodejs.org/api/module.html#module-compile-cache)
// keeps the stripped, compiled code on disk, keyed by each file's content: it roughly halves a process's start-up and
// changes nothing else. Children inherit it through the environment. NODE_COMPILE_CACHE set by the caller wins;
// NODE_DISABLE_COMPILE_CACHE=1 switches it off.
process.env.NODE_COMPILE_CACHE ??= join(tmpdir(), 'fedval-node-compile-cache');

export default defineConfig({
  test: {
    // The container test builds an image for minutes, as root: `pnpm test:container` (tests/container/vitest.config.ts).
    // Both projects below extend this configuration, so the exclusion holds for each.
    exclude: [...configDefaults.exclude, 'tests/container/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Vitest's default is CPUs − 1 workers: one on a 2-core machine, where the suite then ran one file at a time although
    // most end-to-end files spend their time waiting on sockets and child processes. At least two files at a time; every
    // server a test starts listens on a free port, so files do not collide. `vitest run --maxWorkers N` overrides.
    maxWorkers: Math.max(2, availableParallelism() - 1),
    projects: [
      // Files that start real servers, agents, browsers and databases: each in a fresh worker process (the default).
      // Vitest runs the files of the first project by name first, the longest first (by the last run's durations), so
      // these long files start early and the short unit files below fill the end of the run on both workers.
      { extends: true, test: { name: 'e2e', include: ['tests/**/*.test.ts'] } },
      // Unit files share their worker process (isolate: false, vitest.dev/config/isolate): a worker imports zod, the
      // schemas, node-seal and the packages once instead of once per file, and is not forked again for every file
      // (139 unit files run alone, 2 workers: 212 -> 111 s of CPU, 203 -> 118 s of wall time). They mock nothing,
      // stub no globals and leave no process state behind; each test file is still evaluated afresh.
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['packages/*/src/**/*.test.ts', 'coordinator/src/**/*.test.ts', 'site-agent/src/**/*.test.ts'],
          isolate: false,
        },
      },
    ],
  },
});

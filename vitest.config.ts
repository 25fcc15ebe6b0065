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
    include: ['packages/*/src/**/*.test.ts', 'coordinator/src/**/*.test.ts', 'site-agent/src/**/*.test.ts', 'tests/**/*.test.ts'],
    // The container test builds an image for minutes, as root: `pnpm test:container` (tests/container/vitest.config.ts).
    exclude: [...configDefaults.exclude, 'tests/container/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Vitest's default is CPUs − 1 workers: one on a 2-core machine, where the suite then ran one file at a time although
    // most end-to-end files spend their time waiting on sockets and child processes. At least two files at a time; every
    // server a test starts listens on a free port, so files do not collide. `vitest run --maxWorkers N` overrides.
    maxWorkers: Math.max(2, availableParallelism() - 1),
  },
});

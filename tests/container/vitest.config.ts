// The container test's own configuration (`pnpm test:container`): minutes long, root only, one file at a time; never in `pnpm test`.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    root: fileURLToPath(new URL('../..', import.meta.url)),
    include: ['tests/container/**/*.test.ts'],
    testTimeout: 15 * 60_000, // 15 min: the image build alone takes about 4 min on 2 cores
    hookTimeout: 2 * 60_000,
    pool: 'forks',
    maxWorkers: 1,
  },
});

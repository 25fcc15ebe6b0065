// prerequisites.ts — the system programs some tests need, each checked with a message saying how to install it.
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** A system program a test runs, where to find it, and how a user gets it on Debian or Ubuntu. */
const PREREQUISITES = {
  chromium: { path: '/usr/bin/chromium', install: 'sudo apt-get install chromium  (the browser tests drive Debian\'s Chromium with playwright-core)' },
  python3: { path: '/usr/bin/python3', install: 'sudo apt-get install python3  (independent checks of hashes and file formats run in the system Python)' },
  openssl: { path: 'openssl', install: 'sudo apt-get install openssl  (the TLS tests make their certificates with it)' },
  pdftotext: { path: 'pdftotext', install: 'sudo apt-get install poppler-utils  (the report tests read the PDF\'s text with it)' },
  pdftoppm: { path: 'pdftoppm', install: 'sudo apt-get install poppler-utils  (the report tests render the PDF\'s pages with it)' },
  pdfinfo: { path: 'pdfinfo', install: 'sudo apt-get install poppler-utils  (the report tests count the PDF\'s pages with it)' },
  'systemd-analyze': { path: 'systemd-analyze', install: 'sudo apt-get install systemd  (the packaging test verifies the example units with it)' },
  podman: { path: 'podman', install: 'sudo apt-get install podman slirp4netns  (pnpm test:container builds the agent image and runs it with it, as root)' },
  slirp4netns: { path: 'slirp4netns', install: 'sudo apt-get install slirp4netns  (pnpm test:container gives the agent container its own network that reaches the coordinator on the host)' },
  unshare: { path: 'unshare', install: 'sudo apt-get install util-linux  (pnpm test:container runs crun in a private mount namespace on a hybrid cgroup host)' },
} as const;

export type Prerequisite = keyof typeof PREREQUISITES;

function executable(path: string): boolean {
  const candidates = path.includes('/') ? [path] : (process.env.PATH ?? '').split(delimiter).filter(Boolean).map((dir) => join(dir, path));
  return candidates.some((candidate) => {
    try {
      accessSync(candidate, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/**
 * Returns the program's path, or throws an error naming the missing program and how to install it:
 * a test whose prerequisite is missing fails with that sentence, never silently.
 */
export function requirePrerequisite(name: Prerequisite): string {
  const { path, install } = PREREQUISITES[name];
  if (!executable(path)) throw new Error(`this test needs ${name} (${path}), which is not installed. Install it with: ${install}`);
  return path;
}

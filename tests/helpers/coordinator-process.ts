// coordinator-process.ts — the base URL a real coordinator process prints when it listens (its `listening` event line).
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

/** Resolves with the `url` of the child's `{"event":"listening"}` stdout line; rejects if it exits first. */
export function listeningUrl(coordinator: ChildProcess): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    coordinator.once('exit', (code) => reject(new Error(`coordinator exited ${code}`)));
    createInterface({ input: coordinator.stdout! }).on('line', (line) => {
      try {
        const event = JSON.parse(line) as { event?: string; url?: string };
        if (event.event === 'listening' && event.url) resolve(event.url);
      } catch {
        // not an event line
      }
    });
  });
}

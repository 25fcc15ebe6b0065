// log-destination.ts — where the agent's log lines go: a file descriptor written without ever blocking the event loop, so a stalled or dead log reader cannot hold up SIGTERM.
import { write } from 'node:fs';
import { formatLogLine } from '@fedval/command-line';

/** Bytes of log lines held while the reader is slow; lines beyond are dropped and counted. Default 1 MiB. */
export const DEFAULT_LOG_BUFFER_BYTES = 1_048_576;

/**
 * A pino destination writing to `fd` asynchronously (node:fs write on the libuv thread pool). Unlike pino.destination,
 * it never writes synchronously: pino's destination flushes with a blocking loop at exit, so an agent whose stderr
 * pipe was full (its reader stalled or gone while another process held the pipe) never finished exiting on SIGTERM.
 * A closed pipe (EPIPE) ends logging quietly.
 */
export class LogDestination {
  readonly #fd: number;
  readonly #maxBytes: number;
  #queue: string[] = [];
  #queuedBytes = 0;
  #writing = false;
  #dropped = 0;
  #closed = false;
  #drained: (() => void)[] = [];

  constructor(fd: number, maxBytes = DEFAULT_LOG_BUFFER_BYTES) {
    this.#fd = fd;
    this.#maxBytes = maxBytes;
  }

  /** Queues one line (pino's destination interface); drops it when the buffer is full or the reader is gone. */
  write(line: string): boolean {
    if (this.#closed) return false;
    const bytes = Buffer.byteLength(line);
    if (this.#queuedBytes + bytes > this.#maxBytes) {
      this.#dropped += 1;
      return false;
    }
    this.#queue.push(line);
    this.#queuedBytes += bytes;
    this.#pump();
    return true;
  }

  /** Lines dropped so far because the reader did not keep up. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Resolves when everything queued is written, or after `timeoutMs` (ms), whichever is first. */
  drain(timeoutMs: number): Promise<void> {
    if (this.#closed || (this.#queue.length === 0 && !this.#writing)) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      timer.unref();
      this.#drained.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  #pump(): void {
    if (this.#writing || this.#closed) return;
    if (this.#queue.length === 0) {
      for (const done of this.#drained.splice(0)) done();
      return;
    }
    if (this.#dropped > 0) {
      this.#queue.unshift(formatLogLine('fedval-agent', 'warn', 'log lines dropped: the log reader did not keep up', { dropped: this.#dropped }));
      this.#dropped = 0;
    }
    const chunk = Buffer.from(this.#queue.join(''));
    this.#queue = [];
    this.#queuedBytes = 0;
    this.#writing = true;
    this.#writeAll(chunk);
  }

  #writeAll(chunk: Buffer): void {
    write(this.#fd, chunk, 0, chunk.length, null, (error, written) => {
      if (error) {
        if (error.code === 'EAGAIN') {
          setTimeout(() => this.#writeAll(chunk), 20).unref();
          return;
        }
        // EPIPE (the reader is gone) or a closed descriptor: nothing will be read again.
        this.#closed = true;
        this.#writing = false;
        this.#queue = [];
        for (const done of this.#drained.splice(0)) done();
        return;
      }
      if (written < chunk.length) {
        this.#writeAll(chunk.subarray(written));
        return;
      }
      this.#writing = false;
      this.#pump();
    });
  }
}

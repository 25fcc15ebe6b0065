// postgres-copy-out.ts — runs a `COPY … TO STDOUT` on a pg client and streams the COPY data, one Buffer per socket read.
//
// A pg "submittable" (the driver's extension point, as pg-cursor and pg-copy-streams use): it sends the statement,
// then reads the connection's socket itself until CopyDone, so the driver builds no message object per row. Protocol:
// PostgreSQL documentation, "Frontend/Backend Protocol — COPY Operations" and "Message Formats": every message is a
// type byte and an int32 length (counting itself); CopyOutResponse 'H', then CopyData 'd' messages whose payloads
// concatenated are the COPY stream, then CopyDone 'c'; ParameterStatus 'S', NoticeResponse 'N' and
// NotificationResponse 'A' may come in between; an ErrorResponse 'E' ends the COPY. After CopyDone or ErrorResponse the
// socket goes back to the driver with every unread byte (CommandComplete, ErrorResponse, ReadyForQuery), so the driver
// reports the error or the completion and the connection stays usable. Same approach as pg-copy-streams' copy-to
// (MIT, github.com/brianc/node-pg-copy-streams), without its per-message buffers: payload bytes are copied straight
// into one output buffer per socket read.
import { Readable } from 'node:stream';
import type { Connection, Submittable } from 'pg';

const COPY_DATA = 0x64; // 'd'
const COPY_DONE = 0x63; // 'c'
const ERROR_RESPONSE = 0x45; // 'E'
/** Messages the server may send in the middle of COPY OUT besides CopyData (skipped). */
const INTERSPERSED = new Set([0x48 /* H CopyOutResponse */, 0x53 /* S */, 0x4e /* N */, 0x41 /* A */]);
/** Payloads up to this many bytes are copied byte by byte (cheaper than a subarray and a native copy). */
const SMALL_PAYLOAD = 64;

/** The part of pg's Connection this stream uses: its socket (not in pg's type declarations) and the simple query. */
interface PgConnection {
  stream: {
    read(): Buffer | null;
    listeners(event: 'data'): ((chunk: Buffer) => void)[];
    on(event: 'data' | 'readable', listener: (chunk: Buffer) => void): unknown;
    removeListener(event: 'data' | 'readable', listener: (chunk: Buffer) => void): unknown;
    pause(): unknown;
    resume(): unknown;
  };
  query(text: string): void;
}

/**
 * A readable stream of the COPY data of `text` (a `COPY … TO STDOUT` statement): pass it to `client.query()`, then read
 * it. Fails with the driver's error (SQLSTATE in `code`) when the server reports one; ends after CopyDone.
 */
export class CopyOutStream extends Readable implements Submittable {
  readonly text: string;
  #connection: PgConnection | null = null;
  #pgDataHandler: ((chunk: Buffer) => void) | null = null;
  #readable = (): void => this.#forward();
  /** Bytes of the current message header (type + length) seen so far, when it spans socket reads. */
  readonly #header = Buffer.alloc(5);
  #headerFill = 0;
  #code = 0;
  /** Body bytes of the current message not yet read; −1 while between messages. */
  #remaining = -1;
  #wanted = false;
  #forwarding = false;
  #done = false;

  constructor(text: string) {
    super({ highWaterMark: 1 << 20 });
    this.text = text;
  }

  /** Called by pg when the query's turn comes: takes over the socket, then sends the statement. */
  submit(pgConnection: Connection): void {
    const connection = pgConnection as unknown as PgConnection;
    this.#connection = connection;
    const socket = connection.stream;
    const handlers = socket.listeners('data');
    if (handlers.length !== 1) throw new Error('CopyOutStream: the pg connection has an unexpected number of data listeners');
    this.#pgDataHandler = handlers[0]!;
    socket.removeListener('data', this.#pgDataHandler);
    socket.pause();
    socket.on('readable', this.#readable);
    connection.query(this.text);
  }

  override _read(): void {
    this.#wanted = true;
    this.#forward();
  }

  #forward(): void {
    if (this.#forwarding || !this.#wanted || this.#connection === null || this.#done) return;
    this.#forwarding = true;
    const socket = this.#connection.stream;
    let chunk: Buffer | null;
    while (this.#wanted && !this.#done && (chunk = socket.read()) !== null) this.#wanted = this.#parse(chunk);
    this.#forwarding = false;
  }

  /** Walks the messages of one socket read; returns whether more data is wanted now. */
  #parse(chunk: Buffer): boolean {
    const out = Buffer.allocUnsafe(chunk.length);
    let written = 0;
    let pos = 0;
    const end = chunk.length;
    while (pos < end) {
      if (this.#remaining === -1) {
        // A message header: type byte and int32 length, possibly split over socket reads.
        if (this.#headerFill === 0 && end - pos >= 5) {
          this.#code = chunk[pos]!;
          if (this.#code === ERROR_RESPONSE) return this.#handBack(written, out, chunk.subarray(pos));
          this.#remaining = chunk.readInt32BE(pos + 1) - 4;
          pos += 5;
        } else {
          this.#header[this.#headerFill++] = chunk[pos++]!;
          this.#code = this.#header[0]!;
          if (this.#code === ERROR_RESPONSE) return this.#handBack(written, out, Buffer.concat([this.#header.subarray(0, this.#headerFill), chunk.subarray(pos)]));
          if (this.#headerFill < 5) continue;
          this.#remaining = this.#header.readInt32BE(1) - 4;
          this.#headerFill = 0;
        }
        if (this.#code === COPY_DONE) {
          // CopyDone has no body: everything after it (CommandComplete, ReadyForQuery) is the driver's.
          this.#remaining = -1;
          return this.#handBack(written, out, chunk.subarray(pos), true);
        }
        if (this.#code !== COPY_DATA && !INTERSPERSED.has(this.#code)) {
          // Not a COPY OUT message (a COPY that did not start, say): let the driver deal with it from its header on.
          const header = Buffer.from([this.#code, 0, 0, 0, 0]);
          header.writeInt32BE(this.#remaining + 4, 1);
          this.#remaining = -1;
          return this.#handBack(written, out, Buffer.concat([header, chunk.subarray(pos)]), true);
        }
      }
      const take = Math.min(this.#remaining, end - pos);
      if (this.#code === COPY_DATA) {
        // Not out.set(chunk.subarray(…)): a view object per row cost as much as the copy, plus its garbage.
        if (take <= SMALL_PAYLOAD) for (let i = 0; i < take; i += 1) out[written + i] = chunk[pos + i]!;
        else chunk.copy(out, written, pos, pos + take);
        written += take;
      }
      pos += take;
      this.#remaining -= take;
      if (this.#remaining === 0) this.#remaining = -1;
    }
    return written > 0 ? this.push(out.subarray(0, written)) : true;
  }

  /** Gives the socket back to the driver with the bytes it must still parse; ends the stream after a CopyDone. */
  #handBack(written: number, out: Buffer, rest: Buffer, finished = false): boolean {
    this.#done = true;
    if (finished && written > 0) this.push(out.subarray(0, written));
    const connection = this.#connection!;
    const handler = this.#pgDataHandler!;
    connection.stream.removeListener('readable', this.#readable);
    connection.stream.on('data', handler);
    if (rest.length > 0) handler(rest);
    // As pg-copy-streams: the driver's handler may pause the socket; resume it once that handler has returned.
    process.nextTick(() => connection.stream.resume());
    if (finished) this.push(null);
    return false;
  }

  /** pg: the server or the connection reported an error for this query. */
  handleError(error: Error): void {
    this.destroy(error);
  }

  /** pg: CommandComplete (`COPY n`), after the stream has ended. */
  handleCommandComplete(): void {}

  /** pg: ReadyForQuery; the driver moves on to the next query. */
  handleReadyForQuery(): void {}
}

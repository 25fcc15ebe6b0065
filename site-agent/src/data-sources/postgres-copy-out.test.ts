// The COPY OUT transport on protocol bytes written by hand (PostgreSQL "Frontend/Backend Protocol — Message Formats"):
// CopyData payloads come out concatenated whatever the socket reads, interspersed messages are skipped, and every byte
// after CopyDone or from an ErrorResponse on goes back to the driver.
import { PassThrough } from 'node:stream';
import type { Connection } from 'pg';
import { describe, expect, it } from 'vitest';
import { CopyOutStream } from './postgres-copy-out.ts';

/** One backend message: type byte, int32 length (counting itself), body. */
function message(type: string, body: Buffer | string = Buffer.alloc(0)): Buffer {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'latin1') : body;
  const header = Buffer.alloc(5);
  header.write(type, 0, 'latin1');
  header.writeInt32BE(bytes.length + 4, 1);
  return Buffer.concat([header, bytes]);
}

const payloads = [Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'), Buffer.alloc(3, 7), Buffer.alloc(200, 9), Buffer.from([1, 2, 3, 4, 5])];
const BEFORE_DONE = Buffer.concat([
  message('H', Buffer.from([1, 0, 1, 0, 1])), // CopyOutResponse: binary, one column, binary
  message('d', payloads[0]),
  message('N', 'SWARNING\0Mnotice\0\0'), // NoticeResponse in the middle of the data
  message('d', payloads[1]),
  message('S', 'application_name\0x\0'), // ParameterStatus
  message('d', payloads[2]),
  message('d', payloads[3]),
]);
const AFTER_DONE = Buffer.concat([message('C', 'COPY 4\0'), message('Z', 'I')]);
const SERVER = Buffer.concat([BEFORE_DONE, message('c'), AFTER_DONE]);

/** A stand-in for pg's Connection: its socket (a PassThrough) with the driver's one data handler, which records bytes. */
function fakeConnection(): { connection: Connection; socket: PassThrough; driver: Buffer[]; sent: string[] } {
  const socket = new PassThrough();
  const driver: Buffer[] = [];
  const sent: string[] = [];
  socket.on('data', (chunk: Buffer) => driver.push(Buffer.from(chunk)));
  return { connection: { stream: socket, query: (text: string) => sent.push(text) } as unknown as Connection, socket, driver, sent };
}

async function run(chunks: Buffer[]): Promise<{ data: Buffer; driver: Buffer; sent: string[]; error: unknown }> {
  const { connection, socket, driver, sent } = fakeConnection();
  const stream = new CopyOutStream('COPY (SELECT 1) TO STDOUT (FORMAT binary)');
  stream.submit(connection);
  const parts: Buffer[] = [];
  let error: unknown;
  const reading = (async () => {
    try {
      for await (const part of stream) parts.push(part as Buffer);
    } catch (caught) {
      error = caught;
    }
  })();
  for (const chunk of chunks) {
    socket.write(chunk);
    await new Promise((resolve) => setImmediate(resolve));
  }
  await new Promise((resolve) => setImmediate(resolve));
  // What pg does once it has parsed an ErrorResponse (or the connection closed) during the query.
  if (!stream.readableEnded && !stream.destroyed) stream.handleError(new Error('not ended'));
  await reading;
  return { data: Buffer.concat(parts), driver: Buffer.concat(driver), sent, error };
}

describe('CopyOutStream', () => {
  it('streams the CopyData payloads and hands the driver every byte after CopyDone, however the socket splits them', async () => {
    for (let cut = 0; cut <= SERVER.length; cut += 7) {
      const { data, driver, sent, error } = await run([SERVER.subarray(0, cut), SERVER.subarray(cut)]);
      expect(error).toBeUndefined();
      expect(sent).toEqual(['COPY (SELECT 1) TO STDOUT (FORMAT binary)']);
      expect(data.equals(Buffer.concat(payloads))).toBe(true);
      expect(driver.equals(AFTER_DONE)).toBe(true);
    }
    const byteByByte = await run([...SERVER].map((byte) => Buffer.from([byte])));
    expect(byteByByte.data.equals(Buffer.concat(payloads))).toBe(true);
    expect(byteByByte.driver.equals(AFTER_DONE)).toBe(true);
  });

  it('gives the driver an ErrorResponse from its first byte, so the driver reports the SQLSTATE', async () => {
    const error = message('E', 'SERROR\0C22012\0Mdivision by zero\0\0');
    const server = Buffer.concat([BEFORE_DONE, error, message('Z', 'E')]);
    for (const cut of [BEFORE_DONE.length, BEFORE_DONE.length + 1, BEFORE_DONE.length + 3, BEFORE_DONE.length + 9]) {
      const result = await run([server.subarray(0, cut), server.subarray(cut)]);
      expect(result.driver.equals(Buffer.concat([error, message('Z', 'E')]))).toBe(true);
      expect(result.error).toBeInstanceOf(Error);
    }
  });
});

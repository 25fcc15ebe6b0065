// Attack: anyone who can reach the coordinator's site socket sends huge frames before saying who it is. Before a site
// authenticates, frames are held to limits.max_preauth_message_bytes (64 KiB): a 1 MiB frame is refused with its coded
// error as soon as its header announces the length, before the payload is buffered, and the socket is closed (1009).
import { decodeMessage } from '@fedval/protocol';
import type { Message } from '@fedval/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startDeployment } from '../helpers/deployment.ts';
import type { Deployment } from '../helpers/deployment.ts';

describe('frames before authentication', () => {
  let deployment: Deployment;
  beforeAll(async () => {
    deployment = await startDeployment(['site-0']);
  }, 60_000);
  afterAll(async () => deployment?.stop());

  it('refuses a 1 MiB frame before hello with FEDVAL_ERR_COORD_PREAUTH_MESSAGE_TOO_LARGE and closes the socket', async () => {
    const socket = new WebSocket(deployment.wsUrl);
    const messages: Message[] = [];
    const closed = new Promise<{ code: number; reason: string }>((resolve) => socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    socket.on('error', () => {}); // the server may reset the connection while the client still writes
    const challenge = new Promise<void>((resolve) =>
      socket.on('message', (data: Buffer) => {
        messages.push(decodeMessage(new Uint8Array(data)));
        if (messages.length === 1) resolve();
      }),
    );
    await challenge;
    expect(messages[0]!.type).toBe('challenge');
    socket.send(new Uint8Array(1024 * 1024), { binary: true }); // 1 MiB, no hello yet
    const { code, reason } = await closed;
    expect(messages.slice(1)).toEqual([expect.objectContaining({ type: 'error', error: expect.objectContaining({ code: 'FEDVAL_ERR_COORD_PREAUTH_MESSAGE_TOO_LARGE' }) })]);
    expect({ code, reason }).toEqual({ code: 1009, reason: 'FEDVAL_ERR_COORD_PREAUTH_MESSAGE_TOO_LARGE' });
    // The coordinator keeps serving.
    expect((await deployment.api('GET', '/healthz')).body).toEqual({ status: 'ok' });
  }, 60_000);
});

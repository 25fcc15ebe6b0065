import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createMessage } from '@fedval/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { ProtocolSite, SITE_TOKENS, startTestCoordinator } from './test-support/protocol-site.ts';
import type { RunningCoordinator } from './test-support/protocol-site.ts';

let running: RunningCoordinator | undefined;
const sites: ProtocolSite[] = [];

async function start(limits: Record<string, number> = {}): Promise<RunningCoordinator> {
  running = await startTestCoordinator(limits);
  return running;
}
async function connect(wsUrl: string): Promise<ProtocolSite> {
  const site = await ProtocolSite.connect(wsUrl);
  sites.push(site);
  return site;
}
async function authenticated(wsUrl: string, siteId: string): Promise<ProtocolSite> {
  const site = await ProtocolSite.authenticated(wsUrl, siteId);
  sites.push(site);
  return site;
}

afterEach(async () => {
  await Promise.all(sites.splice(0).map((site) => site.close()));
  await running?.stop();
  running = undefined;
});

/** The server still accepts and authenticates a fresh site and answers REST. */
async function expectStillServing(server: RunningCoordinator): Promise<void> {
  const fresh = await authenticated(server.wsUrl, 'site-c');
  expect(fresh.socket.readyState).toBe(fresh.socket.OPEN);
  expect((await server.api('GET', '/healthz')).body).toEqual({ status: 'ok' });
}

describe('site authentication', () => {
  it('welcomes a site with the right token and reports it connected', async () => {
    const server = await start();
    const site = await connect(server.wsUrl);
    const hello = createMessage('hello', { siteId: 'site-a', token: SITE_TOKENS['site-a'] as string, agentVersion: 't', capabilities: { tasks: ['binary'], contributions: ['plaintext'] } });
    site.send(hello);
    const welcome = await site.next();
    expect(welcome).toMatchObject({ type: 'welcome', replyTo: hello.id, content: { siteId: 'site-a', heartbeatIntervalMs: 15_000 } });
    // The welcome carries the coordinator's trail head: the connection.accepted entry it just wrote.
    const accepted = readFileSync(join(server.dataDir, 'audit.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line)).at(-1);
    expect(accepted).toMatchObject({ action: 'connection.accepted', object: 'site:site-a' });
    expect(welcome.type === 'welcome' && welcome.content.auditHead).toEqual({ seq: accepted.seq, hash: accepted.hash });
    const { body } = await server.api('GET', '/api/sites');
    expect(body).toEqual([
      { site_id: 'site-a', connected: true, last_seen: expect.stringMatching(/^\d{4}-\d\d-\d\dT/), key_fingerprint: null },
      { site_id: 'site-b', connected: false, last_seen: null, key_fingerprint: null },
      { site_id: 'site-c', connected: false, last_seen: null, key_fingerprint: null },
    ]);
  });

  it('refuses a wrong token and an unknown site with the same error, and closes 4401', async () => {
    const server = await start();
    const wrongToken = await connect(server.wsUrl);
    const replyA = await wrongToken.hello('site-a', SITE_TOKENS['site-b'] as string);
    const unknownSite = await connect(server.wsUrl);
    const replyB = await unknownSite.hello('site-z', SITE_TOKENS['site-a'] as string);
    for (const [reply, site] of [[replyA, wrongToken], [replyB, unknownSite]] as const) {
      expect(reply).toMatchObject({ type: 'error', error: { code: 'FEDVAL_ERR_COORD_UNAUTHORIZED', message: 'site authentication failed' } });
      expect(await site.closed).toEqual({ code: 4401, reason: 'FEDVAL_ERR_COORD_UNAUTHORIZED' });
    }
    expect((await server.api('GET', '/api/sites')).body.every((s: { connected: boolean }) => !s.connected)).toBe(true);
  });

  it('closes a socket that does not say hello within auth_timeout_ms with 4408', async () => {
    const server = await start({ auth_timeout_ms: 150 });
    // Timed from before the connection opens: the server's timer starts when it accepts the socket,
    // which is never earlier, however slowly the client learns that it is open.
    const started = Date.now();
    const site = await connect(server.wsUrl);
    expect(await site.next()).toMatchObject({ type: 'error', error: { code: 'FEDVAL_ERR_COORD_AUTH_TIMEOUT' } });
    expect((await site.closed).code).toBe(4408);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
  });

  it('requires hello first: any other valid message before it closes the socket with 4400', async () => {
    const server = await start();
    const site = await connect(server.wsUrl);
    site.send(createMessage('heartbeat', {}));
    expect(await site.next()).toMatchObject({ type: 'error', error: { code: 'FEDVAL_ERR_COORD_HELLO_REQUIRED' } });
    expect((await site.closed).code).toBe(4400);
  });

  it('lets a second connection for the same site replace the first', async () => {
    const server = await start();
    const first = await authenticated(server.wsUrl, 'site-a');
    const second = await authenticated(server.wsUrl, 'site-a');
    expect(await first.next()).toMatchObject({ type: 'error', error: { code: 'FEDVAL_ERR_COORD_REPLACED' } });
    expect(await first.closed).toEqual({ code: 4409, reason: 'FEDVAL_ERR_COORD_REPLACED' });
    // The replaced socket closing does not disconnect the site.
    expect((await server.api('GET', '/api/sites')).body[0]).toMatchObject({ site_id: 'site-a', connected: true });
    expect(second.socket.readyState).toBe(second.socket.OPEN);
  });
});

describe('bad input on the socket', () => {
  it('answers garbage bytes before hello with the protocol error code and closes 4400; the server keeps serving', async () => {
    const server = await start();
    const site = await connect(server.wsUrl);
    site.sendRaw(Uint8Array.of(0xc1, 0xff, 0x00, 0x13, 0x37));
    const reply = await site.next();
    expect(reply.type).toBe('error');
    expect(reply.type === 'error' && reply.error.code).toMatch(/^FEDVAL_ERR_PROTO_/);
    expect((await site.closed).code).toBe(4400);
    await expectStillServing(server);
  });

  it('refuses text frames', async () => {
    const server = await start();
    const site = await connect(server.wsUrl);
    site.sendRaw('{"type":"hello"}', false);
    expect(await site.next()).toMatchObject({ type: 'error', error: { code: 'FEDVAL_ERR_COORD_TEXT_FRAME' } });
    expect((await site.closed).code).toBe(4400);
  });

  it('refuses a frame over max_message_bytes before buffering it (close 1009); the server keeps serving', async () => {
    const server = await start({ max_message_bytes: 64 * 1024 });
    const site = await authenticated(server.wsUrl, 'site-a');
    site.sendRaw(new Uint8Array(64 * 1024 + 1));
    expect((await site.closed).code).toBe(1009);
    await expectStillServing(server);
  });

  it('refuses a 1 MiB frame before hello (max_preauth_message_bytes, 64 KiB) with its code and closes 1009; after hello 1 MiB is read', async () => {
    const server = await start();
    const stranger = await connect(server.wsUrl);
    stranger.sendRaw(new Uint8Array(1024 * 1024));
    expect(await stranger.next()).toMatchObject({ type: 'error', error: { code: 'FEDVAL_ERR_COORD_PREAUTH_MESSAGE_TOO_LARGE' } });
    expect(await stranger.closed).toEqual({ code: 1009, reason: 'FEDVAL_ERR_COORD_PREAUTH_MESSAGE_TOO_LARGE' });
    // An authenticated site may send up to max_message_bytes: a 1 MiB result for an unknown round is read and answered.
    const site = await authenticated(server.wsUrl, 'site-a');
    const vector = new Float64Array(128 * 1024); // 1 MiB
    site.send(createMessage('task.result', { roundId: 'no-such-round', contribution: { kind: 'plaintext', vector }, contributionSha256: '0'.repeat(64) }));
    const answer = await site.next();
    expect(answer.type === 'error' && answer.error.code).toMatch(/^FEDVAL_ERR_COORD_/);
    expect(answer.type === 'error' && answer.error.code).not.toMatch(/TOO_LARGE/);
    expect(site.socket.readyState).toBe(site.socket.OPEN);
    await expectStillServing(server);
  });

  it('records refused unauthenticated sockets once per interval: the first in full, the rest in one summary', async () => {
    const server = await start({ refusal_audit_interval_ms: 300 });
    const refused = await Promise.all(Array.from({ length: 12 }, () => connect(server.wsUrl)));
    for (const peer of refused) peer.sendRaw(Uint8Array.of(0xc1));
    await Promise.all(refused.map((peer) => peer.closed));
    const trail = (): { action: string; details: Record<string, unknown> }[] =>
      readFileSync(join(server.dataDir, 'audit.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line));
    expect(trail().filter((entry) => entry.action.startsWith('connection.refused')).map((entry) => entry.action)).toEqual(['connection.refused']);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const summaries = trail().filter((entry) => entry.action === 'connection.refused_summary');
    expect(summaries).toHaveLength(1);
    expect(summaries[0]!.details).toMatchObject({ refused: 11, by_claimed_site: { unidentified: 11 }, ips: ['127.0.0.1'] });
    expect(Object.values(summaries[0]!.details.by_code as Record<string, number>).reduce((a, b) => a + b, 0)).toBe(11);
  });

  it('answers invalid frames from an authenticated site and keeps it, until max_invalid_messages', async () => {
    const server = await start({ max_invalid_messages: 3 });
    const site = await authenticated(server.wsUrl, 'site-a');
    site.sendRaw(Uint8Array.of(0x93, 0x01)); // truncated msgpack array
    expect(await site.next()).toMatchObject({ type: 'error', error: { code: 'FEDVAL_ERR_PROTO_MALFORMED' } });
    site.send(createMessage('task.cancel', { roundId: 'r1', reason: { code: 'FEDVAL_ERR_COORD_ROUND_CLOSED', message: 'x' } }));
    expect(await site.next()).toMatchObject({ type: 'error', error: { code: 'FEDVAL_ERR_COORD_UNEXPECTED_MESSAGE' } });
    expect(site.socket.readyState).toBe(site.socket.OPEN);
    site.sendRaw('text', false);
    expect(await site.next()).toMatchObject({ type: 'error', error: { code: 'FEDVAL_ERR_COORD_TEXT_FRAME' } });
    expect(await site.next()).toMatchObject({ type: 'error', error: { code: 'FEDVAL_ERR_COORD_TOO_MANY_INVALID' } });
    expect((await site.closed).code).toBe(4429);
    await expectStillServing(server);
  });

  it('survives a burst of random frames from many sockets', async () => {
    const server = await start();
    let state = 12345;
    const random = (): number => {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      return state >>> 16;
    };
    const peers = await Promise.all(Array.from({ length: 8 }, () => connect(server.wsUrl)));
    for (const peer of peers) {
      const bytes = new Uint8Array(1 + (random() % 200));
      for (let i = 0; i < bytes.length; i += 1) bytes[i] = random() & 0xff;
      peer.sendRaw(bytes);
    }
    await Promise.all(peers.map((peer) => peer.closed));
    await expectStillServing(server);
  });
});

describe('heartbeats', () => {
  it('answers a site heartbeat, sends its own, and disconnects a site silent for three intervals', async () => {
    const server = await start({ heartbeat_interval_ms: 100 });
    const site = await authenticated(server.wsUrl, 'site-a');
    const ping = createMessage('heartbeat', {});
    site.send(ping);
    // The coordinator's own heartbeat (every 100 ms) may arrive before or after its reply to the ping: take both, in
    // whichever order they come.
    const heartbeats = [await site.next('heartbeat')];
    const reply = () => heartbeats.find((message) => message.replyTo !== undefined);
    while (reply() === undefined || heartbeats.every((message) => message.replyTo !== undefined)) heartbeats.push(await site.next('heartbeat'));
    expect(reply()).toMatchObject({ type: 'heartbeat', replyTo: ping.id });
    // The test site never answers again: the coordinator closes it after 3 silent intervals.
    const closed = await site.closed;
    expect(closed).toEqual({ code: 4408, reason: 'FEDVAL_ERR_COORD_HEARTBEAT_TIMEOUT' });
    expect((await server.api('GET', '/api/sites')).body[0]).toMatchObject({ site_id: 'site-a', connected: false });
  });
});

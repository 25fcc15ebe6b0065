// The site connections' memory bounds over real loopback WebSockets: the send budget (frames queued in order, none lost,
// never more than the budget in flight) and paused reading (nothing read while paused, everything after).
import type { AddressInfo } from 'node:net';
import { createMessage, decodeMessage, encodeMessage } from '@fedval/protocol';
import type { Message } from '@fedval/protocol';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { SiteConnections } from './site-connections.ts';

const log = pino({ level: 'silent' });

interface Pair {
  /** The coordinator's side of the socket. */
  server: WebSocket;
  /** The site's side, and every binary frame it received. */
  client: WebSocket;
  received: Buffer[];
}

let wss: WebSocketServer | undefined;
const clients: WebSocket[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) client.terminate();
  await new Promise<void>((resolve) => (wss ? wss.close(() => resolve()) : resolve()));
  wss = undefined;
});

/** `count` real socket pairs over loopback. */
async function pairs(count: number): Promise<Pair[]> {
  wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => wss!.once('listening', () => resolve()));
  const { port } = wss.address() as AddressInfo;
  const out: Pair[] = [];
  for (let i = 0; i < count; i += 1) {
    const accepted = new Promise<WebSocket>((resolve) => wss!.once('connection', (socket) => resolve(socket)));
    const client = new WebSocket(`ws://127.0.0.1:${port}`);
    clients.push(client);
    const received: Buffer[] = [];
    client.on('message', (data) => received.push(data as Buffer));
    await new Promise<void>((resolve) => client.once('open', () => resolve()));
    out.push({ server: await accepted, client, received });
  }
  return out;
}

const until = async (check: () => boolean, ms = 5000): Promise<void> => {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
};

/** A message of about `shares` × 4 kB that names its site and index (a secure-aggregation inbox: the largest per-site frame). */
const bulky = (site: number, index: number, shares: number): Message =>
  createMessage('secagg.inbox', { roundId: `r-${site}-${index}`, shares: Array.from({ length: shares }, (_, k) => ({ from: `s${k}`, sealed: new Uint8Array(4000).fill(k % 256) })) });

/** The site and index each received frame names. */
const named = (frames: Buffer[]): string[] =>
  frames.map((data) => {
    const message = decodeMessage(data);
    return 'content' in message && 'roundId' in message.content ? message.content.roundId : message.type;
  });

describe('SiteConnections', () => {
  it('sends every frame, in order per site, never holding more than the budget (or one frame) in flight', async () => {
    const sites = await pairs(3);
    const connections = new SiteConnections(log, new Map(), { maxSendBufferBytes: 10_000 });
    sites.forEach((pair, i) => connections.attach(`site-${i}`, pair.server));
    const frameBytes = encodeMessage(bulky(0, 0, 1)).byteLength; // about 4.1 kB
    let maxInFlight = 0;
    for (let index = 0; index < 20; index += 1) {
      for (let site = 0; site < 3; site += 1) {
        expect(connections.send(`site-${site}`, bulky(site, index, 1))).toBe(true);
        maxInFlight = Math.max(maxInFlight, connections.sendBacklog.bytes);
      }
    }
    // 60 frames queued at once: 3 of them handed to sockets (the third crosses 10 000 bytes), the rest waiting, not encoded.
    expect(maxInFlight).toBe(3 * frameBytes);
    expect(connections.sendBacklog.queued).toBe(57);
    await until(() => sites.every((pair) => pair.received.length === 20));
    sites.forEach((pair, site) => expect(named(pair.received)).toEqual(Array.from({ length: 20 }, (_, index) => `r-${site}-${index}`)));
    expect(connections.sendBacklog).toEqual({ bytes: 0, queued: 0, queuedTotal: 57 });
  });

  it('sends a frame larger than the budget alone, and drops what was queued for a socket that closed; the others get theirs', async () => {
    const sites = await pairs(2);
    const connections = new SiteConnections(log, new Map(), { maxSendBufferBytes: 1 });
    sites.forEach((pair, i) => connections.attach(`site-${i}`, pair.server));
    for (let index = 0; index < 5; index += 1) for (let site = 0; site < 2; site += 1) connections.send(`site-${site}`, bulky(site, index, 12));
    expect(connections.sendBacklog.bytes).toBe(encodeMessage(bulky(0, 0, 12)).byteLength); // one frame of ~48 kB over a budget of 1 byte
    sites[1]!.server.close();
    await until(() => sites[0]!.received.length === 5 && connections.sendBacklog.queued === 0);
    expect(named(sites[0]!.received)).toEqual(['r-0-0', 'r-0-1', 'r-0-2', 'r-0-3', 'r-0-4']);
    expect(sites[1]!.received.length).toBeLessThan(5);
    expect(connections.send('site-1', createMessage('heartbeat', {}))).toBe(false);
  });

  it('a site that stops reading cannot hold the budget: once its writes stall, frames to the other sites go out', async () => {
    const [stalled, healthy] = await pairs(2);
    const connections = new SiteConnections(log, new Map(), { maxSendBufferBytes: 64 * 1024, sendStallMs: 100 });
    connections.attach('stalled', stalled!.server);
    connections.attach('healthy', healthy!.server);
    stalled!.client.pause(); // the site's process reads nothing more: the kernel's buffers fill, its writes never complete
    for (let index = 0; index < 24; index += 1) connections.send('stalled', bulky(0, index, 250)); // ~1 MB each
    for (let index = 0; index < 5; index += 1) connections.send('healthy', bulky(1, index, 1));
    await until(() => healthy!.received.length === 5, 10_000);
    expect(named(healthy!.received)).toEqual(['r-1-0', 'r-1-1', 'r-1-2', 'r-1-3', 'r-1-4']);
    expect(stalled!.received.length).toBe(0);
  });

  it('disconnects a site whose write stays pending sendTimeoutMs (it stopped reading), so its frames do not pile up; the others are not touched', async () => {
    const [stalled, healthy] = await pairs(2);
    const connections = new SiteConnections(log, new Map(), { maxSendBufferBytes: 64 * 1024, sendStallMs: 50, sendTimeoutMs: 400 });
    connections.attach('stalled', stalled!.server);
    connections.attach('healthy', healthy!.server);
    stalled!.client.pause();
    const closed = new Promise<void>((resolve) => stalled!.server.once('close', () => resolve()));
    for (let index = 0; index < 24; index += 1) connections.send('stalled', bulky(0, index, 250)); // ~1 MB each
    for (let index = 0; index < 3; index += 1) connections.send('healthy', bulky(1, index, 1));
    await closed;
    expect(connections.slowSitesDisconnected).toBe(1);
    expect(connections.isConnected('stalled')).toBe(false);
    await until(() => healthy!.received.length === 3);
    expect(connections.isConnected('healthy')).toBe(true);
  });

  it('sends a frame shared by every site (sendEncoded) past a full budget, behind only what was queued before it', async () => {
    const sites = await pairs(2);
    const connections = new SiteConnections(log, new Map(), { maxSendBufferBytes: 1 });
    sites.forEach((pair, i) => connections.attach(`site-${i}`, pair.server));
    const shared = encodeMessage(createMessage('task.cancel', { roundId: 'r-shared', reason: { code: 'FEDVAL_ERR_COORD_ROUND_CLOSED', message: 'closed' } }));
    connections.send('site-0', bulky(0, 0, 12)); // the budget is full now
    connections.sendEncoded('site-1', shared);
    expect(connections.sendBacklog.queued).toBe(0); // handed over at once
    connections.send('site-0', bulky(0, 1, 12)); // waits for the budget...
    connections.sendEncoded('site-1', shared); // ...and the shared frame waits behind it, keeping the order of sends
    expect(connections.sendBacklog.queued).toBe(2);
    await until(() => sites[0]!.received.length === 2 && sites[1]!.received.length === 2);
    expect(named(sites[1]!.received)).toEqual(['r-shared', 'r-shared']);
    expect(named(sites[0]!.received)).toEqual(['r-0-0', 'r-0-1']);
  });

  it('reads nothing while paused, a socket attached meanwhile included, and everything, in order, once resumed', async () => {
    const sites = await pairs(2);
    const connections = new SiteConnections(log);
    const heard: string[] = [];
    sites.forEach((pair, i) => pair.server.on('message', (data) => heard.push(`site-${i}:${String(data)}`)));
    connections.attach('site-0', sites[0]!.server);
    connections.pauseReading();
    connections.attach('site-1', sites[1]!.server);
    expect(connections.reading).toEqual({ paused: true, pauses: 1 });
    for (const [i, pair] of sites.entries()) for (const n of [1, 2, 3]) pair.client.send(`${i}.${n}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(heard).toEqual([]);
    connections.resumeReading();
    await until(() => heard.length === 6);
    expect(heard.filter((line) => line.startsWith('site-0'))).toEqual(['site-0:0.1', 'site-0:0.2', 'site-0:0.3']);
    expect(heard.filter((line) => line.startsWith('site-1'))).toEqual(['site-1:1.1', 'site-1:1.2', 'site-1:1.3']);
    expect(connections.reading).toEqual({ paused: false, pauses: 1 });
  });
});

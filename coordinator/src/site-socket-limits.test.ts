import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import WebSocket from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { parseCoordinatorConfig, trustProxyWarnings } from './config.ts';
import { addressKey, TokenBuckets } from './connection-limits.ts';
import { createCoordinator } from './server.ts';
import { hashToken } from './site-auth.ts';
import { SiteSocketLimits } from './site-socket-limits.ts';
import { ProtocolSite, SITE_TOKENS, startTestCoordinator } from './test-support/protocol-site.ts';
import type { RunningCoordinator } from './test-support/protocol-site.ts';

/** One WebSocket attempt: 'open' (then closed by us), or the HTTP status and coded error of a refused upgrade. */
function attempt(wsUrl: string, headers: Record<string, string> = {}, keepOpen = false): Promise<{ outcome: string; code?: string; retryAfter?: string; socket?: WebSocket }> {
  return new Promise((resolve) => {
    const socket = new WebSocket(wsUrl, { headers });
    socket.once('open', () => {
      if (!keepOpen) socket.close();
      resolve({ outcome: 'open', ...(keepOpen ? { socket } : {}) });
    });
    socket.once('unexpected-response', (_request, response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString()));
      response.on('end', () => {
        resolve({ outcome: `http ${response.statusCode}`, code: (JSON.parse(body) as { error: { code: string } }).error.code, retryAfter: response.headers['retry-after'] as string });
        socket.terminate();
      });
    });
    socket.once('error', () => resolve({ outcome: 'error' }));
  });
}

describe('token buckets', () => {
  it('grant a burst, then one token per 1/rate, and forget full buckets when the key table is full', () => {
    const buckets = new TokenBuckets({ burst: 3, perSecond: 2, maxKeys: 2 });
    expect([0, 0, 0].map(() => buckets.take('a', 1_000))).toEqual([0, 0, 0]);
    expect(buckets.take('a', 1_000)).toBe(500); // empty: one token in 1/2 s
    expect(buckets.take('a', 1_500)).toBe(0); // refilled one
    expect(buckets.take('b', 1_500)).toBe(0);
    expect(buckets.take('c', 5_000)).toBe(0); // a and b have refilled and are forgotten
    expect(buckets.size).toBe(1);
  });

  it('evict the least recently used key when the table is full of live buckets, instead of refusing new keys', () => {
    const buckets = new TokenBuckets({ burst: 2, perSecond: 0.001, maxKeys: 2 });
    expect([buckets.take('a', 0), buckets.take('b', 0), buckets.take('a', 0)]).toEqual([0, 0, 0]); // a used last
    expect(buckets.take('c', 0)).toBe(0); // a new key is served: b (least recently used) is evicted
    expect(buckets.size).toBe(2);
    expect(buckets.take('a', 0)).toBe(1_000_000); // a kept its empty bucket: one token in 1000 s
  });

  it('key IPv6 clients by their /64, IPv4 (also IPv4-mapped) by the address', () => {
    expect(addressKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:0DB8:0001:0002:ffff:ffff:ffff:ffff')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
    expect(addressKey('::ffff:192.0.2.7')).toBe('192.0.2.7');
    expect(addressKey('192.0.2.7')).toBe('192.0.2.7');
  });
});

describe('site socket limits (unit)', () => {
  const limits = { ws_connects_per_minute: 60, ws_connect_burst: 2, ws_site_connects_per_minute: 60, ws_site_connect_burst: 1, max_unauthenticated_sockets: 2, max_unauthenticated_sockets_per_address: 2 };
  const slotOf = (admission: ReturnType<SiteSocketLimits['admit']>) => {
    if (!('slot' in admission)) throw new Error(`refused: ${admission.refused.code}`);
    return admission.slot;
  };

  it('reserves the place at admission, counts it until it ends once, and refuses past the cap', () => {
    const socketLimits = new SiteSocketLimits({ ...limits, ws_connect_burst: 10 });
    const first = slotOf(socketLimits.admit('10.0.0.1'));
    slotOf(socketLimits.admit('10.0.0.2'));
    expect(socketLimits.unauthenticated).toBe(2);
    expect(socketLimits.admit('10.0.0.3')).toEqual({ refused: { code: 'FEDVAL_ERR_COORD_SOCKETS_BUSY', retryAfterMs: 1000 } });
    first.end();
    first.end();
    expect(socketLimits.unauthenticated).toBe(1);
    slotOf(socketLimits.admit('10.0.0.1'));
  });

  it('caps the unauthenticated sockets of one address (an IPv6 client: its /64) below the global cap', () => {
    const socketLimits = new SiteSocketLimits({ ...limits, ws_connect_burst: 10, max_unauthenticated_sockets: 10 });
    const held = [slotOf(socketLimits.admit('2001:db8::1')), slotOf(socketLimits.admit('2001:db8::2'))];
    expect(socketLimits.admit('2001:db8::3')).toEqual({ refused: { code: 'FEDVAL_ERR_COORD_SOCKETS_BUSY', retryAfterMs: 1000 } });
    slotOf(socketLimits.admit('2001:db8:0:1::1')); // another /64
    held[0]!.end();
    slotOf(socketLimits.admit('2001:db8::3'));
  });

  it('limits each address and each site on its own', () => {
    const socketLimits = new SiteSocketLimits(limits);
    const outcome = (admission: ReturnType<SiteSocketLimits['admit']>) => ('slot' in admission ? (admission.slot.end(), 'admitted') : admission.refused);
    expect([0, 0, 0].map(() => outcome(socketLimits.admit('10.0.0.1', 0)))).toEqual(['admitted', 'admitted', { code: 'FEDVAL_ERR_COORD_RATE_LIMITED', retryAfterMs: 1000 }]);
    expect(outcome(socketLimits.admit('10.0.0.2', 0))).toBe('admitted');
    expect([socketLimits.siteConnected('site-a', 0), socketLimits.siteConnected('site-a', 0), socketLimits.siteConnected('site-b', 0)]).toEqual([0, 1000, 0]);
  });
});

describe('site socket limits on a real coordinator', () => {
  let running: RunningCoordinator | undefined;
  let stopExtra: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await running?.stop();
    running = undefined;
    await stopExtra?.();
    stopExtra = undefined;
  });

  it('lets a fleet behind one address connect at once with the default limits', async () => {
    running = await startTestCoordinator();
    const outcomes = await Promise.all(Array.from({ length: 150 }, () => attempt(running!.wsUrl)));
    expect(outcomes.filter((o) => o.outcome === 'open')).toHaveLength(150);
  });

  it('refuses an address past its burst with HTTP 429 FEDVAL_ERR_COORD_RATE_LIMITED and retry-after, before the upgrade', async () => {
    running = await startTestCoordinator({ ws_connect_burst: 2, ws_connects_per_minute: 1 });
    const outcomes = [await attempt(running.wsUrl), await attempt(running.wsUrl), await attempt(running.wsUrl)];
    expect(outcomes.map((o) => o.outcome)).toEqual(['open', 'open', 'http 429']);
    expect(outcomes[2]).toMatchObject({ code: 'FEDVAL_ERR_COORD_RATE_LIMITED', retryAfter: '60' });
  });

  it('caps sockets waiting to authenticate (HTTP 503 FEDVAL_ERR_COORD_SOCKETS_BUSY); one that authenticates frees its place', async () => {
    running = await startTestCoordinator({ max_unauthenticated_sockets: 2 });
    const waiting = await ProtocolSite.connect(running.wsUrl);
    await ProtocolSite.connect(running.wsUrl);
    expect(await attempt(running.wsUrl)).toMatchObject({ outcome: 'http 503', code: 'FEDVAL_ERR_COORD_SOCKETS_BUSY', retryAfter: '1' });
    expect((await waiting.hello('site-a', SITE_TOKENS['site-a']!)).type).toBe('welcome');
    expect((await attempt(running.wsUrl)).outcome).toBe('open');
  });

  it('caps the sockets one address holds waiting to authenticate (default 256, then HTTP 503), leaving the global cap to others', async () => {
    running = await startTestCoordinator({ max_unauthenticated_sockets: 300 });
    const outcomes = await Promise.all(Array.from({ length: 257 }, () => attempt(running!.wsUrl, {}, true)));
    for (const outcome of outcomes) outcome.socket?.terminate();
    expect(outcomes.filter((o) => o.outcome === 'open')).toHaveLength(256);
    expect(outcomes.filter((o) => o.outcome === 'http 503').map((o) => o.code)).toEqual(['FEDVAL_ERR_COORD_SOCKETS_BUSY']);
  });

  it('counts an upgrade from its admission: upgrades in flight cannot overshoot the cap', async () => {
    // Every upgrade is held 200 ms between admission and the socket handler (a slow hook, a slow TLS peer).
    const slowUpgrade = (app: Parameters<NonNullable<Parameters<typeof startTestCoordinator>[2]>>[0]) =>
      app.addHook('preHandler', async (request) => {
        if (request.url === '/ws') await new Promise((resolve) => setTimeout(resolve, 200));
      });
    running = await startTestCoordinator({ max_unauthenticated_sockets: 3 }, undefined, slowUpgrade);
    const outcomes = await Promise.all(Array.from({ length: 12 }, () => attempt(running!.wsUrl, {}, true)));
    for (const outcome of outcomes) outcome.socket?.terminate();
    expect(outcomes.filter((o) => o.outcome === 'open')).toHaveLength(3);
    expect(outcomes.filter((o) => o.outcome === 'http 503')).toHaveLength(9);
  });

  it('gives the place back when an admitted upgrade fails', async () => {
    running = await startTestCoordinator({ max_unauthenticated_sockets: 1 });
    const { port } = new URL(running.url);
    const socket = connect(Number(port), '127.0.0.1');
    let response = '';
    socket.on('data', (chunk: Buffer) => (response += chunk.toString()));
    socket.write('GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: not-a-key\r\nSec-WebSocket-Version: 13\r\n\r\n');
    await new Promise<void>((resolve) => socket.once('close', () => resolve()));
    expect(response).toMatch(/^HTTP\/1\.1 400 /);
    expect((await attempt(running.wsUrl)).outcome).toBe('open');
  });

  it('drops a connection that never finishes its headers (slowloris) after limits.http_headers_timeout_ms', async () => {
    running = await startTestCoordinator({ http_headers_timeout_ms: 300 });
    const { port } = new URL(running.url);
    const socket = connect(Number(port), '127.0.0.1').resume(); // read (the 408) so that the close is seen
    const started = Date.now();
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write('GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n'); // and never the blank line
    const dropped = await Promise.race([
      new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now() - started))),
      new Promise<'still open'>((resolve) => setTimeout(() => resolve('still open'), 4_000)),
    ]);
    socket.destroy();
    expect(dropped).toBeTypeOf('number');
    expect(dropped as number).toBeGreaterThanOrEqual(300);
  });

  it('closes a site that authenticates past its own burst with 4430 FEDVAL_ERR_COORD_SITE_RATE_LIMITED; other sites are not affected', async () => {
    running = await startTestCoordinator({ ws_site_connect_burst: 2, ws_site_connects_per_minute: 1 });
    await ProtocolSite.authenticated(running.wsUrl, 'site-a');
    await ProtocolSite.authenticated(running.wsUrl, 'site-a');
    const third = await ProtocolSite.connect(running.wsUrl);
    const reply = await third.hello('site-a', SITE_TOKENS['site-a']!);
    expect(reply).toMatchObject({ type: 'error', error: { code: 'FEDVAL_ERR_COORD_SITE_RATE_LIMITED' } });
    expect(await third.closed).toEqual({ code: 4430, reason: 'FEDVAL_ERR_COORD_SITE_RATE_LIMITED' });
    await ProtocolSite.authenticated(running.wsUrl, 'site-b');
  });

  async function coordinatorWithProxy(trustProxy: string[]): Promise<{ wsUrl: string; dir: string }> {
    const dir = mkdtempSync(join(tmpdir(), 'fedval-trust-proxy-'));
    const config = parseCoordinatorConfig(
      {
        listen: { host: '127.0.0.1', port: 0 },
        data_dir: dir,
        sites: Object.entries(SITE_TOKENS).map(([id, token]) => ({ id, token_sha256: hashToken(token) })),
        trust_proxy: trustProxy,
        limits: { ws_connect_burst: 1, ws_connects_per_minute: 1 },
        log_level: 'silent',
      },
      { baseDir: dir },
    );
    const coordinator = createCoordinator(config);
    const { url } = await coordinator.start();
    stopExtra = async () => {
      await coordinator.close();
      rmSync(dir, { recursive: true, force: true });
    };
    return { wsUrl: `${url.replace(/^http/, 'ws')}/ws`, dir };
  }

  it('ignores X-Forwarded-For from a peer that is not a trusted proxy (default): a spoofed header does not buy a new budget', async () => {
    const { wsUrl } = await coordinatorWithProxy([]);
    expect((await attempt(wsUrl, { 'x-forwarded-for': '203.0.113.1' })).outcome).toBe('open');
    expect((await attempt(wsUrl, { 'x-forwarded-for': '203.0.113.2' })).outcome).toBe('http 429');
  });

  it('ignores X-Forwarded-For when trust_proxy lists other addresses only', async () => {
    const { wsUrl } = await coordinatorWithProxy(['10.0.0.0/8', '::1']);
    expect((await attempt(wsUrl, { 'x-forwarded-for': '203.0.113.1' })).outcome).toBe('open');
    expect((await attempt(wsUrl, { 'x-forwarded-for': '203.0.113.2' })).outcome).toBe('http 429');
  });

  it('behind a trusted proxy, limits each forwarded client address on its own', async () => {
    const { wsUrl } = await coordinatorWithProxy(['127.0.0.0/8']);
    expect((await attempt(wsUrl, { 'x-forwarded-for': '203.0.113.1' })).outcome).toBe('open');
    expect((await attempt(wsUrl, { 'x-forwarded-for': '203.0.113.1' })).outcome).toBe('http 429');
    // A client's own header is believed only up to the trusted proxy: the proxy appended the real client last.
    expect((await attempt(wsUrl, { 'x-forwarded-for': '203.0.113.1, 203.0.113.2' })).outcome).toBe('open');
  });

  it('behind a trusted proxy, limits a forwarded value that is not an address under the peer, and audits peer and header', async () => {
    const { wsUrl, dir } = await coordinatorWithProxy(['127.0.0.0/8']);
    expect((await attempt(wsUrl, { 'x-forwarded-for': 'not-an-address-1' })).outcome).toBe('open');
    // A fresh made-up value does not buy a fresh budget: both count against the proxy's own address.
    expect((await attempt(wsUrl, { 'x-forwarded-for': 'not-an-address-2' })).outcome).toBe('http 429');
    const refused = readFileSync(join(dir, 'audit.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { action: string; details: unknown }).find((entry) => entry.action === 'connection.refused');
    expect(refused?.details).toEqual({ ip: '127.0.0.1', peer: '127.0.0.1', forwarded: 'not-an-address-2', code: 'FEDVAL_ERR_COORD_RATE_LIMITED' });
  });

  it('warns about trusted proxy ranges wider than a /24 (IPv4) or a /64 (IPv6)', () => {
    expect(trustProxyWarnings(['10.0.0.0/8', '10.1.2.0/24', '192.0.2.1', 'fd00::/48', 'fd00::/64', '::1'])).toEqual([
      '10.0.0.0/8 is wider than a /24: list the proxies\' own addresses instead',
      'fd00::/48 is wider than a /64: list the proxies\' own addresses instead',
    ]);
  });

  it('logs the warning for a wide trusted range when the coordinator is built from its configuration', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedval-trust-proxy-'));
    const lines: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) });
    const config = parseCoordinatorConfig({ data_dir: dir, sites: [{ id: 'site-a', token_sha256: 'a'.repeat(64) }], trust_proxy: ['10.0.0.0/8', '10.1.2.3'] }, { baseDir: dir });
    const coordinator = createCoordinator(config, { logger });
    stopExtra = async () => {
      await coordinator.close();
      rmSync(dir, { recursive: true, force: true });
    };
    expect(lines.map((line) => JSON.parse(line) as { level: number; trust_proxy?: string })).toEqual([
      expect.objectContaining({ level: 40, trust_proxy: '10.0.0.0/8 is wider than a /24: list the proxies\' own addresses instead' }),
    ]);
  });

  it('refuses a trust_proxy entry that is not an address or CIDR range, naming it', () => {
    const dir = tmpdir();
    const parse = (trust: unknown) => () => parseCoordinatorConfig({ data_dir: dir, sites: [{ id: 'site-a', token_sha256: 'a'.repeat(64) }], trust_proxy: trust }, { baseDir: dir });
    expect(parse(['10.0.0.0/33', 'proxy.example.org', '192.168.1.1', 'fd00::/8'])).toThrow(/trust_proxy\[0\]: an IPv4 or IPv6 address.*trust_proxy\[1\]/);
    expect(parse(['192.168.1.1', 'fd00::/8', '::1'])()).toMatchObject({ trust_proxy: ['192.168.1.1', 'fd00::/8', '::1'] });
    expect(parse(undefined)()).toMatchObject({ trust_proxy: [] });
  });
});

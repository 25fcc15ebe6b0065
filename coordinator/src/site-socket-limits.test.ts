import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { parseCoordinatorConfig } from './config.ts';
import { TokenBuckets } from './connection-limits.ts';
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
    expect(buckets.take('c', 1_500)).toBe(500); // table full of live buckets: a new key waits
    expect(buckets.take('c', 5_000)).toBe(0); // a and b have refilled and are forgotten
    expect(buckets.size).toBe(1);
  });
});

describe('site socket limits (unit)', () => {
  const limits = { ws_connects_per_minute: 60, ws_connect_burst: 2, ws_site_connects_per_minute: 60, ws_site_connect_burst: 1, max_unauthenticated_sockets: 2 };

  it('counts unauthenticated sockets until each ends once, and refuses past the cap', () => {
    const socketLimits = new SiteSocketLimits({ ...limits, ws_connect_burst: 10 });
    const first = socketLimits.opened();
    socketLimits.opened();
    expect(socketLimits.admit('10.0.0.1')).toEqual({ code: 'FEDVAL_ERR_COORD_SOCKETS_BUSY', retryAfterMs: 1000 });
    first.end();
    first.end();
    expect(socketLimits.unauthenticated).toBe(1);
    expect(socketLimits.admit('10.0.0.1')).toBeUndefined();
  });

  it('limits each address and each site on its own', () => {
    const socketLimits = new SiteSocketLimits(limits);
    expect([socketLimits.admit('10.0.0.1', 0), socketLimits.admit('10.0.0.1', 0), socketLimits.admit('10.0.0.1', 0)]).toEqual([undefined, undefined, { code: 'FEDVAL_ERR_COORD_RATE_LIMITED', retryAfterMs: 1000 }]);
    expect(socketLimits.admit('10.0.0.2', 0)).toBeUndefined();
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

  async function coordinatorWithProxy(trustProxy: string[]): Promise<string> {
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
    return `${url.replace(/^http/, 'ws')}/ws`;
  }

  it('ignores X-Forwarded-For from a peer that is not a trusted proxy (default): a spoofed header does not buy a new budget', async () => {
    const wsUrl = await coordinatorWithProxy([]);
    expect((await attempt(wsUrl, { 'x-forwarded-for': '203.0.113.1' })).outcome).toBe('open');
    expect((await attempt(wsUrl, { 'x-forwarded-for': '203.0.113.2' })).outcome).toBe('http 429');
  });

  it('ignores X-Forwarded-For when trust_proxy lists other addresses only', async () => {
    const wsUrl = await coordinatorWithProxy(['10.0.0.0/8', '::1']);
    expect((await attempt(wsUrl, { 'x-forwarded-for': '203.0.113.1' })).outcome).toBe('open');
    expect((await attempt(wsUrl, { 'x-forwarded-for': '203.0.113.2' })).outcome).toBe('http 429');
  });

  it('behind a trusted proxy, limits each forwarded client address on its own', async () => {
    const wsUrl = await coordinatorWithProxy(['127.0.0.0/8']);
    expect((await attempt(wsUrl, { 'x-forwarded-for': '203.0.113.1' })).outcome).toBe('open');
    expect((await attempt(wsUrl, { 'x-forwarded-for': '203.0.113.1' })).outcome).toBe('http 429');
    // A client's own header is believed only up to the trusted proxy: the proxy appended the real client last.
    expect((await attempt(wsUrl, { 'x-forwarded-for': '203.0.113.1, 203.0.113.2' })).outcome).toBe('open');
  });

  it('refuses a trust_proxy entry that is not an address or CIDR range, naming it', () => {
    const dir = tmpdir();
    const parse = (trust: unknown) => () => parseCoordinatorConfig({ data_dir: dir, sites: [{ id: 'site-a', token_sha256: 'a'.repeat(64) }], trust_proxy: trust }, { baseDir: dir });
    expect(parse(['10.0.0.0/33', 'proxy.example.org', '192.168.1.1', 'fd00::/8'])).toThrow(/trust_proxy\[0\]: an IPv4 or IPv6 address.*trust_proxy\[1\]/);
    expect(parse(['192.168.1.1', 'fd00::/8', '::1'])()).toMatchObject({ trust_proxy: ['192.168.1.1', 'fd00::/8', '::1'] });
    expect(parse(undefined)()).toMatchObject({ trust_proxy: [] });
  });
});

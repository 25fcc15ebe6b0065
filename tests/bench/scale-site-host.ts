// scale-site-host.ts — one host process of the scale bench (scale.ts): enrolls and runs many real site agents in-process
// through the site agent's library API (each its own key, state, data and socket), and reports to its parent over IPC.
// Not run by hand: scale.ts forks it. Counts the bytes of every agent socket from the TCP counters of ws's sockets.
import type { Socket } from 'node:net';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import WebSocket from 'ws';
import { generateSiteIdentity, hashToken, savePrivateKey, signEnrollment } from '@fedval/trust';
import { SiteAgent } from '../../site-agent/src/agent.ts';
import { resolveAgentConfig } from '../../site-agent/src/config.ts';
import { openSiteState } from '../../site-agent/src/site-state.ts';

/** One site this host runs: its id, its directory, and the one-time enrollment token the admin issued for it. */
export interface HostedSite {
  id: string;
  dir: string;
  enrollmentToken: string;
}

export type HostCommand =
  | { type: 'enroll'; sites: HostedSite[]; wsUrl: string; httpUrl: string; keyHolderFingerprint: string; rows: number; seed: number }
  | { type: 'start' }
  | { type: 'bytes' }
  | { type: 'stop' };

export type HostReport =
  | { type: 'enrolled'; fingerprints: { site_id: string; fingerprint: string }[] }
  | { type: 'started' }
  | { type: 'bytes'; read: number; written: number; sockets: number }
  | { type: 'fatal'; site: string; code: string }
  | { type: 'stopped' };

// Every socket ws hands to a WebSocket (client side: after the HTTP upgrade); their counters outlive the socket.
const sockets: Socket[] = [];
const prototype = WebSocket.prototype as unknown as { setSocket(socket: Socket, ...rest: unknown[]): void };
const setSocket = prototype.setSocket;
prototype.setSocket = function recordSocket(socket: Socket, ...rest: unknown[]) {
  sockets.push(socket);
  setSocket.call(this, socket, ...rest);
};

const logger = pino({ level: 'error', base: { component: 'scale-host' } }, pino.destination(2));
const agents: SiteAgent[] = [];
let plan: Extract<HostCommand, { type: 'enroll' }> | undefined;

function report(message: HostReport): void {
  process.send!(message);
}

/** Deterministic rows per site (mulberry32), score and label: ~200 patients, some signal. */
function siteRows(seed: number, rows: number): string {
  let state = seed >>> 0;
  const random = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
  const lines = ['score,outcome'];
  for (let i = 0; i < rows; i += 1) {
    const outcome = random() < 0.3 ? 1 : 0;
    const score = Math.min(0.999, Math.max(0, 0.35 * outcome + 0.65 * random()));
    lines.push(`${score.toFixed(4)},${outcome}`);
  }
  return `${lines.join('\n')}\n`;
}

function agentConfig(site: HostedSite, wsUrl: string, keyHolderFingerprint: string): unknown {
  return {
    coordinator: wsUrl,
    site_id: site.id,
    data: { path: './data.csv', label: { column: 'outcome' } },
    data_dir: './state',
    policy: { key_holder_keys: [keyHolderFingerprint], require_secure_aggregation: false },
    limits: { engine_threads: 1 },
    log_level: 'error',
  };
}

async function enroll(command: Extract<HostCommand, { type: 'enroll' }>): Promise<void> {
  plan = command;
  const fingerprints: { site_id: string; fingerprint: string }[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < command.sites.length) {
      const index = next;
      const site = command.sites[index]!;
      next += 1;
      mkdirSync(join(site.dir, 'state'), { recursive: true, mode: 0o700 });
      writeFileSync(join(site.dir, 'data.csv'), siteRows(command.seed + index, command.rows));
      const identity = generateSiteIdentity();
      savePrivateKey(join(site.dir, 'state', 'site.key'), identity.privateKeyPem);
      const signature = signEnrollment(identity.privateKeyPem, { siteId: site.id, publicKey: identity.publicKey, enrollmentTokenSha256: hashToken(site.enrollmentToken) });
      const response = await fetch(`${command.httpUrl}/api/enroll`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ site_id: site.id, enrollment_token: site.enrollmentToken, public_key: identity.publicKey, signature: Buffer.from(signature).toString('base64') }),
      });
      if (response.status !== 201) throw new Error(`enrolling ${site.id}: HTTP ${response.status} ${await response.text()}`);
      // As `fedval-agent enroll` does: the site's state is created and the enrolment is its first audit entry.
      const state = openSiteState(join(site.dir, 'state'));
      try {
        state.audit.record({ actor: `site:${site.id}`, action: 'site.enrolled', object: `coordinator:${command.wsUrl}`, details: { site: site.id, fingerprint: identity.fingerprint, key_file: 'site.key' } });
      } finally {
        state.close();
      }
      fingerprints.push({ site_id: site.id, fingerprint: identity.fingerprint });
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  report({ type: 'enrolled', fingerprints });
}

function start(): void {
  if (!plan) throw new Error('start before enroll');
  for (const site of plan.sites) {
    const config = resolveAgentConfig(agentConfig(site, plan.wsUrl, plan.keyHolderFingerprint), site.dir);
    const agent = new SiteAgent(config, logger.child({ siteId: site.id }));
    agent.on('fatal', (error) => report({ type: 'fatal', site: site.id, code: error.code }));
    agent.start();
    agents.push(agent);
  }
  report({ type: 'started' });
}

process.on('message', (command: HostCommand) => {
  void (async () => {
    try {
      if (command.type === 'enroll') await enroll(command);
      else if (command.type === 'start') start();
      else if (command.type === 'bytes') {
        let read = 0;
        let written = 0;
        for (const socket of sockets) {
          read += socket.bytesRead;
          written += socket.bytesWritten;
        }
        report({ type: 'bytes', read, written, sockets: sockets.length });
      } else if (command.type === 'stop') {
        await Promise.all(agents.map((agent) => agent.stop()));
        report({ type: 'stopped' });
        process.disconnect();
      }
    } catch (error) {
      process.stderr.write(`scale host: ${(error as Error).stack ?? String(error)}\n`);
      process.exit(1);
    }
  })();
});

// Packaging: the example systemd units verify with systemd-analyze and keep their hardening; the Containerfiles run the
// program as a non-root user with its state in a volume and a health check; the health-check script answers as documented.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { requirePrerequisite } from '../helpers/prerequisites.ts';
import { REPO_ROOT } from '../helpers/run-cli.ts';

const UNITS = {
  'fedval-coordinator.service': { program: 'coordinator/src/main.ts', state: '/var/lib/fedval-coordinator', restartPrevent: '2' },
  'fedval-agent.service': { program: 'site-agent/src/main.ts', state: '/var/lib/fedval-agent', restartPrevent: '2 3' },
} as const;

/** Hardening every unit must keep (systemd.exec(5)); values as written in the unit. */
const HARDENING: Record<string, string> = {
  NoNewPrivileges: 'yes',
  ProtectSystem: 'strict',
  ProtectHome: 'yes',
  PrivateTmp: 'yes',
  PrivateDevices: 'yes',
  ProtectKernelTunables: 'yes',
  ProtectKernelModules: 'yes',
  ProtectControlGroups: 'yes',
  RestrictSUIDSGID: 'yes',
  RestrictNamespaces: 'yes',
  LockPersonality: 'yes',
  CapabilityBoundingSet: '',
  AmbientCapabilities: '',
  RestrictAddressFamilies: 'AF_INET AF_INET6 AF_UNIX',
  Restart: 'on-failure',
};

function run(file: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: 60_000 }, (error, stdout, stderr) => resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }));
  });
}

/** `Key=value` lines of a unit's [Service] section (later lines win, as systemd reads them for these keys). */
function serviceKeys(unit: string): Map<string, string> {
  const section = unit.split(/^\[Service\]$/m)[1]!.split(/^\[/m)[0]!;
  return new Map(section.split('\n').filter((line) => /^[A-Za-z]+=/.test(line)).map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]));
}

describe('systemd units', () => {
  for (const [name, expected] of Object.entries(UNITS)) {
    it(`${name}: verifies, rates "OK" in systemd-analyze security, runs the program as its own user with only its state writable`, async () => {
      const analyze = requirePrerequisite('systemd-analyze');
      const text = readFileSync(join(REPO_ROOT, 'examples/systemd', name), 'utf8');
      const keys = serviceKeys(text);
      for (const [key, value] of Object.entries(HARDENING)) expect(keys.get(key), `${name} ${key}`).toBe(value);
      expect(keys.get('User')).toMatch(/^fedval/);
      expect(keys.get('ReadWritePaths')).toBe(expected.state);
      expect(keys.get('RestartPreventExitStatus')).toBe(expected.restartPrevent);
      expect(keys.get('ExecStart')).toBe(`/usr/bin/node /opt/fedval/${expected.program} start --config ${keys.get('ExecStart')!.split(' --config ')[1]}`);

      // systemd checks that the program exists: point the copy at this machine's node and checkout, nothing else changed.
      const dir = mkdtempSync(join(tmpdir(), 'fedval-unit-'));
      const local = join(dir, name);
      writeFileSync(local, text.replaceAll('/usr/bin/node', process.execPath).replaceAll('/opt/fedval', REPO_ROOT.replace(/\/$/, '')));
      const verify = await run(analyze, ['verify', local]);
      expect({ code: verify.code, stderr: verify.stderr }).toEqual({ code: 0, stderr: '' }); // unknown keys only warn: none allowed
      // Exposure on systemd's 0–100 scale (printed as 0.0–10.0): at most 3.5, inside its "OK" band.
      const security = await run(analyze, ['security', '--offline=yes', '--threshold=35', local]);
      expect(security.code, security.stdout.split('\n').slice(-3).join('\n')).toBe(0);
    }, 60_000);
  }
});

describe('Containerfiles', () => {
  for (const [name, program] of [['Containerfile.agent', 'site-agent'], ['Containerfile.coordinator', 'coordinator']] as const) {
    it(`${name}: installs the locked production dependencies of ${program} only, runs as the unprivileged node user, keeps state in a volume, checks health`, () => {
      const text = readFileSync(join(REPO_ROOT, 'examples/container', name), 'utf8');
      const instructions = text.split('\n').filter((line) => /^[A-Z]+ /.test(line));
      const stages = text.split(/^FROM /m).slice(1);
      expect(stages).toHaveLength(2);
      expect(instructions).toContain(`RUN ["pnpm", "install", "--prod", "--frozen-lockfile", "--filter", "@fedval/${program === 'site-agent' ? 'site-agent' : 'coordinator'}..."]`);
      const final = stages[1]!;
      expect(final).toMatch(/^USER node$/m); // uid 1000 of the Node.js image, never root
      expect(final.indexOf('USER node')).toBeLessThan(final.indexOf('ENTRYPOINT'));
      expect(final).toMatch(/^VOLUME \["\/var\/lib\/fedval"\]$/m);
      expect(final).toMatch(/^WORKDIR \/var\/lib\/fedval$/m); // relative writes land in the volume, not the read-only image
      expect(final).toMatch(/^HEALTHCHECK .*\\\n\s+CMD \["node", "\/opt\/fedval\/examples\/container\/healthcheck\.ts", "http:\/\/127\.0\.0\.1:/m);
      expect(final).toContain(`ENTRYPOINT ["node", "/opt/fedval/${program}/src/main.ts"]`);
      expect(text).toMatch(/^ARG NODE_IMAGE=docker\.io\/library\/node:24-bookworm-slim$/m);
      const ignored = readFileSync(join(REPO_ROOT, '.containerignore'), 'utf8').split('\n');
      expect(ignored).toEqual(expect.arrayContaining(['node_modules', '**/node_modules', '.git']));
    });
  }

  it('healthcheck.ts: 0 for a 200 with the expected line, 1 for a missing line, an error status or nothing listening', async () => {
    const server = createServer((request, response) => {
      if (request.url === '/metrics') response.end('# TYPE fedval_agent_connected gauge\nfedval_agent_connected 1\n');
      else if (request.url === '/down') response.end('fedval_agent_connected 0\n');
      else response.writeHead(503).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const script = join(REPO_ROOT, 'examples/container/healthcheck.ts');
    const check = async (...args: string[]): Promise<number> => (await run(process.execPath, [script, ...args])).code;
    try {
      expect(await check(`${base}/metrics`, 'fedval_agent_connected 1')).toBe(0);
      expect(await check(`${base}/metrics`)).toBe(0);
      expect(await check(`${base}/down`, 'fedval_agent_connected 1')).toBe(1);
      expect(await check(`${base}/healthz`)).toBe(1);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    expect(await check(base.replace(/:\d+$/, ':1'))).toBe(1); // nothing listens on port 1
    expect(await check()).toBe(1);
  }, 60_000);
});

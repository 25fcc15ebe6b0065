// The agent's container image, built by podman from the real examples/container/Containerfile.agent on a stand-in for
// node:24-bookworm-slim (tests/container/make-node-image.sh: no registry needed), run with a read-only root, its state
// in the volume, against a real coordinator on the host through one round. Minutes long and root only: `pnpm
// test:container`, never part of `pnpm test`.
import { execFile } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gbsgScoreLines, writeScoreFile } from '../helpers/gbsg-scores.ts';
import { startDeployment, waitForRoundClosed, waitForSites } from '../helpers/deployment.ts';
import type { Deployment } from '../helpers/deployment.ts';
import { requirePrerequisite } from '../helpers/prerequisites.ts';
import { REPO_ROOT, runCli } from '../helpers/run-cli.ts';

const SITE = 'container-site';
const RUN = randomBytes(4).toString('hex');
const BASE_IMAGE = `localhost/fedval-node24-standin:test-${RUN}`;
const AGENT_IMAGE = `localhost/fedval-agent:test-${RUN}`;
const CONTAINER = `fedval-agent-test-${RUN}`;
/** The agent's uid in the image (the Node.js image's `node` user). */
const NODE_UID = 1000;
/** Most open files and processes the container gets: podman's defaults (2^20, 2^22) cannot be set without CAP_SYS_RESOURCE. */
const CONTAINER_LIMIT = 4096;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program to its end (never throws on a non-zero status); `timeoutMs` kills it. */
function run(program: string, args: string[], timeoutMs = 120_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(program, args, { cwd: REPO_ROOT, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** The hard limit of a resource of this process, from /proc/self/limits ("Max open files", "Max processes"). */
function hardLimit(name: string): number {
  const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((each) => each.startsWith(name));
  const hard = line?.slice(name.length).trim().split(/\s+/)[1];
  return hard === undefined || hard === 'unlimited' ? Number.POSITIVE_INFINITY : Number(hard);
}

/**
 * A cgroup v1 host whose cgroup2 mount (/sys/fs/cgroup/unified) holds a controller: crun refuses every container there
 * ("cgroups in hybrid mode not supported"), so podman runs it through tests/container/runtime/crun, without cgroups.
 */
function hybridCgroups(): boolean {
  const controllers = '/sys/fs/cgroup/unified/cgroup.controllers';
  return existsSync(controllers) && readFileSync(controllers, 'utf8').trim() !== '';
}

describe('the agent container image (podman)', () => {
  let podman: string;
  let podmanArgs: string[];
  let limits: string[];
  let deployment: Deployment;
  let stateDir: string;
  let dataFile: string;

  beforeAll(async () => {
    if (process.getuid?.() !== 0) throw new Error('pnpm test:container runs podman as root (rootful storage, bind-mounted volumes owned by uid 1000): run it as root');
    podman = requirePrerequisite('podman');
    requirePrerequisite('slirp4netns');
    const hybrid = hybridCgroups();
    if (hybrid) requirePrerequisite('unshare');
    podmanArgs = hybrid ? ['--runtime', join(REPO_ROOT, 'tests/container/runtime/crun')] : [];
    const nofile = Math.min(CONTAINER_LIMIT, hardLimit('Max open files'));
    const nproc = Math.min(CONTAINER_LIMIT, hardLimit('Max processes'));
    limits = ['--ulimit', `nofile=${nofile}:${nofile}`, '--ulimit', `nproc=${nproc}:${nproc}`, ...(hybrid ? ['--cgroups=disabled'] : [])];

    deployment = await startDeployment([SITE], { captureOutput: true });
    dataFile = writeScoreFile(deployment.dir, 'site', gbsgScoreLines().slice(0, 300));
    stateDir = join(deployment.dir, 'agent-state');
    mkdirSync(stateDir, { mode: 0o700 });
    chownSync(stateDir, NODE_UID, NODE_UID);
  }, 60_000);

  afterAll(async () => {
    if (podman) {
      await run(podman, [...podmanArgs, 'rm', '--force', '--time', '5', CONTAINER]);
      await run(podman, ['rmi', '--force', AGENT_IMAGE, BASE_IMAGE]);
    }
    await deployment?.stop();
    if (deployment) rmSync(deployment.dir, { recursive: true, force: true });
  }, 60_000);

  it('builds from examples/container/Containerfile.agent on a stand-in base image made without a registry', async () => {
    const base = await run('bash', [join(REPO_ROOT, 'tests/container/make-node-image.sh'), BASE_IMAGE], 300_000);
    expect(base.code, base.stderr).toBe(0);
    expect(base.stdout).toMatch(/Node\.js v24\./);
    // --format docker keeps the HEALTHCHECK (the OCI image format has none); chroot isolation runs the RUN steps without crun.
    const build = await run(
      podman,
      [
        ...podmanArgs,
        'build',
        '--format', 'docker',
        '--layers=false',
        '--isolation', 'chroot',
        '--network', 'host',
        ...limits.filter((arg) => arg !== '--cgroups=disabled'),
        '--file', 'examples/container/Containerfile.agent',
        '--build-arg', `NODE_IMAGE=${BASE_IMAGE}`,
        '--tag', AGENT_IMAGE,
        '.',
      ],
      900_000,
    );
    expect(build.code, build.stderr.slice(-4000)).toBe(0);
    const inspected = await run(podman, ['image', 'inspect', AGENT_IMAGE, '--format', '{{.User}} {{json .HealthCheck.Test}}']);
    expect(inspected.stdout.trim()).toBe('node ["CMD","node","/opt/fedval/examples/container/healthcheck.ts","http://127.0.0.1:9464/metrics","fedval_agent_connected 1"]');
  }, 900_000);

  it('runs as uid 1000 on a read-only root, reports healthy, completes a round with the local metrics, and writes only to its volume', async () => {
    const port = new URL(deployment.url).port;
    // slirp4netns gives the container its own network namespace; 10.0.2.2 is the host's loopback, where the coordinator listens.
    const config = deployment.writeAgentConfig(SITE, '/data/site.csv', {
      coordinatorUrl: `ws://10.0.2.2:${port}/ws`,
      label: 'status',
      dataDir: '/var/lib/fedval',
      extraYaml: ['metrics: { port: 9464 }'],
    });
    const started = await run(podman, [
      ...podmanArgs,
      'run', '--detach', '--name', CONTAINER,
      ...limits,
      '--read-only', '--tmpfs', '/tmp',
      '--network', 'slirp4netns:allow_host_loopback=true',
      '--volume', `${stateDir}:/var/lib/fedval`,
      '--volume', `${config}:/etc/fedval/site.yaml:ro`,
      '--volume', `${dataFile}:/data/site.csv:ro`,
      AGENT_IMAGE,
    ]);
    expect(started.code, started.stderr).toBe(0);
    await waitForSites(deployment, [SITE], 60_000);

    const uid = await run(podman, [...podmanArgs, 'exec', CONTAINER, 'node', '-p', 'process.getuid()']);
    expect(uid.stdout.trim(), uid.stderr).toBe(String(NODE_UID));
    // The image's own HEALTHCHECK: the agent's metrics endpoint says it is connected.
    let health: Run = { code: -1, stdout: '', stderr: '' };
    for (let attempt = 0; attempt < 20 && health.code !== 0; attempt += 1) {
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, 500));
      health = await run(podman, [...podmanArgs, 'healthcheck', 'run', CONTAINER]);
    }
    expect(health.code, health.stdout + health.stderr).toBe(0);

    const study = await deployment.api('POST', '/api/studies', {
      name: 'container',
      score_column: 'score',
      metric_spec: { bins: 50, threshold: 0.3 },
      sites: [SITE],
      contribution: 'plaintext',
      release: { min_sites: 1 },
    });
    expect(study.status, JSON.stringify(study.body)).toBe(201);
    const round = await deployment.api('POST', `/api/studies/${study.body.study_id as string}/rounds`);
    expect(round.status, JSON.stringify(round.body)).toBe(201);
    const closed = await waitForRoundClosed(deployment, round.body.round_id as string);
    expect(closed).toMatchObject({ state: 'aggregated', contributions: 1, sites: [{ site_id: SITE, status: 'contributed' }] });
    const local = await runCli('fedval-agent', ['eval-local', '--data', dataFile, '--label', 'status', '--score', 'score', '--threshold', '0.3', '--bins', '50', '--json']);
    expect(local.code, local.stderr).toBe(0);
    expect(closed.result.metrics).toEqual(JSON.parse(local.stdout).metrics);

    // Nothing written outside the volume: the root filesystem refuses a write, and podman sees no change in the image's layers.
    const write = await run(podman, [...podmanArgs, 'exec', CONTAINER, 'node', '-e', "require('fs').writeFileSync('/opt/fedval/written', 'x')"]);
    expect(write.code).not.toBe(0);
    expect(write.stderr).toContain('EROFS');
    const diff = await run(podman, ['diff', '--format', 'json', CONTAINER]);
    expect(diff.code, diff.stderr).toBe(0);
    const changed = JSON.parse(diff.stdout || '{}') as Record<string, string[]>;
    // Podman creates the mount points of the bind mounts; nothing else may differ from the image.
    const mountPoints = new Set(['/etc/fedval', '/etc/fedval/site.yaml', '/data', '/data/site.csv', '/etc', '/var/lib/fedval', '/tmp', '/var/tmp', '/run', '/dev', '/proc', '/sys', '/etc/hosts', '/etc/resolv.conf', '/etc/hostname', '/run/.containerenv']);
    expect(Object.values(changed).flat().filter((path) => !mountPoints.has(path))).toEqual([]);
    // The agent's state is in the volume, owned by the image's node user.
    const kept = readdirSync(stateDir);
    expect(kept).toEqual(expect.arrayContaining(['agent.sqlite', 'audit.jsonl']));
    for (const name of kept) expect(statSync(join(stateDir, name)).uid, name).toBe(NODE_UID);

    // SIGTERM (podman stop) ends the agent well within podman's 10 s grace period.
    const stopped = await run(podman, [...podmanArgs, 'stop', '--time', '10', CONTAINER], 30_000);
    expect(stopped.code, stopped.stderr).toBe(0);
    expect(stopped.stderr).not.toContain('resorting to SIGKILL');
    const exit = await run(podman, ['inspect', CONTAINER, '--format', '{{.State.ExitCode}}']);
    expect(exit.stdout.trim()).toBe('0');
  }, 180_000);
});

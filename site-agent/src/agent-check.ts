// agent-check.ts — `fedval-agent check`: the configuration, data, models and then the coordinator (reachable, TLS, identity, clock) checked before going live.
import type { KeyObject } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createMessage, decodeMessage, encodeMessage } from '@fedval/protocol';
import type { ChallengeContent, Message } from '@fedval/protocol';
import { loadPrivateKey, signChallenge } from '@fedval/trust';
import type { Logger } from 'pino';
import WebSocket from 'ws';
import { loadAgentConfig } from './config.ts';
import type { AgentConfig } from './config.ts';
import { classifyClose, classifySocketError } from './connection-failures.ts';
import { AGENT_VERSION, normalizedCoordinatorUrl } from './coordinator-connection.ts';
import { dataSourceName, openDataSource } from './data-sources/open-data-source.ts';
import { loadLocalModelScorer } from './model-scorer.ts';
import { openSiteState } from './site-state.ts';
import { loadAgentTls } from './tls.ts';
import type { AgentTlsOptions } from './tls.ts';

/** One line of the check's report. `detail` carries counts and names only, never a data value. */
export interface CheckLine {
  check: 'config' | 'site_key' | 'tls_files' | 'data' | 'models' | 'connectivity' | 'tls' | 'identity' | 'clock';
  status: 'ok' | 'fail' | 'skipped';
  detail: string;
  /** What to do about a failure. */
  fix?: string;
  /** The coded error behind a failure, when there is one. */
  code?: string;
}

export interface AgentCheckOptions {
  log: Logger;
  /** Largest tolerated difference between this host's clock and the coordinator's, in ms. Default 30,000. */
  maxClockSkewMs?: number;
  /** How long the connection check waits for each step (connect, challenge, welcome), in ms. Default 10,000. */
  timeoutMs?: number;
}

export const DEFAULT_MAX_CLOCK_SKEW_MS = 30_000;

const codeOf = (error: unknown): string | undefined => {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
};

/** Runs every check in order; a check whose prerequisite failed is reported `skipped`. */
export async function runAgentChecks(configPath: string, options: AgentCheckOptions): Promise<CheckLine[]> {
  const lines: CheckLine[] = [];
  let config: AgentConfig;
  try {
    config = loadAgentConfig(configPath);
    lines.push({ check: 'config', status: 'ok', detail: `site ${config.site_id}, coordinator ${config.coordinator}` });
  } catch (error) {
    lines.push({ check: 'config', status: 'fail', detail: (error as Error).message, fix: 'correct the configuration file (README, "Site configuration")', code: codeOf(error) });
    for (const check of ['site_key', 'tls_files', 'data', 'models', 'connectivity', 'tls', 'identity', 'clock'] as const) lines.push({ check, status: 'skipped', detail: 'no valid configuration' });
    return lines;
  }
  let siteKey: KeyObject | undefined;
  if (config.site_key === null) lines.push({ check: 'site_key', status: 'ok', detail: 'none: this site authenticates with its token' });
  else {
    try {
      siteKey = loadPrivateKey(config.site_key);
      lines.push({ check: 'site_key', status: 'ok', detail: config.site_key });
    } catch (error) {
      lines.push({ check: 'site_key', status: 'fail', detail: `${config.site_key}: ${codeOf(error) ?? 'unreadable'}`, fix: 'run `fedval-agent enroll`, or restore data_dir/site.key (mode 0600)', code: 'FEDVAL_ERR_AGENT_SITE_KEY' });
    }
  }
  let tls: AgentTlsOptions | undefined;
  try {
    tls = loadAgentTls(config.tls);
    lines.push({ check: 'tls_files', status: 'ok', detail: config.tls ? 'tls.ca / tls.cert / tls.key read and consistent' : 'none configured' });
  } catch (error) {
    lines.push({ check: 'tls_files', status: 'fail', detail: (error as Error).message, fix: 'point tls.ca, tls.cert and tls.key at readable PEM files (the key of tls.cert)', code: codeOf(error) });
  }
  const columns = await checkData(config, lines);
  await checkModels(config, columns, options.log, lines);
  if (tls === undefined || (config.site_key !== null && siteKey === undefined)) {
    for (const check of ['connectivity', 'tls', 'identity', 'clock'] as const) lines.push({ check, status: 'skipped', detail: 'the TLS files or the site key failed above' });
  } else {
    lines.push(...(await checkCoordinator(config, tls, siteKey, options)));
  }
  return lines;
}

/** Columns, row count and missing values per column: counts only. Returns the column names, or undefined on failure. */
async function checkData(config: AgentConfig, lines: CheckLine[]): Promise<string[] | undefined> {
  const source = (() => {
    try {
      return openDataSource(config.data, { batchRows: config.limits.batch_rows, maxRows: config.limits.max_rows, threads: config.limits.engine_threads, streamThreads: config.limits.engine_stream_threads, memoryLimit: config.limits.engine_memory_limit });
    } catch (error) {
      lines.push({ check: 'data', status: 'fail', detail: (error as Error).message, fix: 'check the data section of the configuration', code: codeOf(error) });
      return undefined;
    }
  })();
  if (!source) return undefined;
  try {
    const names = await source.columnNames();
    const label = config.data.label.column;
    if (!names.includes(label)) {
      lines.push({ check: 'data', status: 'fail', detail: `${dataSourceName(config.data)}: no column ${label} (data.label.column) among ${names.length} columns`, fix: 'set data.label.column (or data.columns) to the outcome column', code: 'FEDVAL_ERR_AGENT_DATA_COLUMNS' });
      return names;
    }
    const missing = new Array<number>(names.length).fill(0);
    let rows = 0;
    for await (const batch of source.read({ columns: names.map((name) => ({ name, kind: 'categorical' as const })) })) {
      if (batch.restart) {
        rows = 0;
        missing.fill(0);
      }
      rows += batch.rowCount;
      names.forEach((name, i) => {
        const column = batch.columns.get(`categorical:${name}`);
        if (column?.kind !== 'categorical') return;
        for (let r = 0; r < batch.rowCount; r += 1) if (column.codes[r]! < 0) missing[i]! += 1;
      });
    }
    const perColumn = names.map((name, i) => `${name} ${missing[i]}`).join(', ');
    lines.push({ check: 'data', status: rows > 0 ? 'ok' : 'fail', detail: `${dataSourceName(config.data)}: ${rows} rows, ${names.length} columns; missing values per column: ${perColumn}`, ...(rows > 0 ? {} : { fix: 'the data source has no rows' }) });
    return names;
  } catch (error) {
    lines.push({ check: 'data', status: 'fail', detail: `${codeOf(error) ?? 'read failed'}: ${(error as Error).message}`, fix: 'check the data file or database named in the configuration', code: codeOf(error) });
    return undefined;
  } finally {
    await source.close();
  }
}

/** Every model bundle this site received loads (files verified against their hashes) and reads only columns the data has. */
async function checkModels(config: AgentConfig, columns: string[] | undefined, log: Logger, lines: CheckLine[]): Promise<void> {
  if (!existsSync(join(config.data_dir, 'agent.sqlite'))) {
    lines.push({ check: 'models', status: 'ok', detail: 'no model bundle received yet (bundles arrive with tasks)' });
    return;
  }
  const state = openSiteState(config.data_dir);
  try {
    const models = state.models.list();
    const problems: string[] = [];
    for (const model of models) {
      try {
        const scorer = await loadLocalModelScorer(join(config.data_dir, 'models', model.bundleSha256), log, {
          batchRows: config.limits.batch_rows,
          threads: config.limits.model_threads,
          expectedSha256: model.bundleSha256,
        });
        await scorer.close?.();
        const absent = columns ? model.inputs.filter((input) => !columns.includes(input)) : [];
        if (absent.length > 0) problems.push(`${model.name} ${model.version} reads columns the data lacks: ${absent.join(', ')}`);
      } catch (error) {
        problems.push(`${model.name} ${model.version} (${model.bundleSha256.slice(0, 12)}): ${(error as Error).message}`);
      }
    }
    if (problems.length === 0) lines.push({ check: 'models', status: 'ok', detail: models.length === 0 ? 'no model bundle received yet' : `${models.length} bundle(s) load` });
    else lines.push({ check: 'models', status: 'fail', detail: problems.join('; '), fix: 'see `fedval-agent models`; a damaged bundle is received again with the next task after its directory is removed', code: 'FEDVAL_ERR_AGENT_MODEL' });
  } finally {
    state.close();
  }
}

/**
 * One connection to the coordinator, as the agent makes it: reachable and the right endpoint, TLS verified, the site's
 * token or key accepted (a welcome), and the clock compared with the challenge's issuedAt. The connection is closed at
 * once; while it is open it replaces a running agent's connection (the running agent reconnects).
 */
async function checkCoordinator(config: AgentConfig, tls: AgentTlsOptions, siteKey: KeyObject | undefined, options: AgentCheckOptions): Promise<CheckLine[]> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const maxSkew = options.maxClockSkewMs ?? DEFAULT_MAX_CLOCK_SKEW_MS;
  const usesTls = new URL(config.coordinator).protocol === 'wss:';
  const lines: CheckLine[] = [];
  const skipRest = (from: CheckLine['check'][]): void => {
    for (const check of from) lines.push({ check, status: 'skipped', detail: 'the steps above failed' });
  };
  const socket = new WebSocket(config.coordinator, { maxPayload: config.limits.max_message_bytes, handshakeTimeout: timeoutMs, ...tls });
  socket.binaryType = 'nodebuffer';
  // Listening before 'open': the challenge may arrive in the same packet as the upgrade answer.
  const frames: Message[] = [];
  let notify: (() => void) | undefined;
  let closed: { code: number; reason: string } | undefined;
  socket.on('message', (data) => {
    try {
      frames.push(decodeMessage(data as Buffer, { maxMessageBytes: config.limits.max_message_bytes }));
    } catch {
      // an undecodable frame: the wait below times out or the close explains
    }
    notify?.();
  });
  socket.on('error', () => undefined); // the first error is classified below; a later one ends in 'close'
  socket.on('close', (code, reason) => {
    closed = { code, reason: reason.toString() };
    notify?.();
  });
  const opened = await new Promise<Error | undefined>((resolve) => {
    socket.once('open', () => resolve(undefined));
    socket.once('error', (error) => resolve(error));
  });
  if (opened) {
    const failure = classifySocketError(opened as Error & { code?: string }, usesTls);
    const detail = failure.kind === 'permanent' ? failure.detail : `${failure.reason}: the coordinator is not reachable now`;
    if (failure.kind === 'permanent' && failure.code === 'FEDVAL_ERR_AGENT_TLS_VERIFY') {
      lines.push({ check: 'connectivity', status: 'ok', detail: `${config.coordinator} answers` });
      lines.push({ check: 'tls', status: 'fail', detail, fix: 'set tls.ca to the CA of the coordinator certificate', code: failure.code });
      skipRest(['identity', 'clock']);
    } else {
      lines.push({ check: 'connectivity', status: 'fail', detail, fix: 'check coordinator (scheme, host, port, path /ws), firewalls and proxies', ...(failure.kind === 'permanent' ? { code: failure.code } : {}) });
      skipRest(['tls', 'identity', 'clock']);
    }
    return lines;
  }
  lines.push({ check: 'connectivity', status: 'ok', detail: `${config.coordinator} answers on its site socket` });
  lines.push({ check: 'tls', status: 'ok', detail: usesTls ? "the coordinator's certificate verifies" : 'not used (ws://): use wss:// outside a test network' });
  const next = async (type: 'challenge' | 'welcome'): Promise<Message | undefined> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = frames.findIndex((frame) => frame.type === type);
      if (index >= 0) return frames.splice(index, 1)[0];
      if (closed || Date.now() > deadline) return undefined;
      await new Promise<void>((resolve) => {
        notify = resolve;
        setTimeout(resolve, Math.max(0, deadline - Date.now())).unref();
      });
    }
  };
  try {
    const challenge = await next('challenge');
    const receivedAt = Date.now();
    if (challenge?.type === 'challenge') {
      const skew = receivedAt - (challenge.content as ChallengeContent).issuedAt;
      lines.push(
        Math.abs(skew) <= maxSkew
          ? { check: 'clock', status: 'ok', detail: `this host is ${skew} ms ${skew >= 0 ? 'ahead of' : 'behind'} the coordinator (at most ${maxSkew} ms tolerated)` }
          : { check: 'clock', status: 'fail', detail: `this host is ${skew} ms off the coordinator's clock (more than ${maxSkew} ms)`, fix: 'synchronise the clocks (NTP: chrony or systemd-timesyncd)' },
      );
    }
    let credential: { token: string } | { signature: Uint8Array };
    if (config.token !== null) credential = { token: config.token };
    else if (siteKey && challenge?.type === 'challenge') {
      try {
        credential = { signature: signChallenge(siteKey, challenge.content, { siteId: config.site_id, purpose: 'connect', expectedAudience: normalizedCoordinatorUrl(config.coordinator) }) };
      } catch {
        lines.push({ check: 'identity', status: 'fail', detail: `the coordinator's challenge names another address than ${normalizedCoordinatorUrl(config.coordinator)}`, fix: 'set coordinator to the coordinator\'s public_ws_url exactly', code: 'FEDVAL_ERR_AGENT_CHALLENGE' });
        return lines;
      }
    } else {
      lines.push({ check: 'identity', status: 'fail', detail: 'no challenge from the coordinator', fix: 'the server at coordinator is not a fedval coordinator, or is overloaded' });
      if (!lines.some((line) => line.check === 'clock')) lines.push({ check: 'clock', status: 'skipped', detail: 'no challenge' });
      return lines;
    }
    socket.send(
      encodeMessage(
        createMessage('hello', {
          siteId: config.site_id,
          ...('token' in credential ? { token: credential.token } : { signature: new Uint8Array(credential.signature) }),
          agentVersion: AGENT_VERSION,
          capabilities: { tasks: [...config.policy.allowed_tasks], contributions: [...config.policy.allowed_contributions] },
        }),
      ),
      { binary: true },
    );
    const welcome = await next('welcome');
    if (welcome) lines.push({ check: 'identity', status: 'ok', detail: `the coordinator accepted site ${config.site_id}` });
    else {
      const failure = closed ? classifyClose(closed.code, closed.reason, siteKey !== undefined) : undefined;
      lines.push({
        check: 'identity',
        status: 'fail',
        detail: failure?.kind === 'permanent' ? failure.detail : `no welcome within ${timeoutMs} ms${closed ? ` (closed ${closed.code} ${closed.reason})` : ''}`,
        fix: siteKey ? 'check site_id, and that data_dir/site.key is the key enrolled with the coordinator' : 'check site_id and token against the coordinator\'s sites list',
        ...(failure?.kind === 'permanent' ? { code: failure.code } : {}),
      });
    }
    return lines;
  } finally {
    socket.close(1000, 'check done');
    setTimeout(() => socket.terminate(), 1_000).unref();
  }
}

/** The report as printed: one line per check, `ok`/`FAIL`/`skip`, the detail, and for a failure what to do. */
export function formatCheckLines(lines: readonly CheckLine[]): string {
  const label = { ok: 'ok  ', fail: 'FAIL', skipped: 'skip' } as const;
  return lines.map((line) => `${label[line.status]}  ${line.check.padEnd(12)} ${line.detail}${line.fix ? ` — ${line.fix}` : ''}\n`).join('');
}

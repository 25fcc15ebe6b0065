import { describe, expect, it } from 'vitest';
import { agentExitStatus, classifyClose, classifySocketError, reconnectDelay } from './connection-failures.ts';

const failure = (message: string, code?: string): Error & { code?: string } => Object.assign(new Error(message), code === undefined ? {} : { code });

describe('reconnect backoff', () => {
  const limits = { initialMs: 500, maxMs: 30_000 };

  it('is uniform over [0, min(max, initial·2^attempt)]: full jitter, capped (known values with an injected random source)', () => {
    // random() = 0.5 puts the delay at half the ceiling: 500·2^k/2 until the 30 s cap.
    expect([0, 1, 2, 3, 4, 5, 6, 7, 20].map((attempt) => reconnectDelay(attempt, limits, () => 0.5))).toEqual([250, 500, 1000, 2000, 4000, 8000, 15_000, 15_000, 15_000]);
    expect(reconnectDelay(3, limits, () => 0)).toBe(0);
    expect(reconnectDelay(3, limits, () => 0.999_999_9)).toBe(4000);
    expect(reconnectDelay(10_000, limits, () => 0.999_999_9)).toBe(30_000);
  });

  it('spreads a fleet: 1,000 agents on the same attempt get delays spread over the whole window', () => {
    let seed = 12_345;
    const lcg = (): number => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31); // glibc constants
    const delays = Array.from({ length: 1000 }, () => reconnectDelay(4, limits, lcg));
    expect(Math.min(...delays)).toBeLessThan(400);
    expect(Math.max(...delays)).toBeGreaterThan(7600);
    expect(new Set(delays).size).toBeGreaterThan(800);
  });
});

describe('connection failures', () => {
  it('a certificate that does not verify is permanent, names tls.ca, and drops Node\'s --use-system-ca hint', () => {
    for (const code of ['DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_HAS_EXPIRED', 'ERR_TLS_CERT_ALTNAME_INVALID']) {
      const classified = classifySocketError(failure('self-signed certificate; if the root CA is installed locally, try running Node.js with --use-system-ca', code), true);
      expect(classified).toMatchObject({ kind: 'permanent', code: 'FEDVAL_ERR_AGENT_TLS_VERIFY' });
      expect(JSON.stringify(classified)).toContain('tls.ca');
      expect(JSON.stringify(classified)).not.toContain('system-ca');
    }
  });

  it('HTTP answers on the socket path: 4xx permanent (401/403 refused), 408, 429 and 5xx transient', () => {
    const http = (status: number) => classifySocketError(failure(`Unexpected server response: ${status}`), false);
    expect(http(404)).toMatchObject({ kind: 'permanent', code: 'FEDVAL_ERR_AGENT_ENDPOINT' });
    expect(http(400)).toMatchObject({ kind: 'permanent', code: 'FEDVAL_ERR_AGENT_ENDPOINT' });
    expect(http(401)).toMatchObject({ kind: 'permanent', code: 'FEDVAL_ERR_AGENT_UNAUTHORIZED' });
    expect(http(403)).toMatchObject({ kind: 'permanent', code: 'FEDVAL_ERR_AGENT_UNAUTHORIZED' });
    for (const status of [408, 429, 500, 502, 503, 504]) expect(http(status)).toMatchObject({ kind: 'transient' });
  });

  it('network errors are transient; a TLS record error on wss:// is a wrong endpoint', () => {
    for (const code of ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN']) expect(classifySocketError(failure(code, code), true)).toMatchObject({ kind: 'transient', reason: code });
    expect(classifySocketError(failure('Opening handshake has timed out'), false)).toMatchObject({ kind: 'transient' });
    expect(classifySocketError(failure('wrong version number', 'EPROTO'), true)).toMatchObject({ kind: 'permanent', code: 'FEDVAL_ERR_AGENT_ENDPOINT' });
  });

  it('the coordinator\'s refusing close codes are permanent; going away, timeouts and abnormal closes are not', () => {
    expect(classifyClose(4401, 'FEDVAL_ERR_COORD_UNAUTHORIZED', true)).toMatchObject({ kind: 'permanent', code: 'FEDVAL_ERR_AGENT_UNAUTHORIZED' });
    expect(classifyClose(4400, 'FEDVAL_ERR_PROTO_VERSION', false)).toMatchObject({ kind: 'permanent', code: 'FEDVAL_ERR_AGENT_PROTOCOL_REFUSED' });
    expect(classifyClose(4409, 'FEDVAL_ERR_COORD_REPLACED', false)).toMatchObject({ kind: 'permanent', code: 'FEDVAL_ERR_AGENT_REPLACED' });
    for (const code of [1000, 1001, 1006, 1009, 4408, 4429, 4430]) expect(classifyClose(code, '', false)).toBeUndefined();
  });

  it('exit statuses: 2 for what the site fixes in its configuration, 3 for a refusal by the coordinator, 1 otherwise', () => {
    expect(['FEDVAL_ERR_AGENT_TLS_VERIFY', 'FEDVAL_ERR_AGENT_ENDPOINT'].map(agentExitStatus)).toEqual([2, 2]);
    expect(['FEDVAL_ERR_AGENT_UNAUTHORIZED', 'FEDVAL_ERR_AGENT_REPLACED', 'FEDVAL_ERR_AGENT_PROTOCOL_REFUSED', 'FEDVAL_ERR_AGENT_CHALLENGE'].map(agentExitStatus)).toEqual([3, 3, 3, 3]);
    expect(agentExitStatus('FEDVAL_ERR_AGENT_AUDIT')).toBe(1);
  });
});

import { planBfvParameters } from '@fedval/he';
import { resolvePrivacySpec } from '@fedval/dp';
import { createStatisticsLayout, resolveMetricSpec } from '@fedval/metrics';
import { describe, expect, it } from 'vitest';
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { Packr } from 'msgpackr';
import { createErrorMessage, createMessage, decodeMessage, encodeMessage, toWireError } from './codec.ts';
import { PROTOCOL_ERROR_MESSAGES, ProtocolError } from './errors.ts';
import { MESSAGE_TYPES, PROTOCOL_VERSION } from './messages.ts';
import type { Message } from './messages.ts';

const rawPackr = new Packr({ moreTypes: true, useRecords: false });

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ProtocolError);
    return (error as ProtocolError).code;
  }
  return undefined;
}

const KEY_32 = Buffer.alloc(32, 7).toString('base64');
const SIG_64 = Buffer.alloc(64, 9).toString('base64');
const SECAGG_FIELDS = { study_id: 's1', round_id: 'r1', site_id: 'site-a' };

describe('codec', () => {
  it('pins the public error codes', () => {
    expect(Object.keys(PROTOCOL_ERROR_MESSAGES).sort()).toEqual([
      'FEDVAL_ERR_PROTO_INTERNAL',
      'FEDVAL_ERR_PROTO_INVALID_MESSAGE',
      'FEDVAL_ERR_PROTO_MALFORMED',
      'FEDVAL_ERR_PROTO_MESSAGE_TOO_LARGE',
      'FEDVAL_ERR_PROTO_UNKNOWN_TYPE',
      'FEDVAL_ERR_PROTO_VERSION',
    ]);
  });

  it('round-trips typed arrays bit for bit', () => {
    const vector = new Float64Array([0, 1, -3, 2 ** 52, -(2 ** 40), 7]);
    const sent = createMessage('task.result', {
      roundId: 'r1',
      contribution: { kind: 'plaintext', vector },
      contributionSha256: 'a'.repeat(64),
    });
    const received = decodeMessage(encodeMessage(sent));
    expect(received.type).toBe('task.result');
    if (received.type !== 'task.result' || received.content.contribution.kind !== 'plaintext') throw new Error('shape');
    expect(received.content.contribution.vector).toBeInstanceOf(Float64Array);
    expect(Array.from(received.content.contribution.vector)).toEqual(Array.from(vector));
  });

  it('round-trips ciphertext bytes and every message type', () => {
    const ciphertext = new Uint8Array([0x5e, 0xa1, 0x10, 0x04, 0, 255]);
    const messages: Message[] = [
      createMessage('challenge', { nonce: randomBytes(32).toString('base64'), issuedAt: 1_700_000_000_000, audience: 'ws://127.0.0.1:8740/ws' }),
      createMessage('hello', {
        siteId: 'site-a',
        token: 'x'.repeat(32),
        agentVersion: '0.1.0',
        capabilities: { tasks: ['binary'], contributions: ['plaintext', 'bfv'] },
      }),
      createMessage('welcome', { siteId: 'site-a', heartbeatIntervalMs: 15000 }),
      createMessage('task', {
        studyId: 's1',
        roundId: 'r1',
        metricSpec: resolveMetricSpec({ task: 'binary', bins: 1000 }),
        scorer: { kind: 'score_column', columns: ['score'] },
        contribution: { kind: 'bfv', plan: planBfvParameters({ vectorLength: 100, maxSites: 3, maxAbsPerSite: 1000 }), publicKey: ciphertext },
        deadline: Date.now() + 60000,
      }),
      createMessage('task.accept', { roundId: 'r1' }),
      createMessage('task.refuse', { roundId: 'r1', reason: { code: 'FEDVAL_ERR_AGENT_POLICY_TASK', message: 'no' } }),
      createMessage('task.progress', { roundId: 'r1', phase: 'evaluating', percent: 42.5 }),
      createMessage('task.result', {
        roundId: 'r1',
        contribution: { kind: 'bfv', ciphertexts: [ciphertext, ciphertext] },
        contributionSha256: 'b'.repeat(64),
      }),
      createMessage('task.cancel', { roundId: 'r1', reason: { code: 'FEDVAL_ERR_COORD_ROUND_DEADLINE', message: 'late' } }),
      createMessage('key_statement.request', { roundId: 'r1', sha256: 'c'.repeat(64) }),
      createMessage('key_statement', {
        roundId: 'r1',
        keyStatement: {
          statement: { studyId: 's1', planSha256: 'a'.repeat(64), publicKeySha256: 'b'.repeat(64), minSites: 3, roster: [{ siteId: 'site-a', fingerprint: 'd'.repeat(64) }], rosterSha256: 'e'.repeat(64), issuedAt: 1, version: 1 },
          keyHolderPublicKey: KEY_32,
          signature: SIG_64,
        },
      }),
      createMessage('heartbeat', {}),
      createErrorMessage({ code: 'FEDVAL_ERR_PROTO_MALFORMED', message: 'bad' }, 'abc'),
      // Secure aggregation: base64 fields of the signed records are fixed-length strings (32-byte keys, 64-byte signatures).
      createMessage('secagg.advertise', { roundId: 'r1', advertisement: { ...SECAGG_FIELDS, c_public_key: KEY_32, s_public_key: KEY_32, signing_key: KEY_32, signature: SIG_64 } }),
      createMessage('secagg.keys', { roundId: 'r1', advertisements: [{ ...SECAGG_FIELDS, c_public_key: KEY_32, s_public_key: KEY_32, signing_key: KEY_32, signature: SIG_64 }] }),
      createMessage('secagg.shares', { roundId: 'r1', shares: [{ to: 'site-b', sealed: ciphertext.slice(0, 163) }] }),
      createMessage('secagg.inbox', { roundId: 'r1', shares: [{ from: 'site-b', sealed: ciphertext.slice(0, 163) }] }),
      createMessage('secagg.survivors', { roundId: 'r1', survivors: ['site-a', 'site-b', 'site-c'] }),
      createMessage('secagg.consistency', { roundId: 'r1', signed: { ...SECAGG_FIELDS, survivors: ['site-a', 'site-b', 'site-c'], signature: SIG_64 } }),
      createMessage('secagg.unmask', { roundId: 'r1', survivors: ['site-a', 'site-b', 'site-c'], signatures: [{ ...SECAGG_FIELDS, survivors: ['site-a', 'site-b', 'site-c'], signature: SIG_64 }] }),
      createMessage('secagg.reveal', {
        roundId: 'r1',
        reveal: { ...SECAGG_FIELDS, survivors: ['site-a', 'site-b', 'site-c'], shares: [{ owner: 'site-b', kind: 'self_mask_seed', share_base64: 'AAE=' }], signature: SIG_64 },
      }),
    ];
    expect(new Set(messages.map((m) => m.type))).toEqual(new Set(MESSAGE_TYPES));
    for (const message of messages) {
      const back = decodeMessage(encodeMessage(message));
      expect(back).toEqual(message);
    }
    const task = decodeMessage(encodeMessage(messages[3]!));
    if (task.type !== 'task' || task.content.contribution.kind !== 'bfv') throw new Error('shape');
    expect(Array.from(task.content.contribution.publicKey)).toEqual(Array.from(ciphertext));
  });

  it('checks the size limit before unpacking', () => {
    const big = encodeMessage(createMessage('heartbeat', {}));
    expect(codeOf(() => decodeMessage(big, { maxMessageBytes: big.byteLength - 1 }))).toBe('FEDVAL_ERR_PROTO_MESSAGE_TOO_LARGE');
    // A frame of garbage larger than the limit is refused on its size alone.
    expect(codeOf(() => decodeMessage(new Uint8Array(1025).fill(0xc1), { maxMessageBytes: 1024 }))).toBe(
      'FEDVAL_ERR_PROTO_MESSAGE_TOO_LARGE',
    );
  });

  it('turns garbage bytes into a coded error', () => {
    expect(codeOf(() => decodeMessage(new Uint8Array([0xc1, 0xc1, 0xc1])))).toBe('FEDVAL_ERR_PROTO_MALFORMED');
    expect(codeOf(() => decodeMessage(new Uint8Array([])))).toBe('FEDVAL_ERR_PROTO_MALFORMED');
    expect(codeOf(() => decodeMessage(rawPackr.pack([1, 2, 3])))).toBe('FEDVAL_ERR_PROTO_MALFORMED');
    expect(codeOf(() => decodeMessage(rawPackr.pack('hello')))).toBe('FEDVAL_ERR_PROTO_MALFORMED');
    expect(codeOf(() => decodeMessage(new TextEncoder().encode('{"v":1}')))).toBeDefined();
  });

  it('refuses another protocol version with its own code', () => {
    const other = rawPackr.pack({ v: PROTOCOL_VERSION + 1, id: 'x', sentAt: 1, type: 'heartbeat', content: {} });
    expect(codeOf(() => decodeMessage(other))).toBe('FEDVAL_ERR_PROTO_VERSION');
    const none = rawPackr.pack({ id: 'x', sentAt: 1, type: 'heartbeat', content: {} });
    expect(codeOf(() => decodeMessage(none))).toBe('FEDVAL_ERR_PROTO_VERSION');
  });

  it('refuses unknown types, extra fields, both content and error, and bad field values', () => {
    const base = { v: PROTOCOL_VERSION, id: 'm1', sentAt: 1 };
    expect(codeOf(() => decodeMessage(rawPackr.pack({ ...base, type: 'shell', content: {} })))).toBe('FEDVAL_ERR_PROTO_UNKNOWN_TYPE');
    expect(codeOf(() => decodeMessage(rawPackr.pack({ ...base, type: 'heartbeat', content: {}, extra: 1 })))).toBe(
      'FEDVAL_ERR_PROTO_INVALID_MESSAGE',
    );
    expect(
      codeOf(() =>
        decodeMessage(rawPackr.pack({ ...base, type: 'heartbeat', content: {}, error: { code: 'FEDVAL_ERR_PROTO_INTERNAL', message: 'y' } })),
      ),
    ).toBe('FEDVAL_ERR_PROTO_INVALID_MESSAGE');
    expect(
      codeOf(() =>
        decodeMessage(rawPackr.pack({ ...base, type: 'task.progress', content: { roundId: 'r', phase: 'evaluating', percent: 101 } })),
      ),
    ).toBe('FEDVAL_ERR_PROTO_INVALID_MESSAGE');
    // A plaintext vector must be a Float64Array, not a list of numbers that a peer made up.
    expect(
      codeOf(() =>
        decodeMessage(
          rawPackr.pack({
            ...base,
            type: 'task.result',
            content: { roundId: 'r', contribution: { kind: 'plaintext', vector: [1, 2] }, contributionSha256: 'a'.repeat(64) },
          }),
        ),
      ),
    ).toBe('FEDVAL_ERR_PROTO_INVALID_MESSAGE');
  });

  it('does not let a hostile __proto__ key reach the prototype chain', () => {
    const hostile = rawPackr.pack({ v: PROTOCOL_VERSION, id: 'm1', sentAt: 1, type: 'heartbeat', content: { ['__proto__']: { polluted: true } } });
    try {
      decodeMessage(hostile);
    } catch {
      // refused or accepted, the prototype of plain objects stays clean
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('never echoes a field value in a validation error', () => {
    const secret = 'patient-MRN-1234567';
    try {
      decodeMessage(rawPackr.pack({ v: PROTOCOL_VERSION, id: 'm1', sentAt: 1, type: 'task.accept', content: { roundId: 5, note: secret } }));
      throw new Error('accepted');
    } catch (error) {
      expect((error as ProtocolError).code).toBe('FEDVAL_ERR_PROTO_INVALID_MESSAGE');
      expect(String((error as Error).message)).not.toContain(secret);
    }
  });

  it('reduces any error to a code and a short message for the wire', () => {
    const wire = toWireError(new ProtocolError('FEDVAL_ERR_PROTO_MALFORMED'));
    expect(wire).toEqual({ code: 'FEDVAL_ERR_PROTO_MALFORMED', message: PROTOCOL_ERROR_MESSAGES.FEDVAL_ERR_PROTO_MALFORMED });
    expect(toWireError(new TypeError('x')).code).toBe('FEDVAL_ERR_PROTO_INTERNAL');
    expect(toWireError({ code: 'rm -rf' }).code).toBe('FEDVAL_ERR_PROTO_INTERNAL');
  });

  it('never sends the message of an uncoded error: a bug’s message, a library’s code or a thrown value become the generic code', () => {
    const secret = 'patient 4711 at /srv/site/data/cohort.csv: score 0.83';
    const generic = { code: 'FEDVAL_ERR_PROTO_INTERNAL', message: PROTOCOL_ERROR_MESSAGES.FEDVAL_ERR_PROTO_INTERNAL };
    expect(toWireError(new Error(secret))).toEqual(generic);
    expect(toWireError(Object.assign(new Error(secret), { code: 'ENOENT' }))).toEqual(generic);
    expect(toWireError({ code: 'FEDVAL_ERR_AGENT_BUSY', message: secret })).toEqual(generic); // not an Error: not one of ours
    expect(toWireError(secret)).toEqual(generic);
    const own = { code: 'FEDVAL_ERR_AGENT_INTERNAL', message: 'internal agent error' };
    expect(toWireError(new RangeError(secret), own)).toEqual(own);
    // The envelope built from it carries nothing of the secret.
    const bytes = encodeMessage(createErrorMessage(toWireError(new Error(secret))));
    expect(Buffer.from(bytes).toString('latin1')).not.toContain('4711');
  });
});

describe('enrollment messages', () => {
  const { privateKey } = generateKeyPairSync('ed25519');
  // A real Ed25519 signature (node:crypto, RFC 8032): 64 bytes, whatever the message.
  const signature = new Uint8Array(sign(null, Buffer.from('fedval'), privateKey));
  const capabilities = { tasks: ['binary' as const], contributions: ['plaintext' as const] };
  const hello = (content: Record<string, unknown>) =>
    ({ v: PROTOCOL_VERSION, id: 'h1', sentAt: 1, type: 'hello', content: { siteId: 'site-a', agentVersion: 't', capabilities, ...content } }) as never;

  it('accepts a hello with exactly one of token or signature', () => {
    expect(signature.byteLength).toBe(64);
    for (const content of [{ token: 'x'.repeat(32) }, { signature }]) {
      const back = decodeMessage(rawPackr.pack(hello(content)));
      expect(back.type === 'hello' && back.content.siteId).toBe('site-a');
    }
    expect(codeOf(() => decodeMessage(rawPackr.pack(hello({}))))).toBe('FEDVAL_ERR_PROTO_INVALID_MESSAGE');
    expect(codeOf(() => decodeMessage(rawPackr.pack(hello({ token: 'x'.repeat(32), signature }))))).toBe('FEDVAL_ERR_PROTO_INVALID_MESSAGE');
    expect(codeOf(() => decodeMessage(rawPackr.pack(hello({ signature: signature.subarray(0, 63) }))))).toBe('FEDVAL_ERR_PROTO_INVALID_MESSAGE');
  });

  it('checks the challenge nonce is 32 bytes of base64 and the audience is present', () => {
    const challenge = (content: Record<string, unknown>) =>
      rawPackr.pack({ v: PROTOCOL_VERSION, id: 'c1', sentAt: 1, type: 'challenge', content: { nonce: randomBytes(32).toString('base64'), issuedAt: 5, audience: 'ws://x/ws', ...content } });
    expect(decodeMessage(challenge({})).type).toBe('challenge');
    expect(codeOf(() => decodeMessage(challenge({ nonce: randomBytes(16).toString('base64') })))).toBe('FEDVAL_ERR_PROTO_INVALID_MESSAGE');
    expect(codeOf(() => decodeMessage(challenge({ nonce: `${randomBytes(32).toString('base64').slice(0, 43)}!` })))).toBe('FEDVAL_ERR_PROTO_INVALID_MESSAGE');
    expect(codeOf(() => decodeMessage(challenge({ audience: '' })))).toBe('FEDVAL_ERR_PROTO_INVALID_MESSAGE');
  });

  it('round-trips a signed result and refuses a malformed result signature', () => {
    const result = {
      roundId: 'r1',
      contribution: { kind: 'plaintext' as const, vector: new Float64Array([1, 2]) },
      contributionSha256: 'c'.repeat(64),
      signature: { nonce: randomBytes(32).toString('base64'), sentAt: 1_700_000_000_000, signature },
    };
    const back = decodeMessage(encodeMessage(createMessage('task.result', result)));
    expect(back.type === 'task.result' && back.content.signature).toEqual(result.signature);
    const bad = { v: PROTOCOL_VERSION, id: 'r', sentAt: 1, type: 'task.result', content: { ...result, signature: { ...result.signature, extra: 1 } } };
    expect(codeOf(() => decodeMessage(rawPackr.pack(bad)))).toBe('FEDVAL_ERR_PROTO_INVALID_MESSAGE');
    const short = { ...bad, content: { ...result, signature: { ...result.signature, signature: signature.subarray(1) } } };
    expect(codeOf(() => decodeMessage(rawPackr.pack(short)))).toBe('FEDVAL_ERR_PROTO_INVALID_MESSAGE');
  });
});

describe('documents inside the task and the result (schemas of the packages that own them)', () => {
  const spec = resolveMetricSpec({ bins: 100, groups: [{ column: 'sex', levels: ['F', 'M'] }] });
  const layout = createStatisticsLayout(spec);
  const privacy = resolvePrivacySpec({ epsilon: 1, delta: 1e-6, minSites: 2, layout: { kind: 'flat', bins: 20 } }, { layout });
  const plan = planBfvParameters({ vectorLength: 100, maxSites: 3, maxAbsPerSite: 1000 });
  const taskContent = (content: Record<string, unknown>) => ({
    studyId: 's1',
    roundId: 'r1',
    metricSpec: spec,
    scorer: { kind: 'score_column', columns: ['score'] },
    contribution: { kind: 'bfv', plan, publicKey: new Uint8Array(8) },
    privacy,
    deadline: 5,
    ...content,
  });
  const task = (content: Record<string, unknown>) => rawPackr.pack({ v: PROTOCOL_VERSION, id: 't1', sentAt: 1, type: 'task', content: JSON.parse(JSON.stringify(taskContent(content)), (key, value) => (key === 'publicKey' ? new Uint8Array(8) : value)) });
  function problemsOf(bytes: Uint8Array): string {
    try {
      decodeMessage(bytes);
    } catch (error) {
      expect((error as ProtocolError).code).toBe('FEDVAL_ERR_PROTO_INVALID_MESSAGE');
      return (error as Error).message;
    }
    throw new Error('accepted');
  }

  it('decodes a task into the typed, resolved metric spec, BFV plan and privacy spec', () => {
    const back = decodeMessage(task({}));
    if (back.type !== 'task' || back.content.contribution.kind !== 'bfv') throw new Error('shape');
    expect(back.content.metricSpec).toEqual(spec);
    expect(back.content.contribution.plan).toEqual(plan);
    expect(back.content.privacy).toEqual(privacy);
    // The decoded documents are what the packages take: no cast between the wire and the use.
    expect(createStatisticsLayout(back.content.metricSpec).length).toBe(layout.length);
    expect(resolvePrivacySpec(back.content.privacy, { layout })).toEqual(privacy);
  });

  it("carries the coordinator's audit head in a task, and refuses a malformed one naming it", () => {
    const head = { seq: 12, hash: 'ab'.repeat(32) };
    const back = decodeMessage(task({ coordinatorAuditHead: head }));
    expect(back.type === 'task' && back.content.coordinatorAuditHead).toEqual(head);
    expect(problemsOf(task({ coordinatorAuditHead: { seq: 12, hash: 'AB'.repeat(32) } }))).toContain('content.coordinatorAuditHead.hash');
    expect(problemsOf(task({ coordinatorAuditHead: { seq: -1, hash: head.hash } }))).toContain('content.coordinatorAuditHead.seq');
  });

  it('refuses a task whose documents break their owners’ rules, naming where', () => {
    expect(problemsOf(task({ metricSpec: { ...spec, bins: -5 } }))).toContain('content.metricSpec.bins');
    expect(problemsOf(task({ metricSpec: { ...spec, calibrationBins: 7 } }))).toContain('content.metricSpec.calibrationBins');
    expect(problemsOf(task({ contribution: { kind: 'bfv', plan: { ...plan, securityBits: 64 }, publicKey: null } }))).toContain('content.contribution.plan.securityBits');
    expect(problemsOf(task({ contribution: { kind: 'bfv', plan: { ...plan, plainModulus: '65537' }, publicKey: null } }))).toContain('content.contribution.plan');
    expect(problemsOf(task({ privacy: { epsilon: 1, delta: 1e-6, minSites: 2, layout: 'auto' } }))).toContain('content.privacy.layout');
  });

  it('checks the attestation a site signs with its result', () => {
    const attestation = {
      privacy: { rho: 0.02, epsilon: 1, delta: 1e-6, epsilon_spent: 1, epsilon_remaining: 9, epsilon_total: 10 },
      dataset_commitment: 'ab'.repeat(32),
      audit_head: { seq: 3, hash: 'cd'.repeat(32) },
    };
    const result = (extra: Record<string, unknown>) =>
      rawPackr.pack({ v: PROTOCOL_VERSION, id: 'r', sentAt: 1, type: 'task.result', content: { roundId: 'r1', contribution: { kind: 'plaintext', vector: new Float64Array([1]) }, contributionSha256: 'c'.repeat(64), ...extra } });
    const back = decodeMessage(result({ attestation }));
    expect(back.type === 'task.result' && back.content.attestation).toEqual(attestation);
    expect(problemsOf(result({ attestation: { ...attestation, audit_head: { seq: -1, hash: 'x' } } }))).toContain('content.attestation.audit_head.seq');
    expect(problemsOf(result({ attestation: { ...attestation, rows: [1, 2] } }))).toContain('content.attestation');
  });
});

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PROTOCOL_ERROR_MESSAGES, ProtocolError } from './errors.ts';
import { MESSAGE_TYPES } from './messages.ts';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

describe('ProtocolError', () => {
  it('documents every code in the README error table, and every message type', () => {
    const documented = new Set([...readme.matchAll(/^\| `(FEDVAL_ERR_PROTO_[A-Z0-9_]+)` \|/gm)].map((match) => match[1]));
    expect([...documented].sort()).toEqual(Object.keys(PROTOCOL_ERROR_MESSAGES).sort());
    for (const type of MESSAGE_TYPES) expect(readme, type).toContain(`| \`${type}\` |`);
  });

  it('carries its code, the short message with the detail, and the cause', () => {
    const cause = new Error('truncated');
    const error = new ProtocolError('FEDVAL_ERR_PROTO_MALFORMED', 'not an envelope object', { cause });
    expect(error.name).toBe('ProtocolError');
    expect(error.code).toBe('FEDVAL_ERR_PROTO_MALFORMED');
    expect(error.message).toBe('message is not a valid msgpack document: not an envelope object');
    expect(error.cause).toBe(cause);
  });
});

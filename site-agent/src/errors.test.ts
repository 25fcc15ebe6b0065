import { describe, expect, it } from 'vitest';
import { AGENT_ERROR_MESSAGES, AgentError, agentWireError } from './errors.ts';

describe('site agent error codes', () => {
  it('are prefixed FEDVAL_ERR_AGENT_ and each have a message', () => {
    for (const [code, message] of Object.entries(AGENT_ERROR_MESSAGES)) {
      expect(code).toMatch(/^FEDVAL_ERR_AGENT_[A-Z0-9_]+$/);
      expect(message.length).toBeGreaterThan(0);
    }
  });

  it('send an uncoded error (a bug) as FEDVAL_ERR_AGENT_INTERNAL without its message, a coded one as it is', () => {
    const secret = '/srv/hospital/cohort.csv row 4711: age=83 label=1';
    expect(agentWireError(new Error(secret))).toEqual({ code: 'FEDVAL_ERR_AGENT_INTERNAL', message: AGENT_ERROR_MESSAGES.FEDVAL_ERR_AGENT_INTERNAL });
    expect(agentWireError(Object.assign(new Error(secret), { code: 'ENOENT' }))).toEqual({ code: 'FEDVAL_ERR_AGENT_INTERNAL', message: AGENT_ERROR_MESSAGES.FEDVAL_ERR_AGENT_INTERNAL });
    expect(agentWireError(new AgentError('FEDVAL_ERR_AGENT_BUSY'))).toEqual({ code: 'FEDVAL_ERR_AGENT_BUSY', message: AGENT_ERROR_MESSAGES.FEDVAL_ERR_AGENT_BUSY });
  });

  it('send a data-file error without its detail: no line number of a malformed row, no path, leaves the site', () => {
    expect(agentWireError(new AgentError('FEDVAL_ERR_AGENT_DATA_MALFORMED', 'CSV_RECORD_INCONSISTENT_FIELDS_LENGTH near line 4711'))).toEqual({
      code: 'FEDVAL_ERR_AGENT_DATA_MALFORMED',
      message: 'data file is not valid CSV',
    });
    expect(agentWireError(new AgentError('FEDVAL_ERR_AGENT_DATA_NOT_FOUND', '/srv/hospital/cohort.csv'))).toEqual({ code: 'FEDVAL_ERR_AGENT_DATA_NOT_FOUND', message: 'data file not found or not readable' });
  });
});

import { describe, expect, it } from 'vitest';
import { ModelsError } from '@fedval/models';
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
    expect(agentWireError(new AgentError('FEDVAL_ERR_AGENT_DATA_MALFORMED', 'a row does not have as many cells as the header near line 4711'))).toEqual({
      code: 'FEDVAL_ERR_AGENT_DATA_MALFORMED',
      message: 'data is not valid CSV or Parquet, or is truncated',
    });
    expect(agentWireError(new AgentError('FEDVAL_ERR_AGENT_DATA_NOT_FOUND', '/srv/hospital/cohort.csv'))).toEqual({ code: 'FEDVAL_ERR_AGENT_DATA_NOT_FOUND', message: 'data file not found or not readable' });
  });

  it('send a database error without its detail: no SQLSTATE text about the site schema, no socket address', () => {
    expect(agentWireError(new AgentError('FEDVAL_ERR_AGENT_DB_QUERY', 'SQLSTATE 42703: column "hiv_status" does not exist'))).toEqual({
      code: 'FEDVAL_ERR_AGENT_DB_QUERY',
      message: 'the site database query failed',
    });
    expect(agentWireError(new AgentError('FEDVAL_ERR_AGENT_DB_UNREACHABLE', 'ECONNREFUSED'))).toEqual({
      code: 'FEDVAL_ERR_AGENT_DB_UNREACHABLE',
      message: 'the site database cannot be reached (connection refused, timed out or lost)',
    });
    expect(agentWireError(new AgentError('FEDVAL_ERR_AGENT_DB_AUTH', 'SQLSTATE 28P01')).message).toBe('the site database refused the configured role or password');
    expect(agentWireError(new AgentError('FEDVAL_ERR_AGENT_DB_TIMEOUT', 'SQLSTATE 57014')).message).toBe('the site database query exceeded data.postgres.statement_timeout_ms');
  });

  it('send a model error met while scoring as its code and fixed message: the runtime text a model steers stays at the site', () => {
    const runtime = 'indices element out of data bounds, idx=6731 must be within the inclusive range [-2,1]';
    expect(agentWireError(new ModelsError('FEDVAL_ERR_MODELS_INFERENCE_FAILED', runtime))).toEqual({ code: 'FEDVAL_ERR_MODELS_INFERENCE_FAILED', message: 'model inference failed' });
    expect(agentWireError(new ModelsError('FEDVAL_ERR_MODELS_WORKER_FAILED', runtime))).toEqual({ code: 'FEDVAL_ERR_MODELS_WORKER_FAILED', message: 'a model worker thread stopped while scoring' });
    expect(agentWireError(new ModelsError('FEDVAL_ERR_MODELS_SHAPE_MISMATCH', 'output [6731] for 12 rows')).message).toBe('model input or output shape does not match the manifest');
  });
});

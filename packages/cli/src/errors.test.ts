import { describe, expect, it } from 'vitest';
import { CLI_ERROR_MESSAGES, CliError } from './errors.ts';
import { parseSiteArgument } from './simulate.ts';

describe('fedval CLI', () => {
  it('pins the public error codes', () => {
    expect(Object.keys(CLI_ERROR_MESSAGES)).toEqual([
      'FEDVAL_ERR_CLI_USAGE',
      'FEDVAL_ERR_CLI_PROCESS',
      'FEDVAL_ERR_CLI_TIMEOUT',
      'FEDVAL_ERR_CLI_API',
      'FEDVAL_ERR_CLI_ROUND_FAILED',
      'FEDVAL_ERR_CLI_MODEL',
      'FEDVAL_ERR_CLI_KEYS_EXIST',
      'FEDVAL_ERR_CLI_KEYS_MISSING',
      'FEDVAL_ERR_CLI_KEY_MISMATCH',
      'FEDVAL_ERR_CLI_RELEASE_POLICY',
      'FEDVAL_ERR_CLI_AUDIT',
      'FEDVAL_ERR_CLI_INTERNAL',
      'FEDVAL_ERR_CLI_RESPONSE',
      'FEDVAL_ERR_CLI_ROSTER',
      'FEDVAL_ERR_CLI_RELEASE_REFUSED',
      'FEDVAL_ERR_CLI_SCORES',
      'FEDVAL_ERR_CLI_REPORT_NOT_RELEASED',
      'FEDVAL_ERR_CLI_REPORT_UNSIGNED',
      'FEDVAL_ERR_CLI_REPORT_SIGNATURE',
      'FEDVAL_ERR_CLI_REPORT_MISMATCH',
      'FEDVAL_ERR_CLI_REPORT_FORMAT',
      'FEDVAL_ERR_CLI_EVIDENCE_UNREADABLE',
      'FEDVAL_ERR_CLI_REPORT_UNPINNED',
    ]);
  });

  it('parses NAME=FILE site arguments and refuses malformed ones', () => {
    expect(parseSiteArgument('site-a=data/a.csv').name).toBe('site-a');
    expect(parseSiteArgument('b=x=y.csv').file.endsWith('x=y.csv')).toBe(true);
    for (const bad of ['=a.csv', 'a=', 'a b=c.csv', 'no-equals']) expect(() => parseSiteArgument(bad)).toThrow(CliError);
  });
});

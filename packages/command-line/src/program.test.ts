import { describe, expect, it } from 'vitest';
import { createProgram, describeFailure, exitStatusOf } from './program.ts';
import { metricSpecOrUsageError, withEvaluationOptions } from './evaluation-options.ts';
import type { EvaluationCommandOptions } from '@fedval/metrics';

const identity = { name: 'fedval-test', internalCode: 'FEDVAL_ERR_TEST_INTERNAL' };

describe('the programs’ error reporting', () => {
  it('exits 2 for usage, configuration and TLS codes of any program, 1 for every other code', () => {
    for (const code of ['FEDVAL_ERR_CLI_USAGE', 'FEDVAL_ERR_AGENT_USAGE', 'FEDVAL_ERR_AGENT_CONFIG', 'FEDVAL_ERR_AGENT_TLS', 'FEDVAL_ERR_COORD_CONFIG', 'FEDVAL_ERR_COORD_CONFIG_UNREADABLE', 'FEDVAL_ERR_COORD_TLS', 'FEDVAL_ERR_COORD_USAGE']) {
      expect(exitStatusOf(code), code).toBe(2);
    }
    for (const code of ['FEDVAL_ERR_CLI_API', 'FEDVAL_ERR_COORD_DATA_DIR_LOCKED', 'FEDVAL_ERR_AGENT_DATA_COLUMNS', 'FEDVAL_ERR_CLI_INTERNAL', 'FEDVAL_ERR_COORD_STORAGE_VERSION']) {
      expect(exitStatusOf(code), code).toBe(1);
    }
  });

  it('reports a coded error under its code and anything else under the program’s internal code', () => {
    const coded = Object.assign(new Error('no such round'), { code: 'FEDVAL_ERR_CLI_API' });
    expect(describeFailure(identity, coded)).toEqual({ code: 'FEDVAL_ERR_CLI_API', line: 'fedval-test: FEDVAL_ERR_CLI_API: no such round\n' });
    const system = Object.assign(new Error('listen EADDRINUSE: address already in use'), { code: 'EADDRINUSE' });
    expect(describeFailure(identity, system)).toEqual({ code: 'FEDVAL_ERR_TEST_INTERNAL', line: 'fedval-test: FEDVAL_ERR_TEST_INTERNAL: listen EADDRINUSE: address already in use\n' });
    expect(describeFailure(identity, 'thrown text').line).toBe('fedval-test: FEDVAL_ERR_TEST_INTERNAL: thrown text\n');
  });

  it('prints a parser error as `program: USAGE_CODE: message`', async () => {
    let written = '';
    const program = createProgram({ ...identity, description: 'test', usageCode: 'FEDVAL_ERR_TEST_USAGE' });
    program.configureOutput({ writeErr: (text) => (written += text) });
    program.command('run').requiredOption('--x <n>', 'x').action(() => undefined);
    await expect(program.parseAsync(['node', 'fedval-test', 'run'])).rejects.toMatchObject({ exitCode: 1 });
    expect(written.split('\n')[0]).toBe("fedval-test: FEDVAL_ERR_TEST_USAGE: required option '--x <n>' not specified");
  });
});

describe('the shared evaluation options', () => {
  it('parse decimals strictly, collect repeated groups, and turn inconsistent options into the caller’s usage error', async () => {
    let seen: Record<string, unknown> = {};
    const program = createProgram({ ...identity, description: 'test', usageCode: 'FEDVAL_ERR_TEST_USAGE' });
    program.configureOutput({ writeErr: () => undefined });
    withEvaluationOptions(program.command('eval')).action((options: Record<string, unknown>) => {
      seen = options;
    });
    await program.parseAsync(['node', 'fedval-test', 'eval', '--label', 'y', '--score', 'p', '--bins', '200', '--group', 'sex', '--group', 'age:50,70']);
    expect(seen).toMatchObject({ label: 'y', score: 'p', bins: 200, threshold: 0.5, group: ['sex', 'age:50,70'], task: 'binary' });
    await expect(program.parseAsync(['node', 'fedval-test', 'eval', '--label', 'y', '--score', 'p', '--bins', '0x10'])).rejects.toMatchObject({ exitCode: 1 });
    const usage = (message: string) => Object.assign(new Error(message), { code: 'FEDVAL_ERR_TEST_USAGE' });
    expect(() => metricSpecOrUsageError({ ...(seen as unknown as EvaluationCommandOptions), score: undefined }, usage)).toThrow(expect.objectContaining({ code: 'FEDVAL_ERR_TEST_USAGE', message: expect.stringContaining('--score or --model') }));
  });
});

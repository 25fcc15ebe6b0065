#!/usr/bin/env node
// main.ts — `fedval-agent`: run the site agent, evaluate a file locally, list subgroup levels.
import { basename } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { finalizeMetrics, formatMetricsTable, resolveMetricSpec } from '@fedval/metrics';
import type { GroupSpec, MetricSpec } from '@fedval/metrics';
import { pino } from 'pino';
import { budgetFromEpsilon } from '@fedval/dp';
import { SiteAgent } from './agent.ts';
import { PrivacyLedger } from './privacy-ledger.ts';
import { loadAgentConfig } from './config.ts';
import { AgentError } from './errors.ts';
import { evaluateDataset } from './evaluation.ts';
import { discoverGroupLevels, parseGroupArgument } from './group-levels.ts';
import { loadLocalModelScorer } from './model-scorer.ts';
import { parseDecimal, scoreColumnScorer } from './scorers.ts';

const logger = pino({ level: process.env.FEDVAL_LOG_LEVEL ?? 'info', base: { component: 'fedval-agent' } }, pino.destination(2));

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function number(name: string) {
  return (value: string): number => {
    const parsed = parseDecimal(value);
    if (!Number.isFinite(parsed)) throw new InvalidArgumentError(`${name} must be a number`);
    return parsed;
  };
}

const program = new Command('fedval-agent')
  .description('fedval site agent: evaluates models on this site\'s data; only protected aggregate statistics leave the site')
  .showHelpAfterError();

program
  .command('start')
  .description('connect to the coordinator and run evaluation tasks under this site\'s policy')
  .requiredOption('--config <file>', 'site configuration (YAML)')
  .action(async (options: { config: string }) => {
    const config = loadAgentConfig(options.config);
    logger.level = config.log_level;
    const agent = new SiteAgent(config, logger.child({ siteId: config.site_id }));
    agent.on('fatal', (error) => {
      process.exitCode = 3;
      logger.error({ code: error.code }, error.message);
      void agent.stop();
    });
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.once(signal, () => {
        logger.info({ signal }, 'stopping');
        void agent.stop().then(() => process.exit(process.exitCode ?? 0));
      });
    }
    agent.start();
  });

program
  .command('eval-local')
  .description('compute the metrics on one local file; nothing is sent anywhere')
  .requiredOption('--data <file>', 'CSV file with a header row')
  .requiredOption('--label <column>', 'outcome column')
  .option('--task <type>', 'binary, multiclass or regression', 'binary')
  .option('--classes <a,b,...>', 'multiclass: class labels in order, as written in the label column')
  .option('--range <low,high>', 'regression: range outcomes and predictions are clamped into')
  .option('--positive <value>', 'label value of the positive class', '1')
  .option('--negative <value>', 'label value of the negative class (others are excluded as invalid_label); default: every other value')
  .option('--score <column>', 'column with the predicted probability of the positive class (multiclass: one column per class, comma-separated; regression: the prediction)')
  .option('--model <dir>', 'model bundle directory (manifest.json + TF.js model); binary tasks')
  .option('--group <column[:cuts]>', 'subgroup column, repeatable; numeric bands with cuts, e.g. age:50,70', collect, [])
  .option('--threshold <t>', 'decision threshold on the score grid', number('--threshold'), 0.5)
  .option('--bins <B>', 'score histogram bins over [0, 1]', number('--bins'), 1000)
  .option('--calibration-bins <n>', 'reliability bins', number('--calibration-bins'), 10)
  .option('--min-cell <n>', 'suppress subgroup levels with fewer patients', number('--min-cell'), 10)
  .option('--json', 'print one JSON document on stdout')
  .action(async (options: EvalLocalOptions) => {
    if (Boolean(options.score) === Boolean(options.model)) throw new AgentError('FEDVAL_ERR_AGENT_USAGE', 'give exactly one of --score or --model');
    if (options.model && options.task !== 'binary') throw new AgentError('FEDVAL_ERR_AGENT_USAGE', '--model bundles predict a probability: binary tasks only');
    const source = { path: options.data };
    const groups: GroupSpec[] = await discoverGroupLevels(source, options.group.map(parseGroupArgument));
    const spec = resolveMetricSpec({
      ...taskSpec(options),
      bins: options.bins,
      threshold: options.threshold,
      groups,
      calibrationBins: options.calibrationBins,
      minCellSize: options.minCell,
    });
    const scorer = options.model ? await loadLocalModelScorer(options.model, logger) : scoreColumnScorer(options.score!.split(','));
    const label = { column: options.label, positive: options.positive, negative: options.negative };
    let lastShown = -1;
    const outcome = await evaluateDataset({
      source,
      spec,
      label,
      scorer,
      onProgress: (percent) => {
        if (percent - lastShown >= 10 || percent === 100) {
          lastShown = percent;
          logger.info({ percent: Math.round(percent) }, 'evaluating');
        }
      },
    });
    const metrics = finalizeMetrics(outcome.layout, outcome.vector);
    if (options.json) {
      process.stdout.write(`${JSON.stringify({ metrics, source: { file: basename(options.data), scorer: scorer.description } }, null, 2)}\n`);
    } else {
      process.stdout.write(`${formatMetricsTable(metrics)}\n`);
    }
  });

program
  .command('levels')
  .description('list the distinct values of subgroup columns in a local file (names only, never counts)')
  .requiredOption('--data <file>', 'CSV file with a header row')
  .requiredOption('--group <column>', 'column, repeatable', collect, [])
  .action(async (options: { data: string; group: string[] }) => {
    const groups = await discoverGroupLevels({ path: options.data }, options.group.map(parseGroupArgument));
    process.stdout.write(`${JSON.stringify({ groups })}\n`);
  });

/** Task-specific part of the metric spec from `--task`, `--classes` and `--range`. */
function taskSpec(options: { task: string; classes?: string; range?: string }): Partial<MetricSpec> {
  if (options.task === 'multiclass') {
    if (!options.classes) throw new AgentError('FEDVAL_ERR_AGENT_USAGE', '--task multiclass needs --classes a,b,...');
    return { task: 'multiclass', classes: options.classes.split(',') };
  }
  if (options.task === 'regression') {
    const range = (options.range ?? '').split(',').map(parseDecimal);
    if (range.length !== 2 || !range.every(Number.isFinite)) throw new AgentError('FEDVAL_ERR_AGENT_USAGE', '--task regression needs --range low,high');
    return { task: 'regression', regressionRange: [range[0]!, range[1]!] };
  }
  if (options.task !== 'binary') throw new AgentError('FEDVAL_ERR_AGENT_USAGE', '--task must be binary, multiclass or regression');
  return { task: 'binary' };
}

program
  .command('budget')
  .description('show this site\'s privacy budget: ε spent per round and left, from the agent\'s own ledger')
  .requiredOption('--config <file>', 'site configuration (YAML)')
  .option('--json', 'print one JSON document on stdout')
  .action((options: { config: string; json?: boolean }) => {
    const config = loadAgentConfig(options.config);
    const datasetId = config.privacy.dataset_id ?? `${config.site_id}:${basename(config.data.path)}`;
    const budget = budgetFromEpsilon({ totalEpsilon: config.privacy.total_epsilon, perRoundEpsilon: config.privacy.per_round_epsilon, delta: config.privacy.delta });
    const ledger = PrivacyLedger.open(config.data_dir);
    try {
      const status = ledger.status(datasetId, budget);
      const records = ledger.records(datasetId);
      const document = {
        dataset_id: datasetId,
        budget: { total_epsilon: config.privacy.total_epsilon, per_round_epsilon: config.privacy.per_round_epsilon, delta: config.privacy.delta, total_rho: budget.totalRho },
        spent: { rho: status.spentRho, epsilon: status.spentEpsilon },
        remaining: { rho: status.remainingRho },
        rounds: records.map((r) => ({ at: r.at, study_id: r.studyId, round_id: r.roundId, rho: r.rho, epsilon: r.epsilon, delta: r.delta })),
      };
      if (options.json) process.stdout.write(`${JSON.stringify(document, null, 2)}\n`);
      else {
        process.stdout.write(
          `dataset ${datasetId}: spent ε = ${status.spentEpsilon.toFixed(3)} of ${config.privacy.total_epsilon} at δ = ${config.privacy.delta} ` +
            `(ρ ${status.spentRho.toFixed(5)} of ${budget.totalRho.toFixed(5)}); ${records.length} round(s)\n`,
        );
        for (const r of records) process.stdout.write(`  ${r.at}  study ${r.studyId}  round ${r.roundId}  ε ${r.epsilon}  ρ ${r.rho.toFixed(5)}\n`);
      }
    } finally {
      ledger.close();
    }
  });

interface EvalLocalOptions {
  data: string;
  label: string;
  task: string;
  classes?: string;
  range?: string;
  positive: string;
  negative?: string;
  score?: string;
  model?: string;
  group: string[];
  threshold: number;
  bins: number;
  calibrationBins: number;
  minCell: number;
  json?: boolean;
}

try {
  await program.parseAsync(process.argv);
} catch (error) {
  const code = (error as { code?: string }).code ?? 'FEDVAL_ERR_AGENT_INTERNAL';
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`fedval-agent: ${code}: ${message}\n`);
  process.exitCode = code.endsWith('_USAGE') || code.endsWith('_CONFIG') ? 2 : 1;
}

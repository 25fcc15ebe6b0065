// sponsor-commands.ts — `fedval models | studies | rounds | sites list`: the sponsor's and operator's REST routes as commands, and `models pack`.
import { Command, Option } from '@fedval/command-line';
import { formatMetricsTable, metricSpecToInput, resolveMetricSpec } from '@fedval/metrics';
import type { MetricsReport } from '@fedval/metrics';
import type { RoundView, StudyCreateRequest } from '@fedval/protocol';
import { CoordinatorClient } from './coordinator-client.ts';
import { CliError } from './errors.ts';
import { decimal, metricSpecOrUsageError, withEvaluationOptions } from '@fedval/command-line';
import {
  describeModel,
  describeModelRow,
  describePrivacyFigures,
  describeProgress,
  describeRound,
  describeSite,
  describeSiteBudgets,
  describeStudy,
  describeStudyRow,
} from './human-output.ts';
import { packOnnxModel } from './model-pack.ts';
import type { ModelPackOptions } from './model-pack.ts';
import { readModelUpload } from './model-upload.ts';
import { prioritiesInput, withPrivacyOptions } from './privacy-options.ts';
import type { PrivacyCommandOptions } from './privacy-options.ts';

/** Options every coordinator command takes. */
interface CoordinatorOptions {
  coordinator: string;
  json?: boolean;
}

/** The evaluation options that describe the metric spec; the others (label, data columns, a model directory) are each site's. */
const METRIC_SPEC_FLAGS = new Set(['--task', '--classes', '--range', '--horizon', '--max-time', '--time-bins', '--after-bins', '--group', '--threshold', '--bins', '--score-grid', '--calibration-bins', '--min-cell']);

/** Default pause between two polls of `rounds wait`, in seconds. */
const DEFAULT_POLL_SECONDS = 1;
/** Default limit of `rounds wait`, in seconds (1 h). */
const DEFAULT_WAIT_SECONDS = 3600;

/**
 * Adds the sponsor's and operator's commands to `program`; `sites` is the existing `fedval sites` command (which has
 * `enrollment-token`). `token()` is the global --token option or FEDVAL_API_TOKEN.
 */
export function addSponsorCommands(program: Command, sites: Command, token: () => string | undefined): void {
  const client = (options: CoordinatorOptions) => new CoordinatorClient(options.coordinator, token());
  const print = (options: CoordinatorOptions, document: unknown, human: () => string) => {
    process.stdout.write(options.json ? `${JSON.stringify(document, null, 2)}\n` : `${human()}\n`);
  };

  const models = program.command('models').description('sponsor: model bundles: pack an ONNX export, register with the coordinator');
  models
    .command('pack')
    .description(
      'make an ONNX model bundle: check the graph against the feature description in ONNX Runtime, then write model.onnx and ' +
        'manifest.json (its SHA-256 and, with --sign, the sponsor signature) to a new or empty directory',
    )
    .requiredOption('--onnx <file>', 'the exported ONNX graph: one float32 [batch, features] input; probabilities as a tensor (export without ZipMap)')
    .requiredOption('--features <yaml>', 'name, version, description, inputs (the features in the graph\'s input order) and output, as in manifest.json')
    .requiredOption('--out <dir>', 'bundle directory to create (new or empty)')
    .option('--sign <key>', "the sponsor's Ed25519 private key (PKCS#8 PEM, mode 0600): sign the manifest")
    .option('--json', 'print one JSON document on stdout')
    .action(async (options: ModelPackOptions & { json?: boolean }) => {
      const packed = await packOnnxModel(options);
      const document = { model_id: packed.modelId, dir: options.out, name: packed.manifest.name, version: packed.manifest.version, signer_fingerprint: packed.signerFingerprint };
      process.stdout.write(
        options.json
          ? `${JSON.stringify(document, null, 2)}\n`
          : `packed ${packed.manifest.name} ${packed.manifest.version} into ${options.out}: model id ${packed.modelId}; ` +
              `${packed.signerFingerprint ? `signed by sponsor key ${packed.signerFingerprint}` : 'unsigned'}\n`,
      );
    });
  coordinatorCommand(models.command('register'))
    .description('check a model bundle directory (manifest.json and the files it lists, each against its SHA-256) and register it')
    .argument('<dir>', 'model bundle directory (manifest.json, model files)')
    .action(async (dir: string, options: CoordinatorOptions) => {
      const { upload } = await readModelUpload(dir);
      const registered = await client(options).registerModel(upload);
      print(options, registered, () => `model ${registered.model_id} ${registered.created ? 'registered' : 'was already registered'}: ${registered.name} ${registered.version}`);
    });
  coordinatorCommand(models.command('list'))
    .description('list registered models, oldest first')
    .action(async (options: CoordinatorOptions) => {
      const list = await client(options).listModels();
      print(options, list, () => (list.length === 0 ? 'no models registered' : list.map(describeModelRow).join('\n')));
    });
  coordinatorCommand(models.command('show'))
    .description("show a model's record: name, version, format, every file's size and SHA-256")
    .argument('<id>', 'model id (SHA-256 of its manifest.json)')
    .action(async (id: string, options: CoordinatorOptions) => {
      const model = await client(options).getModel(id);
      print(options, model, () => describeModel(model));
    });

  const studies = program.command('studies').description('sponsor: studies (model, metrics, sites, privacy, release policy)');
  const create = coordinatorCommand(studies.command('create'))
    .description('create a study: the model or score column, the metric spec, the sites, differential privacy and the release policy')
    .option('--name <name>', 'study name', 'fedval study')
    .option('--model <id>', 'registered model id (fedval models register); or --score-column')
    .option('--score-column <column>', "each site's column with the predicted probability; or --model")
    .addOption(new Option('--site <id...>', 'site id as the coordinator configures it, repeatable').makeOptionMandatory())
    .option('--quorum <n>', 'contributions that close a round early (default: every site)', decimal('--quorum'))
    .option('--deadline <seconds>', "round deadline (default: the coordinator's)", decimal('--deadline'))
    .option('--max-patients-per-site <n>', 'most patients one site may evaluate (sizes the encryption)', decimal('--max-patients-per-site'))
    .option('--expected-patients <n>', 'public planning assumption for the release layout: patients with a label across all sites', decimal('--expected-patients'))
    .option('--plaintext-contributions', 'test seam: sites send unencrypted statistics vectors instead of ciphertexts')
    .option('--no-secure-aggregation', 'do not mask the contributions (sites refuse such a study unless their policy.require_secure_aggregation is false)')
    .option('--secagg-threshold <n>', 'secure aggregation: sites that must reveal shares to unmask the sum (default: the coordinator\'s)', decimal('--secagg-threshold'))
    .addHelpText('after', '\nSubgroups: --group COL:c1,c2 (numeric bands) or --group COL=level1,level2 (the levels of a categorical column).');
  // The metric options are simulate's and eval-local's (@fedval/metrics EVALUATION_OPTIONS), those a study carries.
  for (const option of withEvaluationOptions(new Command()).options) if (METRIC_SPEC_FLAGS.has(option.long ?? '')) create.addOption(option);
  withPrivacyOptions(create).action(async (options: StudyCreateOptions) => {
    const study = await client(options).createStudy(studyRequest(options));
    print(options, study, () => describeStudy(study));
  });
  coordinatorCommand(studies.command('list'))
    .description('list studies, oldest first')
    .action(async (options: CoordinatorOptions) => {
      const list = await client(options).listStudies();
      print(options, list, () => (list.length === 0 ? 'no studies' : list.map(describeStudyRow).join('\n')));
    });
  coordinatorCommand(studies.command('show'))
    .description('show a study and its rounds (--json: { study, rounds })')
    .argument('<id>', 'study id')
    .action(async (id: string, options: CoordinatorOptions) => {
      const api = client(options);
      const study = await api.getStudy(id);
      const rounds = await api.listRounds(id);
      print(options, { study, rounds }, () => [describeStudy(study), ...(rounds.length ? rounds.map(describeProgress) : ['no rounds yet'])].join('\n'));
    });

  const rounds = program.command('rounds').description('sponsor: evaluation rounds of a study');
  waitOptions(coordinatorCommand(rounds.command('start')))
    .description('start a round of a study; with --wait, show its progress until it closes')
    .argument('<study>', 'study id')
    .option('--wait', 'wait for the round, showing sites contributed, refused and pending')
    .action(async (studyId: string, options: WaitOptions & { wait?: boolean }) => {
      const started = await client(options).startRound(studyId);
      if (!options.wait) {
        print(options, started, () => `round ${started.round_id} of study ${started.study_id} started (${started.state})`);
        return;
      }
      process.stderr.write(`round ${started.round_id} of study ${started.study_id} started\n`);
      await waitAndPrint(client(options), started.round_id, options);
    });
  coordinatorCommand(rounds.command('show'))
    .description("show a round: each site's status, and the released result (metrics of the aggregate only)")
    .argument('<round>', 'round id')
    .action(async (id: string, options: CoordinatorOptions) => {
      const round = await client(options).getRound(id);
      print(options, round, () => describeRoundWithResult(round));
    });
  waitOptions(coordinatorCommand(rounds.command('wait')))
    .description('show a round\'s progress (sites contributed, refused, pending) until it closes; exit 1 when it fails')
    .argument('<round>', 'round id')
    .action(async (id: string, options: WaitOptions) => waitAndPrint(client(options), id, options));

  coordinatorCommand(sites.command('list'))
    .description("the configured sites: connected or not, last seen, and the enrolled key's fingerprint to compare out of band with the site's")
    .action(async (options: CoordinatorOptions) => {
      const list = await client(options).listSites();
      print(options, list, () => list.map(describeSite).join('\n'));
    });
}

interface StudyCreateOptions extends CoordinatorOptions, PrivacyCommandOptions {
  name: string;
  model?: string;
  scoreColumn?: string;
  site: string[];
  quorum?: number;
  deadline?: number;
  maxPatientsPerSite?: number;
  expectedPatients?: number;
  plaintextContributions?: boolean;
  /** false with --no-secure-aggregation; otherwise the coordinator's default (on for bfv studies). */
  secureAggregation?: boolean;
  secaggThreshold?: number;
  task: string;
  classes?: string;
  range?: string;
  horizon?: number;
  maxTime?: number;
  timeBins?: number;
  afterBins?: number;
  group: string[];
  threshold: number;
  bins?: number;
  scoreGrid?: string;
  calibrationBins: number;
  minCell: number;
}

interface WaitOptions extends CoordinatorOptions {
  until: 'closed' | 'released';
  interval: number;
  timeout: number;
}

function coordinatorCommand(command: Command): Command {
  return command
    .addOption(new Option('--coordinator <url>', 'coordinator base URL, e.g. https://coordinator.example.org:8740').env('FEDVAL_COORDINATOR').makeOptionMandatory())
    .option('--json', 'print one JSON document on stdout');
}

function waitOptions(command: Command): Command {
  return command
    .addOption(new Option('--until <event>', "'closed': until the round is aggregated or failed; 'released': until the key holder released its result").choices(['closed', 'released']).default('closed'))
    .option('--interval <seconds>', 'pause between two polls', decimal('--interval'), DEFAULT_POLL_SECONDS)
    .option('--timeout <seconds>', 'give up after this long', decimal('--timeout'), DEFAULT_WAIT_SECONDS);
}

function usage(message: string): CliError {
  return new CliError('FEDVAL_ERR_CLI_USAGE', message);
}

/** `COL:c1,c2` (numeric bands) or `COL=l1,l2` (categorical levels). */
function parseStudyGroup(text: string): { column: string; cuts: number[] } | { column: string; levels: string[] } {
  const banded = /^([^:=]+):(.+)$/.exec(text);
  if (banded) {
    const cuts = banded[2]!.split(',').map((cut) => decimal('--group')(cut));
    return { column: banded[1]!, cuts };
  }
  const levelled = /^([^:=]+)=(.+)$/.exec(text);
  if (levelled) return { column: levelled[1]!, levels: levelled[2]!.split(',') };
  throw usage(`--group ${text}: a study names the levels (COL=level1,level2) or numeric cuts (COL:c1,c2); sites' data is not here to discover them`);
}

/** The body of `POST /api/studies` the options ask for. */
function studyRequest(options: StudyCreateOptions): StudyCreateRequest {
  if ((options.model === undefined) === (options.scoreColumn === undefined)) throw usage('give exactly one of --model ID and --score-column COLUMN');
  const spec = metricSpecOrUsageError(
    {
      ...options,
      label: '',
      positive: '1',
      // metricSpecFromOptions checks the scorer against the task: a model predicts probabilities (binary or multiclass tasks).
      score: options.scoreColumn,
      model: options.model,
    },
    usage,
  );
  const integer = (name: string, value: number | undefined) => {
    if (value !== undefined && !(Number.isSafeInteger(value) && value > 0)) throw usage(`${name} must be a positive integer`);
    return value;
  };
  const quorum = integer('--quorum', options.quorum);
  const deadline = integer('--deadline', options.deadline);
  const maxPatients = integer('--max-patients-per-site', options.maxPatientsPerSite);
  const minSites = integer('--min-sites', options.minSites);
  const expectedPatients = integer('--expected-patients', options.expectedPatients);
  const secaggThreshold = integer('--secagg-threshold', options.secaggThreshold);
  return {
    name: options.name,
    ...(options.model !== undefined ? { model_id: options.model } : { score_column: options.scoreColumn! }),
    metric_spec: metricSpecToInput(resolveMetricSpec({ ...spec, groups: options.group.map(parseStudyGroup) })),
    sites: options.site,
    ...(quorum !== undefined ? { quorum } : {}),
    ...(deadline !== undefined ? { deadline_seconds: deadline } : {}),
    contribution: options.plaintextContributions ? 'plaintext' : 'bfv',
    ...(options.secureAggregation === false ? { secure_aggregation: false as const } : secaggThreshold !== undefined ? { secure_aggregation: { threshold: secaggThreshold } } : {}),
    ...(minSites !== undefined ? { release: { min_sites: minSites } } : {}),
    ...(maxPatients !== undefined ? { max_patients_per_site: maxPatients } : {}),
    ...(options.dp
      ? {
          privacy: {
            epsilon: options.epsilon,
            delta: options.delta,
            expected_prevalence: options.expectedPrevalence,
            ...(expectedPatients !== undefined ? { expected_patients: expectedPatients } : {}),
            ...(options.priorities ? { priorities: prioritiesInput(options.priorities) } : {}),
          },
        }
      : {}),
  };
}

/** Polls a round until it closes (or is released), showing progress on stderr; prints it; a failed round exits 1. */
async function waitAndPrint(client: CoordinatorClient, roundId: string, options: WaitOptions): Promise<void> {
  const until = Date.now() + options.timeout * 1000;
  let last = '';
  for (;;) {
    const round = await client.getRound(roundId);
    const line = describeProgress(round);
    if (line !== last) process.stderr.write(`${line}\n`); // progress on stderr, with --json too: stdout keeps one document
    last = line;
    const closed = round.state === 'aggregated' || round.state === 'failed';
    if (round.state === 'failed' || (closed && (options.until === 'closed' || round.release === 'released'))) {
      process.stdout.write(options.json ? `${JSON.stringify(round, null, 2)}\n` : `${describeRoundWithResult(round)}\n`);
      if (round.state === 'failed') {
        const why = round.sites.filter((site) => site.code).map((site) => `${site.site_id}: ${site.code}`);
        throw new CliError('FEDVAL_ERR_CLI_ROUND_FAILED', `${round.reason ?? 'failed'}${why.length ? ` (${why.join(', ')})` : ''}`);
      }
      return;
    }
    if (Date.now() >= until) throw new CliError('FEDVAL_ERR_CLI_TIMEOUT', `round ${roundId} is still ${round.state} (release ${round.release}) after ${options.timeout} s`);
    await new Promise((resolve) => setTimeout(resolve, options.interval * 1000));
  }
}

function describeRoundWithResult(round: RoundView): string {
  const lines = [describeRound(round)];
  if (round.result) {
    const dp = round.result.privacy?.dp;
    lines.push('', `result of ${round.result.contributions} sites (${round.result.sites.join(', ')}); ${describePrivacyFigures(dp ?? null)}`, ...describeSiteBudgets(dp));
    lines.push('', formatMetricsTable(round.result.metrics));
  }
  return lines.join('\n');
}

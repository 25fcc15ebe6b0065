#!/usr/bin/env node
// main.ts — `fedval`: the sponsor's and privacy officer's command line.
import { Option } from '@fedval/command-line';
import { DEFAULT_SURVIVAL_SPEC, formatMetricsTable } from '@fedval/metrics';
import type { EvaluationCommandOptions, MetricsReport } from '@fedval/metrics';
import { collect, createProgram, packageVersion, decimal, metricSpecOrUsageError, outcomeColumnsOrUsageError, readScoreGridFile, runProgram, withEvaluationOptions } from '@fedval/command-line';
import { formatAuditEntry } from '@fedval/trust';
import { anchorsFromOptions, anchorsInDir, crossCheckAuditDirs, describeCrossCheck, describeVerification, parseSiteDir, showAuditDir, verifyAuditDir } from './audit.ts';
import { CoordinatorClient } from './coordinator-client.ts';
import { CliError } from './errors.ts';
import { parsePriorities, withPrivacyOptions } from './privacy-options.ts';
import type { PrivacyCommandOptions } from './privacy-options.ts';
import { changeRoster, decryptRound, initKeys, keyHolderIdentity } from './key-holder.ts';
import { planStudyPrivacy, planSurvivalPrivacy } from './plan.ts';
import { makeReport, parseReportFormats, REPORT_FORMATS } from './report-command.ts';
import { verifyEvidenceBundle } from './evidence-bundle.ts';
import { REPORT_READER_ROLES } from './report-document.ts';
import { addSponsorCommands } from './sponsor-commands.ts';
import { describePrivacyFigures, formatDelta, formatEpsilon } from './human-output.ts';
import { parseSiteArgument, runSimulation } from './simulate.ts';
import { stopChildrenOnSignals } from './processes.ts';
import { describeGridFit, fitGridFromFile } from './grid-fit.ts';
import type { GridFitOptions } from './grid-fit.ts';

const program = createProgram({
  name: 'fedval',
  description: 'fedval: federated, privacy-preserving evaluation of clinical prediction models',
  usageCode: 'FEDVAL_ERR_CLI_USAGE',
  version: packageVersion(new URL('../package.json', import.meta.url)),
  internalCode: 'FEDVAL_ERR_CLI_INTERNAL',
}).addOption(new Option('--token <token>', 'API token for the coordinator (prefer the environment variable: arguments are visible to other users)').env('FEDVAL_API_TOKEN'));

/** The API token of the global --token option or FEDVAL_API_TOKEN. */
function apiToken(): string | undefined {
  return (program.opts() as { token?: string }).token;
}

withPrivacyOptions(
  withEvaluationOptions(
    program
      .command('simulate')
      .description('run one evaluation round with a real coordinator and one real site agent per file, over loopback')
      .requiredOption('--site <name=file>', 'a site and its CSV or Parquet (.parquet) file, or a site configuration (.yaml) whose data section it reads (e.g. data.postgres), repeatable', collect, []),
  ),
)
  .option('--expected-patients <n>', 'DP planning assumption: patients across all sites (default: the CSV files\' data rows; required with a Parquet or .yaml site)', decimal('--expected-patients'))
  .option('--plaintext-contributions', 'test seam: sites send unencrypted statistics vectors instead of ciphertexts')
  .option('--secure-aggregation', 'the default: mask every site\'s contribution under the encryption (Bonawitz et al. double masking); accepted for older scripts')
  .option('--no-secure-aggregation', 'send unmasked encrypted contributions (the generated site policies allow it)')
  .option('--secagg-threshold <n>', 'secure aggregation: sites that must reveal shares to unmask the sum (default: the coordinator\'s)', decimal('--secagg-threshold'))
  .option('--drop-site <name>', 'secure aggregation: this site\'s agent stops after the key exchange, before sending its contribution; repeatable', collect, [])
  .option('--stall-site <name>', 'secure aggregation: this site\'s agent stays connected after the key exchange but never sends its contribution; repeatable', collect, [])
  .option('--secagg-phase-timeout <ms>', 'secure aggregation: the coordinator drops sites that have not answered a phase after this many milliseconds (default 60000)', decimal('--secagg-phase-timeout'))
  .option('--work-dir <dir>', 'keep configs, logs and databases here (default: a temporary directory, removed)')
  .option('--report <dir>', 'write the released round\'s report and evidence bundle here (as `fedval report`, made as the privacy officer)')
  .option('--report-format <list>', `formats of --report among ${REPORT_FORMATS.join(', ')}`, REPORT_FORMATS.join(','))
  .option('--timeout <seconds>', 'give up after this long', decimal('--timeout'), 600)
  .option('--verbose', 'show the coordinator and agent logs on stderr')
  .option('--json', 'print one JSON document on stdout')
  .action(async (options: SimulateOptions) => {
    const metricSpec = metricSpecOrUsageError(options, (message) => new CliError('FEDVAL_ERR_CLI_USAGE', message));
    const sites = options.site.map(parseSiteArgument);
    let lastLine = '';
    const result = await runSimulation({
      sites,
      label: outcomeColumnsOrUsageError(options, (message) => new CliError('FEDVAL_ERR_CLI_USAGE', message)),
      scorer: options.model ? { kind: 'model', dir: options.model } : { kind: 'score_column', column: options.score! },
      groups: options.group,
      metricSpec,
      workDir: options.workDir,
      contribution: options.plaintextContributions ? 'plaintext' : 'bfv',
      secureAggregation: options.secureAggregation === false ? false : { threshold: options.secaggThreshold },
      dropSites: options.dropSite,
      stallSites: options.stallSite,
      secaggPhaseTimeoutMs: options.secaggPhaseTimeout,
      noDp: !options.dp,
      epsilon: options.epsilon,
      delta: options.delta,
      expectedPrevalence: options.expectedPrevalence,
      expectedPatients: options.expectedPatients,
      minSites: options.minSites,
      priorities: options.priorities,
      report: options.report ? { out: options.report, formats: parseReportFormats(options.reportFormat) } : undefined,
      timeoutMs: options.timeout * 1000,
      onLog: options.verbose ? (line) => process.stderr.write(`${line}\n`) : undefined,
      onRound: (round) => {
        const line = `round ${round.state}: ${round.sites.map((site) => `${site.site_id}=${site.status}`).join(' ')}`;
        if (line !== lastLine) process.stderr.write(`${line}\n`);
        lastLine = line;
      },
    });
    const document = {
      metrics: result.metrics,
      round: {
        round_id: result.round.round_id,
        study_id: result.round.study_id,
        state: result.round.state,
        contributions: result.round.contributions,
        sites: result.round.sites.map((site) => ({ site_id: site.site_id, status: site.status, ...(site.code ? { code: site.code } : {}) })),
      },
      privacy: result.privacy,
      ...(result.report ? { report: result.report } : {}),
    };
    if (options.json) process.stdout.write(`${JSON.stringify(document, null, 2)}\n`);
    else {
      process.stdout.write(`fedval simulate: ${sites.length} sites, round ${result.round.round_id} ${result.round.state}\n`);
      process.stdout.write(`${describePrivacy(result.privacy)}\n\n`);
      process.stdout.write(`${formatMetricsTable(result.metrics)}\n`);
      if (result.report) process.stdout.write(`\nreport and evidence bundle written to ${result.report.out}: ${result.report.files.map((file) => file.name).join(', ')}\n`);
    }
  });

/** One line on what protected the release: encryption and differential privacy. */
function describePrivacy(privacy: { dp: Record<string, unknown> | null; encryption: Record<string, unknown> | null }): string {
  const parts: string[] = [];
  const encryption = privacy.encryption as { poly_modulus_degree?: number; security_bits?: number; ciphertext_bytes_per_site?: number } | null;
  if (encryption) parts.push(`encrypted (BFV n=${encryption.poly_modulus_degree}, ${encryption.security_bits}-bit, ${encryption.ciphertext_bytes_per_site} bytes per site)`);
  else parts.push('NOT encrypted (plaintext test seam)');
  if (privacy.dp) parts.push(`${describePrivacyFigures(privacy.dp)}; intervals include the noise`);
  else parts.push('exact release, NO differential privacy (--no-dp)');
  return parts.join('; ');
}

const grid = program.command('grid').description("sponsor: the study's score grid, fitted from development data");
grid
  .command('fit')
  .description('fit a score grid (bin edges) from development scores; use it with --score-grid in studies create, simulate and eval-local')
  .requiredOption('--scores <file>', 'CSV file with a header row: development data the sponsor holds')
  .requiredOption('--column <name>', 'column with the predicted probability of the positive class')
  .option('--bins <n>', 'bins to fit, 2 to 10000 (a quantile grid has fewer when the scores have fewer distinct values)', decimal('--bins'), 1000)
  .addOption(new Option('--method <method>', 'quantile: equal-mass bins, one per distinct score when they fit; logit: equal width in logit(score)').choices(['quantile', 'logit']).default('quantile'))
  .option('--thresholds <t,...>', 'decision thresholds kept as exact edges, e.g. 0.2,0.5')
  .requiredOption('--out <file>', 'where the grid (JSON) is written')
  .option('--json', 'print one JSON document on stdout')
  .action(async (options: GridFitOptions & { json?: boolean }) => {
    const result = await fitGridFromFile(options);
    process.stdout.write(options.json ? `${JSON.stringify({ out: options.out, ...result }, null, 2)}\n` : `${describeGridFit(result, options.out)}\n`);
  });

program
  .command('plan')
  .description('predict, before any round, the error differential privacy adds to each metric (no data needed)')
  .requiredOption('--patients <n>', 'patients with a label expected across all sites', decimal('--patients'))
  .requiredOption('--prevalence <p>', 'expected share of positives', decimal('--prevalence'))
  .requiredOption('--sites <n>', 'sites expected to contribute', decimal('--sites'))
  .option('--epsilon <e>', 'per-round ε', decimal('--epsilon'), 1)
  .option('--delta <d>', 'per-round δ', decimal('--delta'), 1e-6)
  .option('--min-sites <n>', 'noise shares are sized for this many contributions (default 3, or --sites when fewer)', decimal('--min-sites'))
  .option('--group-levels <k>', 'levels of a subgroup column released in the same round, repeatable (e.g. 2 for sex)', (value: string, previous: number[]) => [...previous, decimal('--group-levels')(value)], [] as number[])
  .option('--bins <B>', 'equal-width score histogram bins over [0, 1] (default 1000; survival 100)', decimal('--bins'))
  .option('--score-grid <file>', 'a fitted score grid (fedval grid fit) instead of --bins: the planner takes the model\'s mass between its edges')
  .option('--threshold <t>', 'decision threshold', decimal('--threshold'), 0.5)
  .option('--auc <a>', 'AUC the planner assumes for the score model (survival: the td-AUC)', decimal('--auc'), 0.75)
  .option('--priorities <list>', 'binary: what the study is for, e.g. overall_auc=3,subgroup_auc=2,calibration=1,exclusions=0.5; the planner splits ρ to minimise the weighted predicted error', parsePriorities)
  .option('--task <type>', 'binary or survival', 'binary')
  .option('--horizon <t>', 'survival: the horizon (--prevalence is then the share with the event by it)', decimal('--horizon'))
  .option('--censored <c>', 'survival: expected share censored before the horizon', decimal('--censored'), 0)
  .option('--max-time <t>', 'survival: end of the time grid (default 2 × horizon)', decimal('--max-time'))
  .option('--time-bins <n>', 'survival: time bins up to the horizon (default 200)', decimal('--time-bins'))
  .option('--after-bins <n>', 'survival: time bins from the horizon to --max-time (default: a quarter of the density)', decimal('--after-bins'))
  .option('--json', 'print one JSON document on stdout')
  .action((options: { patients: number; prevalence: number; sites: number; epsilon: number; delta: number; minSites?: number; groupLevels: number[]; bins?: number; scoreGrid?: string; threshold: number; auc: number; priorities?: ReturnType<typeof parsePriorities>; task: string; horizon?: number; censored: number; maxTime?: number; timeBins?: number; afterBins?: number; json?: boolean }) => {
    if (options.task === 'survival') {
      if (options.horizon === undefined) throw new CliError('FEDVAL_ERR_CLI_USAGE', '--task survival needs --horizon T');
      if (options.scoreGrid !== undefined) throw new CliError('FEDVAL_ERR_CLI_USAGE', '--score-grid plans a binary study; a survival plan takes --bins');
      if (options.priorities !== undefined) throw new CliError('FEDVAL_ERR_CLI_USAGE', '--priorities plans a binary study');
      const { scoreGrid: _unused, priorities: _none, ...survivalOptions } = options;
      const planned = planSurvivalPrivacy({ ...survivalOptions, bins: options.bins ?? DEFAULT_SURVIVAL_SPEC.bins, horizon: options.horizon });
      if (options.json) {
        process.stdout.write(`${JSON.stringify(planned, null, 2)}\n`);
        return;
      }
      const e = planned.predicted_median_abs_error.overall;
      const fmt = (value: number | null) => (value === null ? '—' : value.toFixed(4));
      process.stdout.write(
        `ε ${formatEpsilon(options.epsilon)}, δ ${formatDelta(options.delta)} per round, ${options.sites} sites (noise sized for ${planned.privacy.min_sites}), ${options.patients} patients, events by the horizon ${options.prevalence}, censored before it ${options.censored}\n` +
          `grid: ${planned.score_bins} score bins × ${planned.time_grid!.timeBins} + ${planned.time_grid!.afterBins} + 1 time bins × 2 = ${planned.count_cells} count cells, noise σ ${planned.count_noise_std.toFixed(2)} per cell\n\n` +
          `predicted median absolute error added by privacy: c_index ${fmt(e.c_index)}, td_auc ${fmt(e.td_auc)}\n`,
      );
      return;
    }
    if (options.task !== 'binary') throw new CliError('FEDVAL_ERR_CLI_USAGE', '--task must be binary or survival');
    const scoreGrid = options.scoreGrid === undefined ? undefined : readScoreGridFile(options.scoreGrid, (message) => new CliError('FEDVAL_ERR_CLI_USAGE', message));
    const planned = planStudyPrivacy({ ...options, scoreGrid });
    if (options.json) {
      process.stdout.write(`${JSON.stringify(planned, null, 2)}\n`);
      return;
    }
    const errors = planned.predicted_median_abs_error;
    const fmt = (value: number | null | undefined) => (value === null || value === undefined || !Number.isFinite(value) ? '—' : value.toFixed(4));
    process.stdout.write(
      `ε ${formatEpsilon(options.epsilon)}, δ ${formatDelta(options.delta)} per round, ${options.sites} sites (noise sized for ${planned.privacy.min_sites}), ${options.patients} patients, prevalence ${options.prevalence}\n` +
        `score grid: ${planned.score_grid.kind === 'fitted' ? `fitted, ${planned.score_grid.bins} bins` : `equal-width, ${planned.score_grid.bins} bins`}\n` +
        `release layout: ${JSON.stringify(planned.privacy.layout)}\n` +
        (planned.privacy.positive_layout && planned.per_class
          ? `positives' layout (coarser, chosen for the class sizes): ${JSON.stringify(planned.privacy.positive_layout)}; overall ROC AUC error by the delta method ${fmt(planned.per_class.roc_auc)} (one layout for both classes: ${fmt(planned.per_class.roc_auc_shared_layout)})\n\n`
          : '\n') +
        'predicted median absolute error added by privacy (ROC AUC as reported: after the release is made non-negative; a level: in the rounds it is released)\n' +
        'population                  n        ROC AUC  (SD)     sensitivity  specificity  released\n',
    );
    if (errors) {
      const rows = [{ name: 'overall', ...errors.overall }, ...errors.per_subgroup_level.map((p, i) => ({ name: `one level of group ${i + 1}`, ...p }))];
      for (const row of rows) {
        const released = 'release_rate' in row && row.release_rate !== undefined ? `${Math.round(100 * row.release_rate)} %` : '—';
        process.stdout.write(`${row.name.padEnd(26)}  ${String(Math.round(row.patients)).padEnd(7)}  ${fmt(row.roc_auc).padEnd(7)}  ${`(${fmt(row.roc_auc_sd)})`.padEnd(8)} ${fmt(row.sensitivity).padEnd(11)}  ${fmt(row.specificity).padEnd(11)}  ${released}\n`);
      }
    }
    const pct = (share: number) => `${(100 * share).toFixed(1)} %`;
    const w = planned.weights;
    process.stdout.write(`\nρ weights: overall ${w.overall}, each subgroup column ${w.subgroup}, each population's sums ${w.sums}, exclusions ${w.exclusions}${w.totals === undefined ? '' : `, each subgroup column's class totals ${w.totals}`}\n`);
    if (planned.split) {
      const { shares, predicted_noise_sd: sd } = planned.split;
      process.stdout.write(
        `split from --priorities (share of the round's ρ per block): overall histograms ${pct(shares.overall)}, each subgroup column ${pct(shares.subgroup)}, each population's sums ${pct(shares.sums)}, each population's exclusions ${pct(shares.exclusions)}${shares.totals === undefined ? '' : `, each subgroup column's class totals ${pct(shares.totals)}`}\n`,
      );
      if (sd) {
        process.stdout.write(
          `predicted noise SD: overall AUC ${fmt(sd.overallAuc)}, subgroup level AUC ${sd.subgroupAuc.map(fmt).join(' / ') || '—'}, observed/expected ${fmt(sd.observedExpected)} (a level: ${sd.subgroupObservedExpected.map(fmt).join(' / ') || '—'}), excluded share ${fmt(sd.excludedShare)}\n`,
        );
      }
    }
  });

const keys = program.command('keys').description('key holder: custody of a study\'s homomorphic-encryption keys');
keys
  .command('identity')
  .description("the key holder's Ed25519 signing key: created (mode 0600) if the file does not exist; prints the fingerprint sites pin in policy.key_holder_keys")
  .requiredOption('--signing-key <file>', 'signing key file, e.g. ~/fedval/key-holder.key (keep it with the key directories; never send it)')
  .option('--json', 'print one JSON document on stdout')
  .action((options: { signingKey: string; json?: boolean }) => {
    const identity = keyHolderIdentity(options.signingKey);
    const shown = { fingerprint: identity.fingerprint, public_key: identity.public_key, created: identity.created };
    if (options.json) process.stdout.write(`${JSON.stringify(shown)}\n`);
    else {
      process.stdout.write(
        `key holder signing key ${identity.created ? 'created in' : 'read from'} ${options.signingKey}\n` +
          `fingerprint ${identity.fingerprint}\npublic key ${identity.public_key}\n` +
          'give the fingerprint to each site administrator, out of band, for policy.key_holder_keys\n',
      );
    }
  });
keys
  .command('init')
  .description('create a study\'s key pair here and pin the roster of sites whose contributions may be decrypted; keep the secret key, register only the public key')
  .requiredOption('--coordinator <url>', 'coordinator base URL, e.g. http://127.0.0.1:8740')
  .requiredOption('--study <id>', 'study id')
  .requiredOption('--out <dir>', 'key directory to create (mode 0700; secret.key is 0600 and never overwritten)')
  .requiredOption('--roster <file>', 'roster the privacy officer approved out of band (YAML or JSON): sites: [{ site_id, fingerprint }], the fingerprints as `fedval sites list` shows them')
  .option('--signing-key <file>', "the key holder's Ed25519 signing key (`fedval keys identity`), which signs the study key statement sites verify; created if absent (default <out>/signing.key)")
  .option('--min-sites <n>', "the privacy officer's release minimum: a study whose release.min_sites is lower is refused (default 3)", decimal('--min-sites'))
  .option('--json', 'print one JSON document on stdout')
  .action(async (options: { coordinator: string; study: string; out: string; roster: string; signingKey?: string; minSites?: number; json?: boolean }) => {
    const made = await initKeys({ ...options, token: apiToken() });
    if (options.json) process.stdout.write(`${JSON.stringify(made)}\n`);
    else {
      process.stdout.write(
        `keys created in ${options.out}; public key (${made.public_key_bytes} bytes) registered for study ${made.study_id}\n` +
          `roster pinned (SHA-256 ${made.roster_sha256}); decryption needs at least ${Math.max(3, made.min_sites)} verified rostered sites (the study's release.min_sites ${made.min_sites}, or 3 unless \`fedval decrypt --min-sites\` says otherwise)\n` +
          `study key statement signed by key holder key ${made.key_holder_fingerprint}: sites pin it in policy.key_holder_keys\n`,
      );
    }
  });
keys
  .command('roster')
  .description('privacy officer: replace the pinned roster with a newly approved one (the only way it changes; recorded in the key holder\'s trail)')
  .requiredOption('--keys <dir>', 'key directory made by `fedval keys init`')
  .requiredOption('--roster <file>', 'the newly approved roster (YAML or JSON): sites: [{ site_id, fingerprint }]')
  .option('--signing-key <file>', 'the key holder signing key given to `fedval keys init` (default <keys>/signing.key): signs the new study key statement')
  .option('--coordinator <url>', 'where to send the new study key statement (default: the coordinator of `fedval keys init`)')
  .option('--json', 'print one JSON document on stdout')
  .action(async (options: { keys: string; roster: string; signingKey?: string; coordinator?: string; json?: boolean }) => {
    const changed = await changeRoster({ ...options, token: apiToken() });
    if (options.json) process.stdout.write(`${JSON.stringify(changed)}\n`);
    else {
      const parts = [`added: ${changed.added.join(', ') || 'none'}`, `removed: ${changed.removed.join(', ') || 'none'}`, `new key: ${changed.rekeyed.join(', ') || 'none'}`];
      process.stdout.write(`roster changed in ${options.keys} (SHA-256 ${changed.roster_sha256}); ${parts.join('; ')}\n`);
    }
  });

program
  .command('decrypt')
  .description(
    "key holder: fetch every contribution of a round, verify each signed record against the pinned roster, add the ciphertexts itself, " +
      'and decrypt that sum only when it holds at least the release minimum of distinct rostered sites; then release its metrics',
  )
  .requiredOption('--coordinator <url>', 'coordinator base URL')
  .requiredOption('--round <id>', 'round id')
  .requiredOption('--keys <dir>', 'key directory made by `fedval keys init`')
  .option('--min-sites <n>', "fewest verified rostered sites to decrypt; the study's release.min_sites applies when larger (default 3)", decimal('--min-sites'))
  .option('--no-release', 'decrypt and print, but do not publish the metrics to the coordinator')
  .option('--signing-key <file>', "the key holder's signing key that signs the release statement (default: the one `fedval keys init` used, else <keys>/signing.key)")
  .option('--signer-name <name>', "the releasing person's printed name in the signed release (21 CFR 11.50; default: the OS account name)")
  .option('--report <dir>', 'after the release, write its report and evidence bundle here (as `fedval report`, signed with the key holder\'s signing key)')
  .option('--json', 'print one JSON document on stdout')
  .action(async (options: { coordinator: string; round: string; keys: string; minSites?: number; release: boolean; signingKey?: string; signerName?: string; report?: string; json?: boolean }) => {
    const released = await decryptRound({ ...options, token: apiToken() });
    const written = options.report !== undefined && released.signed_release !== null
      ? await makeReport({ coordinator: options.coordinator, round: options.round, token: apiToken(), out: options.report, signingKey: released.signing_key, keyHolderKeys: [released.signed_release.keyHolderPublicKey], readerRole: 'privacy_officer' })
      : null;
    if (options.report !== undefined && written === null) process.stderr.write('no report: the release was not signed (see --signing-key) or not published (--no-release)\n');
    if (options.json) process.stdout.write(`${JSON.stringify(written ? { ...released, report: written } : released, null, 2)}\n`);
    else {
      const refused = released.verification.refused.map((refusal) => `${refusal.site_id} (${refusal.reason})`);
      process.stdout.write(
        `round ${released.round.round_id}: ${released.round.contributions} verified contributions from ${released.round.sites.join(', ')} ` +
          `(release minimum ${released.round.min_sites}) decrypted${released.round.released ? ' and released' : ''}` +
          `${refused.length > 0 ? `; refused: ${refused.join(', ')}` : ''}\n\n`,
      );
      process.stdout.write(`${formatMetricsTable(released.metrics)}\n`);
      if (written) process.stdout.write(`\nreport and evidence bundle written to ${written.out}: ${written.files.map((file) => file.name).join(', ')}\n`);
    }
  });

program
  .command('report')
  .description(
    "a released round's validation report (HTML, PDF, model card) and its evidence bundle (report.json, signed): the released numbers are checked " +
      "against the key holder's signed release first (privacy officer, sponsor or auditor token; a sponsor's report has no per-site number)",
  )
  .requiredOption('--coordinator <url>', 'coordinator base URL')
  .requiredOption('--round <id>', 'round id')
  .requiredOption('--signing-key <file>', "your Ed25519 signing key (`fedval keys identity`), which signs report.json; created (0600) if absent")
  .option('--out <dir>', 'output directory', 'report')
  .option('--format <list>', `comma-separated formats among ${REPORT_FORMATS.join(', ')} (report.json is always written)`, REPORT_FORMATS.join(','))
  .option('--key-holder <fingerprint>', "the key holder's signing-key fingerprint, as published out of band: the release must be signed by it, repeatable; required unless --insecure-unpinned-key-holder", collect, [])
  .option('--insecure-unpinned-key-holder', 'accept a release signed by any key when no --key-holder is given (the report says so prominently)')
  .requiredOption('--role <role>', `your token's role, one of ${REPORT_READER_ROLES.join(', ')}: all but a sponsor must be served the per-site privacy reports the key holder released`)
  .option('--json', 'print one JSON document on stdout')
  .action(async (options: { coordinator: string; round: string; signingKey: string; out: string; format: string; keyHolder: string[]; insecureUnpinnedKeyHolder?: boolean; role: string; json?: boolean }) => {
    const readerRole = REPORT_READER_ROLES.find((role) => role === options.role);
    if (readerRole === undefined) throw new CliError('FEDVAL_ERR_CLI_USAGE', `--role ${options.role}: expected one of ${REPORT_READER_ROLES.join(', ')}`);
    const written = await makeReport({ ...options, token: apiToken(), formats: parseReportFormats(options.format), keyHolderKeys: options.keyHolder, allowUnpinnedKeyHolder: options.insecureUnpinnedKeyHolder === true, readerRole });
    if (options.json) process.stdout.write(`${JSON.stringify(written)}\n`);
    else {
      process.stdout.write(`report of round ${written.round_id} written to ${written.out}: ${written.files.map((file) => `${file.name} (${file.bytes} bytes)`).join(', ')} in ${(written.timings_ms.total / 1000).toFixed(1)} s\n`);
      if (options.keyHolder.length === 0) process.stderr.write('WARNING: the key holder key was not pinned (--insecure-unpinned-key-holder): compare the fingerprint in the report with the one the key holder published\n');
    }
  });

const evidence = program.command('evidence').description('auditor: evidence bundles of released rounds');
evidence
  .command('verify')
  .description("check an evidence bundle (DIR/report.json and the files it names): the maker's and the key holder's signatures, every file's SHA-256, the released numbers against the signed release, and the audit-trail heads; exit 1 on any failure")
  .argument('<dir>', 'the bundle directory `fedval report` wrote')
  .option('--key-holder <fingerprint>', "the key holder's signing-key fingerprint: the release must be signed by it, repeatable (without it the check fails)", collect, [])
  .option('--signer <fingerprint>', "a report maker's signing-key fingerprint: report.json must be signed by one of them, repeatable (without it the check fails)", collect, [])
  .option('--trail <party=file>', 'an audit trail to find the release\'s head in: key_holder=KEYS/audit.jsonl or coordinator=DATA/audit.jsonl, repeatable', collect, [])
  .option('--json', 'print one JSON document on stdout')
  .action((dir: string, options: { keyHolder: string[]; signer: string[]; trail: string[]; json?: boolean }) => {
    const trails = options.trail.map((item) => {
      const [party, ...rest] = item.split('=');
      if ((party !== 'key_holder' && party !== 'coordinator') || rest.length === 0) throw new CliError('FEDVAL_ERR_CLI_USAGE', `--trail ${item}: expected key_holder=FILE or coordinator=FILE`);
      return { party, path: rest.join('=') } as const;
    });
    const verification = verifyEvidenceBundle(dir, { keyHolderKeys: options.keyHolder, signerKeys: options.signer, trails });
    if (options.json) process.stdout.write(`${JSON.stringify(verification, null, 2)}\n`);
    else {
      for (const check of verification.checks) process.stdout.write(`${check.ok ? 'ok  ' : 'FAIL'} ${check.check}: ${check.detail}\n`);
      process.stdout.write(verification.ok ? `evidence bundle of round ${verification.round_id} verifies\n` : 'the evidence bundle does NOT verify\n');
    }
    if (!verification.ok) process.exitCode = 1;
  });

const sites = program.command('sites').description("the coordinator's sites: enrollment tokens (admin), the list with key fingerprints");
sites
  .command('enrollment-token')
  .description('issue a one-time enrollment token for a configured site (admin API token); hand it to the site IT team, who run `fedval-agent enroll`')
  .requiredOption('--coordinator <url>', 'coordinator base URL, e.g. https://coordinator.example.org:8740')
  .requiredOption('--site <id>', 'site id, as configured in the coordinator\'s sites[]')
  .option('--json', 'print one JSON document on stdout')
  .action(async (options: { coordinator: string; site: string; json?: boolean }) => {
    const issued = await new CoordinatorClient(options.coordinator, apiToken()).issueEnrollmentToken(options.site);
    if (options.json) process.stdout.write(`${JSON.stringify(issued)}\n`);
    else {
      process.stdout.write(
        `enrollment token for ${issued.site_id} (one use, expires ${issued.expires_at}; shown once, not stored by the coordinator):\n${issued.enrollment_token}\n`,
      );
    }
  });

addSponsorCommands(program, sites, apiToken);

const audit = program.command('audit').description('auditor: verify audit trails offline, from their files alone');
audit
  .command('verify')
  .description('verify DIR/audit.jsonl (a coordinator or agent data directory): exit 0 when intact, 1 naming the first broken entry')
  .requiredOption('--dir <dir>', 'data directory holding audit.jsonl')
  .option('--anchor <seq:hash>', 'a head of this trail another party kept (see audit anchors): it must still be in the trail, repeatable', collect, [])
  .option('--anchors <file>', 'heads in a JSON file, as `fedval audit anchors --json` or `fedval-agent audit anchors --json` print them')
  .option('--json', 'print one JSON document on stdout')
  .action((options: { dir: string; anchor: string[]; anchors?: string; json?: boolean }) => {
    const anchors = anchorsFromOptions(options);
    const report = { ...verifyAuditDir(options.dir, anchors), anchors: anchors.length };
    process.stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : `${describeVerification(report)}${anchors.length > 0 ? ` (checked against ${anchors.length} anchor${anchors.length === 1 ? '' : 's'})` : ''}\n`);
    if (!report.verification.ok) process.exitCode = 1;
  });
audit
  .command('anchors')
  .description("the heads of another party's trail kept in DIR/audit.jsonl: a coordinator's data directory keeps each site's and the key holder's, a key directory the coordinator's")
  .requiredOption('--dir <dir>', 'directory holding audit.jsonl (coordinator data directory or key directory)')
  .requiredOption('--party <party>', 'whose heads: coordinator, key-holder or site:ID')
  .option('--json', 'print one JSON document on stdout (the form --anchors reads)')
  .action((options: { dir: string; party: string; json?: boolean }) => {
    const report = anchorsInDir(options.dir, options.party);
    if (options.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    else for (const anchor of report.anchors) process.stdout.write(`${anchor.seq}:${anchor.hash}\n`);
    if (report.conflicts.length > 0) process.stderr.write(`${options.party} showed two different heads for seq ${report.conflicts.join(', ')}: two histories\n`);
    if (!report.verification.ok) process.stderr.write(`${describeVerification(report)}: heads read up to the break\n`);
    if (report.conflicts.length > 0 || !report.verification.ok) process.exitCode = 1;
  });
audit
  .command('show')
  .description('print DIR/audit.jsonl one entry per line, verified as it is read (coordinator or agent data directory, key directory): exit 1 when it breaks')
  .requiredOption('--dir <dir>', 'directory holding audit.jsonl')
  .option('--round <id>', "only this round's entries")
  .option('--json', 'print one JSON document on stdout')
  .action((options: { dir: string; round?: string; json?: boolean }) => {
    const report = showAuditDir(options.dir, options.round);
    if (options.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    else {
      for (const entry of report.entries) process.stdout.write(`${formatAuditEntry(entry)}\n`);
      process.stderr.write(`${describeVerification(report)}\n`);
    }
    if (!report.verification.ok) process.exitCode = 1;
  });
audit
  .command('cross-check')
  .description("check each trail against the heads of it the others kept (a trail cut short or rewound fails), then compare, for one round, what each site logged as sent with what the coordinator logged as received: exit 0 when all hold and agree")
  .requiredOption('--coordinator-dir <dir>', "the coordinator's data directory")
  .option('--site <site=dir>', "a site id and its agent's data directory, repeatable", collect, [])
  .option('--key-dir <dir>', "the key holder's key directory (its audit.jsonl)")
  .option('--round <id>', 'round id to compare (without it only the trails are checked)')
  .option('--json', 'print one JSON document on stdout')
  .action((options: { coordinatorDir: string; site: string[]; keyDir?: string; round?: string; json?: boolean }) => {
    const report = crossCheckAuditDirs({ coordinatorDir: options.coordinatorDir, sites: options.site.map(parseSiteDir), keyDir: options.keyDir, round: options.round });
    process.stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : `${describeCrossCheck(report).join('\n')}\n`);
    const trailsHold = report.logs.every((log) => log.verification.ok && log.conflicts.length === 0);
    if (!trailsHold || (report.round !== null && (report.discrepancies === null || report.discrepancies.length > 0))) process.exitCode = 1;
  });

interface SimulateOptions extends EvaluationCommandOptions, PrivacyCommandOptions {
  site: string[];
  expectedPatients?: number;
  plaintextContributions?: boolean;
  secureAggregation?: boolean;
  secaggThreshold?: number;
  dropSite: string[];
  stallSite: string[];
  secaggPhaseTimeout?: number;
  workDir?: string;
  report?: string;
  reportFormat: string;
  timeout: number;
  verbose?: boolean;
  json?: boolean;
}

stopChildrenOnSignals();
await runProgram(program);

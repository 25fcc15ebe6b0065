// privacy-options.ts — the differential-privacy options of `fedval simulate` and `fedval studies create`, declared once.
import type { Command } from '@fedval/command-line';
import { decimal } from '@fedval/command-line';
import type { ReleasePriorities } from '@fedval/dp';
import { CliError } from './errors.ts';

/** The parsed values of withPrivacyOptions (camel-cased as commander names them). */
export interface PrivacyCommandOptions {
  /** false with --no-dp. */
  dp: boolean;
  epsilon: number;
  delta: number;
  expectedPrevalence: number;
  minSites?: number | undefined;
  /** --priorities: what the study is for (privacy.priorities); absent: the release's default weights. */
  priorities?: Partial<ReleasePriorities> | undefined;
}

const PRIORITY_NAMES: Readonly<Record<string, keyof ReleasePriorities>> = Object.freeze({
  overall_auc: 'overallAuc',
  subgroup_auc: 'subgroupAuc',
  calibration: 'calibration',
  exclusions: 'exclusions',
});

/** `overall_auc=3,subgroup_auc=2,calibration=1,exclusions=0.5` as priorities; unknown names or values below 0 are a usage error. */
export function parsePriorities(text: string): Partial<ReleasePriorities> {
  const out: Partial<ReleasePriorities> = {};
  for (const pair of text.split(',')) {
    const [name, value] = pair.split('=');
    const key = PRIORITY_NAMES[(name ?? '').trim()];
    const number = Number(value);
    if (key === undefined || value === undefined || value.trim() === '' || !Number.isFinite(number) || number < 0) {
      throw new CliError('FEDVAL_ERR_CLI_USAGE', `--priorities takes name=value pairs with names ${Object.keys(PRIORITY_NAMES).join(', ')} and values ≥ 0`);
    }
    out[key] = number;
  }
  return out;
}

/** Priorities in the REST/YAML spelling of `privacy.priorities` (snake_case). */
export function prioritiesInput(priorities: Partial<ReleasePriorities>): Record<string, number> {
  return Object.fromEntries(Object.entries(PRIORITY_NAMES).flatMap(([name, key]) => (priorities[key] === undefined ? [] : [[name, priorities[key]]])));
}

/** Adds --no-dp, --epsilon, --delta, --expected-prevalence, --min-sites and --priorities to `command`. */
export function withPrivacyOptions(command: Command): Command {
  return command
    .option('--no-dp', 'release the exact aggregate, without differential-privacy noise (validation only)')
    .option('--epsilon <e>', 'per-round ε of the differential-privacy release', decimal('--epsilon'), 1)
    .option('--delta <d>', 'per-round δ', decimal('--delta'), 1e-6)
    .option('--expected-prevalence <p>', 'public planning assumption for the release layout', decimal('--expected-prevalence'), 0.3)
    .option('--min-sites <n>', 'release policy: fewest contributions the key holder decrypts (default 3, or the number of sites when fewer)', decimal('--min-sites'))
    .option('--priorities <list>', 'what the study is for, e.g. overall_auc=3,subgroup_auc=2,calibration=1,exclusions=0.5: the planner splits ρ to minimise the weighted predicted error (default: fixed weights)', parsePriorities);
}

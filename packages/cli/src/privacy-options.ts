// privacy-options.ts — the differential-privacy options of `fedval simulate` and `fedval studies create`, declared once.
import type { Command } from '@fedval/command-line';
import { decimal } from '@fedval/command-line';

/** The parsed values of withPrivacyOptions (camel-cased as commander names them). */
export interface PrivacyCommandOptions {
  /** false with --no-dp. */
  dp: boolean;
  epsilon: number;
  delta: number;
  expectedPrevalence: number;
  minSites?: number | undefined;
}

/** Adds --no-dp, --epsilon, --delta, --expected-prevalence and --min-sites to `command`. */
export function withPrivacyOptions(command: Command): Command {
  return command
    .option('--no-dp', 'release the exact aggregate, without differential-privacy noise (validation only)')
    .option('--epsilon <e>', 'per-round ε of the differential-privacy release', decimal('--epsilon'), 1)
    .option('--delta <d>', 'per-round δ', decimal('--delta'), 1e-6)
    .option('--expected-prevalence <p>', 'public planning assumption for the release layout', decimal('--expected-prevalence'), 0.3)
    .option('--min-sites <n>', 'release policy: fewest contributions the key holder decrypts (default 3, or the number of sites when fewer)', decimal('--min-sites'));
}

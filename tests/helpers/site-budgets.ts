// site-budgets.ts — after a simulate run, which sites' own ledgers charged a failed round and refunded it.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { runJson } from './run-cli.ts';

interface SiteBudget {
  spent: { epsilon: number };
  rounds: { refund: { reason: string } | null }[];
}

/**
 * Reads each site's own ledger under `workDir/sites/*` with its own `fedval-agent budget` process (side by side) and
 * returns, in site order, the sites that were charged for the one round and refunded it when it closed unreleased.
 * Asserts that no site is left with ε spent and that a charged site has exactly that one refunded round.
 */
export async function sitesChargedThenRefunded(workDir: string): Promise<string[]> {
  const siteNames = readdirSync(join(workDir, 'sites')).sort();
  const budgets = await Promise.all(siteNames.map((site) => runJson<SiteBudget>('fedval-agent', ['budget', '--config', join(workDir, 'sites', site, 'site.yaml')])));
  const charged: string[] = [];
  for (const [i, site] of siteNames.entries()) {
    const budget = budgets[i]!;
    expect(budget.spent.epsilon).toBe(0);
    if (budget.rounds.length > 0) {
      charged.push(site);
      expect(budget.rounds).toHaveLength(1);
      expect(budget.rounds[0]!.refund?.reason).toMatch(/round closed/);
    }
  }
  return charged;
}

// Privacy ledger decisions: lifetime and per-round caps, per-dataset isolation, and (ε, δ) display.
import { describe, expect, it } from 'vitest';
import { epsilonFromRho, rhoFromEpsilon } from './accountant.ts';
import type { LedgerEntry, PrivacyBudget } from './ledger.ts';
import { assertChargeAllowed, budgetFromEpsilon, budgetStatus, decideCharge } from './ledger.ts';

const budget: PrivacyBudget = { totalRho: 0.1, perRoundRho: 0.03, delta: 1e-6 };

describe('decideCharge', () => {
  it('allows a charge that fits and reports the budget before and after', () => {
    const entries: LedgerEntry[] = [{ datasetId: 'a', roundId: 'r1', rho: 0.025 }];
    const decision = decideCharge(budget, entries, { datasetId: 'a', roundId: 'r2', rho: 0.02 });
    expect(decision.allowed).toBe(true);
    if (!decision.allowed) return;
    expect(decision.before.spentRho).toBeCloseTo(0.025, 15);
    expect(decision.after.spentRho).toBeCloseTo(0.045, 15);
    expect(decision.after.remainingRho).toBeCloseTo(0.055, 15);
    expect(decision.after.spentEpsilon).toBe(epsilonFromRho(decision.after.spentRho, 1e-6));
    expect(decision.after.totalEpsilon).toBe(epsilonFromRho(0.1, 1e-6));
  });

  it('refuses past the lifetime budget with FEDVAL_ERR_DP_BUDGET_EXCEEDED', () => {
    const entries: LedgerEntry[] = [0.03, 0.03, 0.03].map((rho, i) => ({ datasetId: 'a', roundId: `r${i}`, rho }));
    const decision = decideCharge(budget, entries, { datasetId: 'a', roundId: 'r9', rho: 0.0101 });
    expect(decision).toMatchObject({ allowed: false, code: 'FEDVAL_ERR_DP_BUDGET_EXCEEDED' });
    expect(decideCharge(budget, entries, { datasetId: 'a', roundId: 'r9', rho: 0.01 }).allowed).toBe(true);
  });

  it('refuses past the per-round cap, counting earlier charges of the same round', () => {
    const entries: LedgerEntry[] = [{ datasetId: 'a', roundId: 'r1', rho: 0.02 }];
    expect(decideCharge(budget, entries, { datasetId: 'a', roundId: 'r1', rho: 0.011 })).toMatchObject({
      allowed: false,
      code: 'FEDVAL_ERR_DP_ROUND_BUDGET_EXCEEDED',
    });
    expect(decideCharge(budget, entries, { datasetId: 'a', roundId: 'r2', rho: 0.011 }).allowed).toBe(true);
  });

  it('keeps datasets apart', () => {
    const entries: LedgerEntry[] = [0.03, 0.03, 0.03].map((rho, i) => ({ datasetId: 'other', roundId: `r${i}`, rho }));
    expect(decideCharge(budget, entries, { datasetId: 'a', roundId: 'r1', rho: 0.03 }).allowed).toBe(true);
    expect(budgetStatus(budget, entries, 'a').spentRho).toBe(0);
    expect(budgetStatus(budget, entries, 'other').spentRho).toBeCloseTo(0.09, 15);
  });

  it('accepts charges that fit exactly despite float rounding (ten charges of 0.01 fill 0.1)', () => {
    const entries: LedgerEntry[] = Array.from({ length: 9 }, (_, i) => ({ datasetId: 'a', roundId: `r${i}`, rho: 0.01 }));
    expect(decideCharge({ totalRho: 0.1, delta: 1e-6 }, entries, { datasetId: 'a', roundId: 'r9', rho: 0.01 }).allowed).toBe(true);
  });

  it('throws the refusal as a DpError from assertChargeAllowed', () => {
    expect(() => assertChargeAllowed(budget, [], { datasetId: 'a', roundId: 'r', rho: 0.05 })).toThrow(
      expect.objectContaining({ code: 'FEDVAL_ERR_DP_ROUND_BUDGET_EXCEEDED', name: 'DpError' }),
    );
    expect(assertChargeAllowed(budget, [], { datasetId: 'a', roundId: 'r', rho: 0.01 }).spentRho).toBe(0.01);
  });

  it('refuses invalid budgets and requests', () => {
    expect(() => decideCharge({ totalRho: 0, delta: 1e-6 }, [], { datasetId: 'a', roundId: 'r', rho: 0.1 })).toThrow(
      expect.objectContaining({ code: 'FEDVAL_ERR_DP_INVALID_BUDGET' }),
    );
    expect(() => decideCharge({ totalRho: 1, perRoundRho: 2, delta: 1e-6 }, [], { datasetId: 'a', roundId: 'r', rho: 0.1 })).toThrow(
      expect.objectContaining({ code: 'FEDVAL_ERR_DP_INVALID_BUDGET' }),
    );
    expect(() => decideCharge(budget, [], { datasetId: 'a', roundId: 'r', rho: Number.NaN })).toThrow(
      expect.objectContaining({ code: 'FEDVAL_ERR_DP_INVALID_ARGUMENT' }),
    );
  });
});

describe('budgetFromEpsilon', () => {
  it('converts (ε, δ) budgets to the largest ρ that displays within ε', () => {
    const converted = budgetFromEpsilon({ totalEpsilon: 4, perRoundEpsilon: 1, delta: 1e-6 });
    expect(converted.totalRho).toBe(rhoFromEpsilon(4, 1e-6));
    expect(converted.perRoundRho).toBe(rhoFromEpsilon(1, 1e-6));
    expect(epsilonFromRho(converted.totalRho, 1e-6)).toBeLessThanOrEqual(4);
    expect(() => budgetFromEpsilon({ totalEpsilon: 1, perRoundEpsilon: 2, delta: 1e-6 })).toThrow(
      expect.objectContaining({ code: 'FEDVAL_ERR_DP_INVALID_BUDGET' }),
    );
  });

  it('lets four rounds at ε = 1 fit a lifetime ε of 2.5 at δ = 1e-6 (zCDP composes better than adding ε)', () => {
    const lifetime = budgetFromEpsilon({ totalEpsilon: 2.5, perRoundEpsilon: 1, delta: 1e-6 });
    const round = lifetime.perRoundRho!;
    const entries: LedgerEntry[] = [0, 1, 2].map((i) => ({ datasetId: 'a', roundId: `r${i}`, rho: round }));
    expect(decideCharge(lifetime, entries, { datasetId: 'a', roundId: 'r3', rho: round }).allowed).toBe(true);
    expect(epsilonFromRho(4 * round, 1e-6)).toBeLessThanOrEqual(2.5);
  });
});

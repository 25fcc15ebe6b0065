// references.ts — loads references.json, the independent values written by make-references.py (scipy, mpmath).
import { readFileSync } from 'node:fs';

export interface References {
  chiSquareSurvival: { statistic: number; dof: number; sf: number }[];
  conversions: { rho: number; delta: number; epsilonIntegerOrders: number; epsilonRealOrders: number; epsilonBunSteinke: number }[];
  deltaFromRho: { rho: number; epsilon: number; deltaIntegerOrders: number }[];
  rhoFromEpsilon: { epsilon: number; delta: number; rho: number }[];
  skellamPmf: { lambda: number; lo: number; hi: number; pmf: number[] }[];
  skellamRenyi: { variance: number; shift: number; alpha: number; divergence: number }[];
  normal: { x: number; cdf: number }[];
  normalQuantile: { p: number; x: number }[];
  /** The planner on a fitted grid: bin masses by numerical integration, expected-histogram AUCs and the AUC's gradient norm. */
  fittedGridPlanner: {
    prevalence: number;
    auc: number;
    patients: number;
    edges: number[];
    coarseEdges: number[];
    positiveMass: number[];
    negativeMass: number[];
    fineAuc: number;
    coarseAuc: number;
    bias: number;
    stdPerNoiseStd: number;
  }[];
  /** Score edges at which the model's pooled distribution reaches the cumulative shares (brentq on scipy's ndtr). */
  shareEdges: { prevalence: number; auc: number; shares: number[]; edges: number[] }[];
}

export const references: References = JSON.parse(readFileSync(new URL('./references.json', import.meta.url), 'utf8')) as References;

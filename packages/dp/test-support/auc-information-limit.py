"""auc-information-limit.py — issue 18: the smallest AUC error a histogram release can reach at one round's whole ρ.

The README's argument for why the 2 % prevalence goals at ε = 1 are an information limit. Equal-variance binormal scores
(negatives N(0, 1), positives N(d, 1), AUC = Φ(d/√2) = 0.80; Hanley & McNeil 1982), n₊ positives. The positives'
histogram on k bins with cut points c₁ < … < c_{k−1} (on the latent scale: any monotone score scale gives the same bins)
is released flat with the round's WHOLE ρ — a patient is in one bin, so Δ₂ = 1 and every bin gets Gaussian noise of
σ = √(1/(2ρ)) (Bun & Steinke 2016, Prop. 1.6) — and the negatives are taken as exact (free): an optimistic bound for any
layout fedval releases. The Mann–Whitney AUC of the binned data is Σᵢ Pᵢ wᵢ / n₊ with wᵢ = (Φ(c_{i−1}) + Φ(cᵢ))/2 (ties
counted one half); its noise SD is σ·√(Σᵢ (wᵢ − AUC_k)²)/n₊ (the delta method; linear in the counts but for the total)
and its coarsening bias AUC_k − AUC. Printed per k: the smallest root-mean-square error √(bias² + SD²) over the cut
points (Nelder–Mead from several starts), and the best over k. Run: python3 auc-information-limit.py [rho] [positives].
"""
import sys

import numpy as np
from scipy.optimize import minimize
from scipy.stats import norm

rho = float(sys.argv[1]) if len(sys.argv) > 1 else 0.024355957194213837  # rhoFromEpsilon(1, 1e-6) of @fedval/dp
positives = float(sys.argv[2]) if len(sys.argv) > 2 else 390
sigma = np.sqrt(1 / (2 * rho))
d = np.sqrt(2) * norm.ppf(0.8)


def bias_and_sd(cuts):
    edges = np.concatenate([[-np.inf], np.sort(cuts), [np.inf]])
    p = np.diff(norm.cdf(edges - d))
    below = norm.cdf(edges)
    w = (below[:-1] + below[1:]) / 2
    auc = float((p * w).sum())
    return auc - 0.8, sigma * np.sqrt(((w - auc) ** 2).sum()) / positives


best = None
for k in range(2, 17):
    rng = np.random.default_rng(k)
    found = None
    for _ in range(6):
        start = np.sort(rng.uniform(-2.5, 3.5, k - 1))
        fit = minimize(lambda c: sum(x * x for x in bias_and_sd(c)), start, method='Nelder-Mead', options={'maxiter': 20000, 'xatol': 1e-7, 'fatol': 1e-14})
        if found is None or fit.fun < found.fun:
            found = fit
    bias, sd = bias_and_sd(found.x)
    print(f'k={k:2d}  bias {bias:+.4f}  noise SD {sd:.4f}  RMSE {np.sqrt(found.fun):.4f}')
    if best is None or found.fun < best[0]:
        best = (found.fun, k)
print(f'rho {rho:.6f}: sigma {sigma:.3f}, sigma/n+ {sigma / positives:.4f}; smallest RMSE {np.sqrt(best[0]):.4f} (k = {best[1]})')

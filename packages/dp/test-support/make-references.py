#!/usr/bin/env python3
"""Independent reference values for the @fedval/dp tests, written to references.json next to this file.

Run with a Python that has scipy and mpmath (Debian: python3-scipy, python3-mpmath):
    /usr/bin/python3 packages/dp/test-support/make-references.py
Nothing here imports fedval code: every value comes from scipy, mpmath or a direct transcription of
the paper's formula, evaluated by brute force.
"""
import json
import math
import os

import mpmath
import numpy as np
from scipy import integrate, optimize, special, stats

mpmath.mp.dps = 50
out = {"generator": "packages/dp/test-support/make-references.py", "scipy": __import__("scipy").__version__, "mpmath": mpmath.__version__}

# 1. Chi-square survival function (scipy.stats.chi2.sf), to check the test helper's incomplete gamma.
chi2 = []
for dof in [1, 2, 5, 20, 57, 300, 1500]:
    for p in [0.5, 1e-2, 1e-4, 1e-8]:
        x = float(stats.chi2.isf(p, dof))
        chi2.append({"statistic": x, "dof": dof, "sf": float(stats.chi2.sf(x, dof))})
    for x in [0.5 * dof, 2.0 * dof]:
        chi2.append({"statistic": float(x), "dof": dof, "sf": float(stats.chi2.sf(x, dof))})
out["chiSquareSurvival"] = chi2

# 2. rho -> (eps, delta) of Canonne, Kamath & Steinke (2020), Corollary 13:
#    delta(alpha) = exp((alpha-1)(alpha*rho - eps)) / (alpha-1) * (1 - 1/alpha)^alpha,
#    eps(alpha)   = alpha*rho + (ln(1/delta) + alpha*ln(1-1/alpha) - ln(alpha-1)) / (alpha-1).
def eps_at(alpha, rho, delta):
    return alpha * rho + (math.log(1 / delta) + alpha * math.log1p(-1 / alpha) - math.log(alpha - 1)) / (alpha - 1)

def eps_integer(rho, delta):
    alphas = np.arange(2, 2_000_001, dtype=np.float64)
    vals = alphas * rho + (math.log(1 / delta) + alphas * np.log1p(-1 / alphas) - np.log(alphas - 1)) / (alphas - 1)
    return float(vals.min())

def eps_real(rho, delta):
    res = optimize.minimize_scalar(lambda a: eps_at(a, rho, delta), bounds=(1 + 1e-9, 1e7), method="bounded", options={"xatol": 1e-10})
    return float(res.fun)

def delta_integer(rho, eps):
    alphas = np.arange(2, 2_000_001, dtype=np.float64)
    logd = (alphas - 1) * (alphas * rho - eps) + alphas * np.log1p(-1 / alphas) - np.log(alphas - 1)
    return float(min(1.0, math.exp(logd.min())))

conversions = []
for rho in [0.001, 0.0125, 0.02435, 0.1, 0.5, 2.0]:
    for delta in [1e-5, 1e-6, 1e-9]:
        conversions.append({
            "rho": rho, "delta": delta,
            "epsilonIntegerOrders": eps_integer(rho, delta),
            "epsilonRealOrders": eps_real(rho, delta),
            "epsilonBunSteinke": rho + 2 * math.sqrt(rho * math.log(1 / delta)),
        })
out["conversions"] = conversions

deltas = []
for rho in [0.01, 0.02435, 0.5]:
    for eps in [0.5, 1.0, 3.0]:
        deltas.append({"rho": rho, "epsilon": eps, "deltaIntegerOrders": delta_integer(rho, eps)})
out["deltaFromRho"] = deltas

inverse = []
for eps, delta in [(1.0, 1e-6), (0.5, 1e-5), (4.0, 1e-9), (0.1, 1e-6)]:
    lo, hi = 0.0, eps
    for _ in range(200):
        mid = (lo + hi) / 2
        if eps_integer(mid, delta) <= eps:
            lo = mid
        else:
            hi = mid
    inverse.append({"epsilon": eps, "delta": delta, "rho": lo})
out["rhoFromEpsilon"] = inverse

# 3. Skellam pmf (scipy.stats.skellam) of the SUM of shares: Sk(lambda_total, lambda_total).
def skellam_table(lam_total, lo, hi):
    ks = list(range(lo, hi + 1))
    return {"lambda": lam_total, "lo": lo, "hi": hi, "pmf": [float(stats.skellam.pmf(k, lam_total, lam_total)) for k in ks]}

out["skellamPmf"] = [skellam_table(7.0, -60, 60), skellam_table(50.0, -150, 150), skellam_table(1.0 / 3.0, -20, 20)]

# 4. Renyi divergence D_alpha(Sk + shift || Sk) of the symmetric Skellam with variance mu
#    (each Poisson mu/2), pmf e^{-mu} I_|k|(mu), summed in 50-digit arithmetic.
def skellam_renyi(mu, shift, alpha):
    lam = mpmath.mpf(mu) / 2
    span = int(40 * math.sqrt(mu) + 60 + abs(shift))
    def pmf(k):
        return mpmath.exp(-2 * lam) * mpmath.besseli(abs(k), 2 * lam)
    total = mpmath.mpf(0)
    for k in range(-span, span + 1):
        p = pmf(k - shift)
        q = pmf(k)
        total += p ** alpha * q ** (1 - alpha)
    return float(mpmath.log(total) / (alpha - 1))

renyi = []
for mu, shift in [(20.0, 1), (200.0, 1), (200.0, 3), (5.0, 2)]:
    for alpha in [2, 5, 20]:
        renyi.append({"variance": mu, "shift": shift, "alpha": alpha, "divergence": skellam_renyi(mu, shift, alpha)})
out["skellamRenyi"] = renyi

# 5. Standard normal CDF and quantile (scipy.special.ndtr / ndtri) for the planner's model.
out["normal"] = [{"x": x, "cdf": float(special.ndtr(x))} for x in [-8.0, -5.5, -3.0, -1.0, -0.2, 0.0, 0.7, 2.5, 6.0, 7.5]]
out["normalQuantile"] = [{"p": p, "x": float(special.ndtri(p))} for p in [1e-10, 1e-4, 0.02, 0.3, 0.5, 0.75, 0.975, 0.9999]]

# 6. The planner on a fitted (uneven) score grid. The binormal model's mass in each fine bin [e_k, e_{k+1}) by numerical
#    integration of the score density (scipy.integrate.quad), not by the CDF difference the planner uses: with latent
#    S ~ N(mu, 1) (mu = d for positives, 0 for negatives, d = sqrt(2) * ndtri(AUC)) and score
#    p = logistic(logit(pi) + d*S - d^2/2), the density of p is phi(s(p) - mu) / (d * p * (1 - p)),
#    s(p) = (logit(p) - logit(pi) + d^2/2) / d. Then, at n patients, the Mann-Whitney AUC (ties 1/2) of the expected
#    fine and coarse histograms (coarse bins: unions of fine bins), their difference (the coarsening bias), and the
#    AUC's gradient in the coarse counts by central differences (the delta method's g; std / sigma = |g| for a flat
#    release with noise sigma per count).
def fitted_grid_case(prevalence, auc, edges, coarse, patients):
    d = math.sqrt(2) * float(special.ndtri(auc))
    logit_pi = math.log(prevalence / (1 - prevalence))
    def density(p, mu):
        s = (math.log(p / (1 - p)) - logit_pi + d * d / 2) / d
        return math.exp(-0.5 * (s - mu) ** 2) / math.sqrt(2 * math.pi) / (d * p * (1 - p))
    def masses(mu):
        return [integrate.quad(density, a, b, args=(mu,), epsabs=1e-15, epsrel=1e-13, limit=200)[0] for a, b in zip(edges[:-1], edges[1:])]
    positive, negative = masses(d), masses(0.0)
    def mann_whitney(pos, neg):
        below, total = 0.0, 0.0
        for p, n in zip(pos, neg):
            total += p * (below + n / 2)
            below += n
        return total / (sum(pos) * sum(neg))
    P = [patients * prevalence * m for m in positive]
    N = [patients * (1 - prevalence) * m for m in negative]
    coarse_of = lambda h: [sum(h[a:b]) for a, b in zip(coarse[:-1], coarse[1:])]
    CP, CN = coarse_of(P), coarse_of(N)
    def gradient(h, other, positive_side):
        g = []
        for i in range(len(h)):
            step = 1e-4 * max(1.0, h[i])
            up, down = list(h), list(h)
            up[i] += step
            down[i] -= step
            f = (lambda x: mann_whitney(x, other)) if positive_side else (lambda x: mann_whitney(other, x))
            g.append((f(up) - f(down)) / (2 * step))
        return g
    g = gradient(CP, CN, True) + gradient(CN, CP, False)
    return {
        "prevalence": prevalence, "auc": auc, "patients": patients, "edges": edges, "coarseEdges": coarse,
        "positiveMass": positive, "negativeMass": negative,
        "fineAuc": mann_whitney(P, N), "coarseAuc": mann_whitney(CP, CN),
        "bias": mann_whitney(CP, CN) - mann_whitney(P, N),
        "stdPerNoiseStd": math.sqrt(sum(x * x for x in g)),
    }

out["fittedGridPlanner"] = [
    # A grid as a quantile fit on a calibrated risk score at 10 % prevalence puts it: narrow bins at low scores.
    fitted_grid_case(0.1, 0.75, [0, 0.02, 0.04, 0.06, 0.08, 0.1, 0.13, 0.17, 0.22, 0.3, 0.45, 0.7, 1], [0, 3, 6, 9, 12], 2000),
    fitted_grid_case(0.3, 0.85, [0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.75, 0.9, 0.97, 1], [0, 3, 6, 9, 12], 5000),
]

# 7. Score edges implied by shares of a fine grid (a quantile grid): the pooled latent distribution
#    pi * N(d, 1) + (1 - pi) * N(0, 1) reaches each cumulative share at x_k (scipy.optimize.brentq on scipy's ndtr), and
#    the edge is the calibrated score there, logistic(logit(pi) + d * x_k - d^2 / 2).
def share_edges(prevalence, auc, shares):
    d = math.sqrt(2) * float(special.ndtri(auc))
    total = float(sum(shares))
    edges, cumulative = [0.0], 0.0
    for share in shares[:-1]:
        cumulative += share / total
        x = optimize.brentq(lambda x: prevalence * special.ndtr(x - d) + (1 - prevalence) * special.ndtr(x) - cumulative, -40, 40, xtol=1e-14, rtol=1e-15)
        edges.append(1 / (1 + math.exp(-(math.log(prevalence / (1 - prevalence)) - d * d / 2 + d * x))))
    return {"prevalence": prevalence, "auc": auc, "shares": shares, "edges": edges + [1.0]}

out["shareEdges"] = [share_edges(0.35, 0.7, [1] * 10), share_edges(0.1, 0.75, [3, 1, 1, 2, 5, 1, 1, 0.5, 0.25, 0.25])]

here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "references.json"), "w") as f:
    json.dump(out, f, indent=1)
    f.write("\n")
print("wrote", os.path.join(here, "references.json"))

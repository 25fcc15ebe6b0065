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
from scipy import optimize, special, stats

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

here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "references.json"), "w") as f:
    json.dump(out, f, indent=1)
    f.write("\n")
print("wrote", os.path.join(here, "references.json"))

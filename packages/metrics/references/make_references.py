#!/usr/bin/python3
"""Reference values for @fedval/metrics, computed independently with scikit-learn, numpy and scipy.

Run:  /usr/bin/python3 packages/metrics/references/make_references.py [OUTPUT_DIR]
(default OUTPUT_DIR: this script's directory). Then run make_r_references.R on the same directory.
check.sh regenerates everything into a temporary directory and compares with the committed files.

Inputs are real data committed in the repository (examples/rotterdam/data, unchanged copies of the
project's public data sets; provenance in examples/rotterdam/data/PROVENANCE.md), with fixed score formulas written below, plus small generated edge cases.
Every score that a test feeds to the TypeScript code is written to a CSV here with full precision
(Python repr round-trips doubles exactly), so both sides see bit-identical inputs.

Conventions this script encodes (the TypeScript code must agree; they are documented in the README):
- predicted positive means score >= threshold;
- a ratio with a zero denominator is null (scikit-learn would warn and return 0);
- reliability bin j holds scores in [j/C, (j+1)/C), the last bin also holds 1;
- Hosmer-Lemeshow over the non-empty reliability bins with E(1 - E/n) > 0, df = groups - 2.
"""
import csv
import json
import math
import os
import sys

import numpy as np
import scipy
import sklearn
from scipy import stats
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    balanced_accuracy_score,
    brier_score_loss,
    cohen_kappa_score,
    confusion_matrix,
    f1_score,
    matthews_corrcoef,
    mean_absolute_error,
    mean_squared_error,
    precision_recall_fscore_support,
    precision_score,
    r2_score,
    recall_score,
    roc_auc_score,
)
from sklearn.calibration import calibration_curve

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.normpath(os.path.join(HERE, '..', '..', '..', 'examples', 'rotterdam', 'data'))
OUT = sys.argv[1] if len(sys.argv) > 1 else HERE

BINS = 1000
THRESHOLD = 0.5
CALIBRATION_BINS = 10
DECISION_THRESHOLDS = [k / 100 for k in range(5, 55, 5)]
EXCLUSION_REASONS = ['missing_label', 'invalid_label', 'missing_score', 'invalid_score', 'missing_features', 'outside_cohort']
FIVE_YEARS = 1826  # days


def expit(x):
    return 1.0 / (1.0 + math.exp(-x))


def read_csv(name):
    with open(os.path.join(DATA, name), newline='') as f:
        return list(csv.DictReader(f))


def write_csv(name, header, rows):
    with open(os.path.join(OUT, name), 'w', newline='') as f:
        w = csv.writer(f, lineterminator='\n')
        w.writerow(header)
        for row in rows:
            w.writerow(['' if v is None else (repr(v) if isinstance(v, float) else v) for v in row])


def write_json(name, value):
    with open(os.path.join(OUT, name), 'w') as f:
        json.dump(value, f, indent=1, sort_keys=True, allow_nan=False)
        f.write('\n')


def num(x):
    """A JSON number (float or int), or None."""
    if x is None:
        return None
    if isinstance(x, (int, np.integer)):
        return int(x)
    x = float(x)
    if math.isnan(x):
        return None
    return x


def wilson(successes, trials):
    if trials == 0:
        return None
    ci = stats.binomtest(int(successes), int(trials)).proportion_ci(confidence_level=0.95, method='wilson')
    return [float(ci.low), float(ci.high)]


def ratio(a, b):
    return None if b == 0 else a / b


# ---------------------------------------------------------------- binary reference
def calibration_reference(y, s):
    """Reliability bins with edges j/C, ECE, MCE, O/E, calibration-in-the-large, Hosmer-Lemeshow (fixed bins)."""
    edges = np.array([j / CALIBRATION_BINS for j in range(CALIBRATION_BINS + 1)])
    which = np.clip(np.searchsorted(edges, s, side='right') - 1, 0, CALIBRATION_BINS - 1)
    bins = []
    ece = 0.0
    mce = None
    hl = 0.0
    groups = 0
    n = len(y)
    for j in range(CALIBRATION_BINS):
        mask = which == j
        count = int(mask.sum())
        if count == 0:
            bins.append({'lower': float(edges[j]), 'upper': float(edges[j + 1]), 'n': 0, 'mean_predicted': None, 'observed_rate': None})
            continue
        mean_p = float(s[mask].mean())
        observed = int(y[mask].sum())
        rate = observed / count
        bins.append({'lower': float(edges[j]), 'upper': float(edges[j + 1]), 'n': count, 'mean_predicted': mean_p, 'observed_rate': rate})
        gap = abs(rate - mean_p)
        ece += count / n * gap
        mce = gap if mce is None else max(mce, gap)
        expected = float(s[mask].sum())
        variance = expected * (1 - expected / count)
        if variance > 0:
            hl += (observed - expected) ** 2 / variance
            groups += 1
    df = groups - 2
    out = {
        'bins': bins,
        'mean_predicted': float(s.mean()) if n else None,
        'observed_rate': float(y.mean()) if n else None,
        'calibration_in_the_large': float(y.mean() - s.mean()) if n else None,
        'observed_expected_ratio': float(y.sum() / s.sum()) if n and s.sum() > 0 else None,
        'ece': ece if n else None,
        'mce': mce,
        'hosmer_lemeshow': None if groups == 0 else {
            'statistic': hl, 'df': df, 'groups': groups,
            'p_value': float(stats.chi2.sf(hl, df)) if df >= 1 else None,
        },
    }
    # Cross-check of the bin semantics against scikit-learn where no score sits on an edge.
    on_edge = np.isin(s, edges)
    if n and not on_edge.any():
        prob_true, prob_pred = calibration_curve(y, s, n_bins=CALIBRATION_BINS, strategy='uniform')
        nonempty = [b for b in bins if b['n'] > 0]
        assert len(nonempty) == len(prob_true)
        for b, t, p in zip(nonempty, prob_true, prob_pred):
            assert abs(b['observed_rate'] - t) < 1e-12 and abs(b['mean_predicted'] - p) < 1e-12
    return out


def binary_reference(y, s):
    y = np.asarray(y, dtype=int)
    s = np.asarray(s, dtype=float)
    n = len(y)
    positives = int(y.sum())
    both = 0 < positives < n
    pred = (s >= THRESHOLD).astype(int)
    tn, fp, fn, tp = (int(v) for v in confusion_matrix(y, pred, labels=[0, 1]).ravel()) if n else (0, 0, 0, 0)
    mcc_den = (tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)
    at = {
        'threshold': THRESHOLD, 'tp': tp, 'fp': fp, 'tn': tn, 'fn': fn,
        'sensitivity': num(recall_score(y, pred)) if tp + fn else None,
        'specificity': num(recall_score(y, pred, pos_label=0)) if tn + fp else None,
        'ppv': num(precision_score(y, pred)) if tp + fp else None,
        'npv': num(precision_score(y, pred, pos_label=0)) if tn + fn else None,
        'accuracy': num(accuracy_score(y, pred)) if n else None,
        'f1': num(f1_score(y, pred)) if 2 * tp + fp + fn else None,
        'balanced_accuracy': num(balanced_accuracy_score(y, pred)) if both else None,
        'mcc': num(matthews_corrcoef(y, pred)) if mcc_den else None,
        'selection_rate': num(pred.mean()) if n else None,
        'sensitivity_ci95': wilson(tp, tp + fn),
        'specificity_ci95': wilson(tn, tn + fp),
        'ppv_ci95': wilson(tp, tp + fp),
        'npv_ci95': wilson(tn, tn + fn),
        'accuracy_ci95': wilson(tp + tn, n),
    }
    curve = []
    if n:
        prevalence = positives / n
        for pt in DECISION_THRESHOLDS:
            treated = s >= pt
            tp_t = int((treated & (y == 1)).sum())
            fp_t = int((treated & (y == 0)).sum())
            odds = pt / (1 - pt)
            curve.append({'threshold': pt, 'net_benefit': tp_t / n - fp_t / n * odds, 'treat_all': prevalence - (1 - prevalence) * odds, 'treat_none': 0})
    return {
        'n': n,
        'positives': positives,
        'prevalence': ratio(positives, n),
        'roc_auc': num(roc_auc_score(y, s)) if both else None,
        'average_precision': num(average_precision_score(y, s)) if positives else None,
        'brier_score': num(brier_score_loss(y, s)) if n else None,
        'at_threshold': at,
        'calibration': calibration_reference(y, s),
        'decision_curve': curve,
    }


def rotterdam_binary():
    """Recurrence or death within 5 years; patients censored earlier have an unknown label (excluded)."""
    rows = []
    for r in read_csv('rotterdam.csv'):
        rtime, dtime = int(r['rtime']), int(r['dtime'])
        event = (r['recur'] == '1' and rtime <= FIVE_YEARS) or (r['death'] == '1' and dtime <= FIVE_YEARS)
        if event:
            label = 1
        elif min(rtime, dtime) > FIVE_YEARS:
            label = 0
        else:
            label = None
        nodes, pgr, age = float(r['nodes']), float(r['pgr']), float(r['age'])
        lp = (-1.6 + 0.55 * math.log1p(nodes) + 0.35 * (r['grade'] == '3') + 0.45 * (r['size'] == '20-50')
              + 0.85 * (r['size'] == '>50') - 0.09 * math.log1p(pgr) + 0.004 * (age - 55) + 0.15 * (r['hormon'] == '1'))
        score = expit(lp)
        # The same score rounded to 2 decimals: every score on the grid, many ties within and across classes.
        score_grid = round(score * 100) / 100
        rows.append([int(r['pid']), label, score, score_grid, r['meno'], int(r['age']), r['size']])
    write_csv('rotterdam_binary.csv', ['pid', 'label', 'score', 'score_grid', 'meno', 'age', 'size'], rows)
    return rows


GROUPS = [
    {'column': 'meno', 'levels': ['0', '1']},
    {'column': 'age', 'cuts': [50, 70]},
    {'column': 'size', 'levels': ['<=20', '20-50', '>50']},
]


def level_of(group, value):
    if 'levels' in group:
        return value if value in group['levels'] else '(other)'
    cuts = group['cuts']
    names = ['<%s' % cuts[0]] + ['%s-%s' % (a, b) for a, b in zip(cuts, cuts[1:])] + ['>=%s' % cuts[-1]]
    return names[sum(1 for c in cuts if value >= c)]


def binary_references(rows):
    known = [r for r in rows if r[1] is not None]
    out = {'spec': {'bins': BINS, 'threshold': THRESHOLD, 'calibrationBins': CALIBRATION_BINS, 'decisionThresholds': DECISION_THRESHOLDS, 'groups': GROUPS}}
    for key, column in (('continuous', 2), ('grid', 3)):
        block = binary_reference([r[1] for r in known], [r[column] for r in known])
        block['excluded_missing_label'] = len(rows) - len(known)
        by_group = {}
        for g, group in enumerate(GROUPS):
            levels = {}
            for r in known:
                levels.setdefault(level_of(group, r[4 + g]), []).append(r)
            by_group[group['column']] = {level: binary_reference([r[1] for r in members], [r[column] for r in members]) for level, members in sorted(levels.items())}
        block['by_group'] = by_group
        out[key] = block
    write_json('sklearn_binary.json', out)


def edge_cases():
    """Small generated inputs: one class only, ties, scores exactly 0, 1 and at the threshold, grid ties."""
    cases = {
        'all_positive': ([1, 1, 1, 1], [0.2, 0.5, 0.7, 0.9]),
        'all_negative': ([0, 0, 0], [0.1, 0.5, 1.0]),
        'single_patient': ([1], [0.5]),
        'exact_edges': ([0, 1, 0, 1, 0, 1, 1, 0], [0.0, 1.0, 0.5, 0.5, 0.0, 0.49999999999999994, 1.0, 0.5]),
        'ties_across_classes': ([0, 1, 0, 1, 1, 0, 0, 1, 0, 1], [0.3, 0.3, 0.3, 0.3, 0.7, 0.7, 0.1, 0.9, 0.55, 0.55]),
        'perfect_separation': ([0, 0, 0, 1, 1, 1], [0.1, 0.2, 0.3, 0.6, 0.8, 0.95]),
        'inverted': ([1, 1, 1, 0, 0, 0], [0.1, 0.2, 0.3, 0.6, 0.8, 0.95]),
        'threshold_boundary': ([1, 0, 1, 0, 1, 0], [0.5, 0.5, 0.499, 0.501, 0.5, 0.25]),
        'empty': ([], []),
    }
    rng = np.random.default_rng(20240611)
    labels = rng.integers(0, 2, 400)
    grid_scores = np.clip(np.round(rng.normal(0.4 + 0.2 * labels, 0.15) * 20) / 20, 0, 1)  # steps of 0.05: heavy ties
    cases['random_grid_ties'] = (labels.tolist(), [float(v) for v in grid_scores])
    out = {name: {'labels': y, 'scores': s, 'expected': binary_reference(y, s)} for name, (y, s) in cases.items()}
    write_json('sklearn_edge_cases.json', out)


# ---------------------------------------------------------------- multiclass reference
SIZE_CLASSES = ['<=20', '20-50', '>50']


def softmax(z):
    m = max(z)
    e = [math.exp(v - m) for v in z]
    t = sum(e)
    return [v / t for v in e]


def multiclass_reference(labels, scores, grid):
    y = np.asarray(labels, dtype=int)
    S = np.asarray(scores, dtype=float)
    K = S.shape[1]
    pred = S.argmax(axis=1)  # first maximum on ties, as in the TypeScript accumulator
    cm = confusion_matrix(y, pred, labels=list(range(K)))
    precision, recall, f1, support = precision_recall_fscore_support(y, pred, labels=list(range(K)), zero_division=0)
    per_class_auc = [float(roc_auc_score((y == c).astype(int), S[:, c])) for c in range(K)]
    prevalence = np.bincount(y, minlength=K) / len(y)
    out = {
        'n': int(len(y)),
        'accuracy': float(accuracy_score(y, pred)),
        'accuracy_ci95': wilson(int(np.trace(cm)), len(y)),
        'balanced_accuracy': float(balanced_accuracy_score(y, pred)),
        'cohen_kappa': float(cohen_kappa_score(y, pred)),
        'brier_score': float(np.mean(np.sum((S - np.eye(K)[y]) ** 2, axis=1))),
        'confusion_matrix': cm.tolist(),
        'per_class': {SIZE_CLASSES[c]: {'support': int(support[c]), 'precision': float(precision[c]), 'recall': float(recall[c]), 'f1': float(f1[c]), 'roc_auc': per_class_auc[c]} for c in range(K)},
        'macro': {
            'precision': float(precision_score(y, pred, average='macro')),
            'recall': float(recall_score(y, pred, average='macro')),
            'f1': float(f1_score(y, pred, average='macro')),
            'roc_auc': float(np.mean(per_class_auc)),
        },
        'weighted': {
            'precision': float(precision_score(y, pred, average='weighted')),
            'recall': float(recall_score(y, pred, average='weighted')),
            'f1': float(f1_score(y, pred, average='weighted')),
            'roc_auc': float(np.sum(prevalence * np.asarray(per_class_auc))),
        },
    }
    if not grid:
        # scikit-learn's own one-vs-rest averages (they need probability rows that sum to 1).
        assert abs(roc_auc_score(y, S, multi_class='ovr', average='macro') - out['macro']['roc_auc']) < 1e-12
        assert abs(roc_auc_score(y, S, multi_class='ovr', average='weighted') - out['weighted']['roc_auc']) < 1e-12
    return out


def rotterdam_multiclass():
    """Tumour size class from nodes, grade and receptors with fixed coefficients (a test model, not a clinical one)."""
    rows = []
    for r in read_csv('rotterdam.csv'):
        nodes, er = float(r['nodes']), float(r['er'])
        grade3 = 1.0 if r['grade'] == '3' else 0.0
        z = [0.0, -0.3 + 0.35 * math.log1p(nodes) + 0.25 * grade3, -3.2 + 1.3 * math.log1p(nodes) + 0.3 * grade3 - 0.05 * math.log1p(er)]
        p = softmax(z)
        grid = [round(v * 100) / 100 for v in p]
        rows.append([int(r['pid']), r['size'], *p, *grid, r['meno']])
    header = ['pid', 'label', 'score_le20', 'score_20_50', 'score_gt50', 'grid_le20', 'grid_20_50', 'grid_gt50', 'meno']
    write_csv('rotterdam_multiclass.csv', header, rows)
    labels = [SIZE_CLASSES.index(r[1]) for r in rows]
    out = {'classes': SIZE_CLASSES}
    for key, start, grid in (('continuous', 2, False), ('grid', 5, True)):
        block = multiclass_reference(labels, [r[start:start + 3] for r in rows], grid)
        block['by_group'] = {'meno': {}}
        for level in ('0', '1'):
            idx = [i for i, r in enumerate(rows) if r[8] == level]
            block['by_group']['meno'][level] = multiclass_reference([labels[i] for i in idx], [rows[i][start:start + 3] for i in idx], grid)
        out[key] = block
    write_json('sklearn_multiclass.json', out)


# ---------------------------------------------------------------- regression reference
REGRESSION_RANGE = [0.0, 80.0]


def regression_reference(y, yhat):
    low, high = REGRESSION_RANGE
    y = np.asarray(y, dtype=float)
    yhat = np.asarray(yhat, dtype=float)
    clamped = int(np.sum((y < low) | (y > high) | (yhat < low) | (yhat > high)))
    yc = np.clip(y, low, high)
    pc = np.clip(yhat, low, high)
    slope, intercept = np.polyfit(pc, yc, 1)
    mse = float(mean_squared_error(yc, pc))
    return {
        'n': int(len(y)),
        'clamped': clamped,
        'mean_observed': float(yc.mean()),
        'mean_predicted': float(pc.mean()),
        'mae': float(mean_absolute_error(yc, pc)),
        'mse': mse,
        'rmse': math.sqrt(mse),
        'r2': float(r2_score(yc, pc)),
        'mean_error': float(np.mean(pc - yc)),
        'calibration_in_the_large': float(yc.mean() - pc.mean()),
        'calibration_slope': float(slope),
        'calibration_intercept': float(intercept),
    }


def gbsg_regression():
    """Tumour size (mm) from nodes, grade and receptors with fixed coefficients (a test model, not a clinical one)."""
    rows = []
    for r in read_csv('gbsg.csv'):
        nodes, pgr = float(r['nodes']), float(r['pgr'])
        yhat = 14.0 + 3.2 * math.sqrt(nodes) + 2.5 * float(r['grade']) - 0.6 * math.log1p(pgr)
        rows.append([int(r['pid']), float(r['size']), yhat, r['meno']])
    write_csv('gbsg_regression.csv', ['pid', 'y', 'yhat', 'meno'], rows)
    out = {'regressionRange': REGRESSION_RANGE, 'overall': regression_reference([r[1] for r in rows], [r[2] for r in rows]), 'by_group': {'meno': {}}}
    for level in ('0', '1'):
        members = [r for r in rows if r[3] == level]
        out['by_group']['meno'][level] = regression_reference([r[1] for r in members], [r[2] for r in members])
    write_json('sklearn_regression.json', out)


# ---------------------------------------------------------------- integration fixture
def sites_fixture(rows):
    """300 Rotterdam patients split over three sites, for other packages' integration tests."""
    picked = rows[::10][:300]
    fixture = [[r[0], 'site-' + 'abc'[i % 3], r[1], r[2], r[4], r[5]] for i, r in enumerate(picked)]
    write_csv('fixture_sites.csv', ['pid', 'site', 'label', 'score', 'meno', 'age'], fixture)
    known = [r for r in fixture if r[2] is not None]
    expected = binary_reference([r[2] for r in known], [r[3] for r in known])
    expected['excluded'] = {reason: 0 for reason in EXCLUSION_REASONS}
    expected['excluded']['missing_label'] = len(fixture) - len(known)
    expected['by_site'] = {}
    for site in ('site-a', 'site-b', 'site-c'):
        members = [r for r in known if r[1] == site]
        expected['by_site'][site] = {'n': len(members), 'positives': sum(r[2] for r in members)}
    groups = [{'column': 'meno', 'levels': ['0', '1']}, {'column': 'age', 'cuts': [50, 70]}]
    expected['spec'] = {'groups': groups}
    expected['by_group'] = {}
    for g, group in enumerate(groups):
        levels = {}
        for r in known:
            levels.setdefault(level_of(group, r[4 + g]), []).append(r)
        expected['by_group'][group['column']] = {level: binary_reference([r[2] for r in m], [r[3] for r in m]) for level, m in sorted(levels.items())}
    write_json('fixture_sites_expected.json', expected)


def main():
    os.makedirs(OUT, exist_ok=True)
    rows = rotterdam_binary()
    binary_references(rows)
    edge_cases()
    rotterdam_multiclass()
    gbsg_regression()
    sites_fixture(rows)
    write_json('versions_python.json', {'python': sys.version.split()[0], 'numpy': np.__version__, 'scipy': scipy.__version__, 'scikit-learn': sklearn.__version__})


if __name__ == '__main__':
    main()

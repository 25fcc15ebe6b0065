# check-model.py — independent reference figures for the committed model bundle, computed with scikit-learn.
# Run: /usr/bin/python3 examples/rotterdam/check-model.py > examples/rotterdam/check-model.out
# 1. Refits the same logistic regression with scikit-learn (unpenalized maximum likelihood) on the
#    development cohort: train-model.ts should reach the same training log loss and AUC.
# 2. Recomputes the committed bundle's probabilities from manifest.json and weights.bin with numpy
#    (not TF.js) and reports, per dataset, the counts, ROC AUC and Brier score a fedval round should
#    reproduce before privacy noise and score binning.
import csv
import json
import math
import os

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

HERE = os.path.dirname(os.path.abspath(__file__))


def read_rows(name):
    with open(os.path.join(HERE, 'data', name), newline='') as f:
        return list(csv.DictReader(f))


def known(rows):
    return [r for r in rows if r['event5y'] in ('0', '1')]


def bundle_scores(rows, manifest, kernel, bias):
    transforms = {None: lambda v: v, 'log1p': math.log1p, 'log': math.log, 'sqrt': math.sqrt}
    x = []
    for r in rows:
        features = []
        for f in manifest['inputs']:
            if f['kind'] == 'numeric':
                v = transforms[f.get('transform')](float(r[f['column']]))
                s = f.get('standardize', {'mean': 0.0, 'sd': 1.0})
                features.append((v - s['mean']) / s['sd'])
            else:
                features.extend(1.0 if r[f['column']] == c else 0.0 for c in f['categories'])
        x.append(features)
    z = np.array(x) @ kernel + bias
    return 1.0 / (1.0 + np.exp(-z))


def main():
    dev = known(read_rows('development.csv'))
    y = np.array([int(r['event5y']) for r in dev])
    design = np.array([[float(r['age']), float(r['meno']), r['size'] == '20-50', r['size'] == '>50', float(r['grade']),
                        math.log1p(float(r['nodes'])), math.log1p(float(r['pgr'])), math.log1p(float(r['er'])),
                        float(r['hormon'])] for r in dev], dtype=float)
    fit = LogisticRegression(penalty=None, max_iter=100000, tol=1e-12).fit(design, y)
    p = fit.predict_proba(design)[:, 1]
    print(f'scikit-learn maximum likelihood fit on development: n={len(y)} log_loss={log_loss(y, p):.5f} auc={roc_auc_score(y, p):.4f}')

    model_dir = os.path.join(HERE, 'model')
    with open(os.path.join(model_dir, 'manifest.json')) as f:
        manifest = json.load(f)
    with open(os.path.join(model_dir, 'model.json')) as f:
        specs = json.load(f)['weightsManifest'][0]['weights']
    weights = np.fromfile(os.path.join(model_dir, 'weights.bin'), dtype='<f4')
    sizes = [int(np.prod(s['shape'])) for s in specs]
    kernel, bias = weights[:sizes[0]].astype(float), float(weights[sizes[0]])
    print(f'committed bundle {manifest["name"]} {manifest["version"]}: kernel={np.round(kernel, 5).tolist()} bias={bias:.5f}')
    for name in ('development.csv', 'site-a.csv', 'site-b.csv', 'site-c.csv'):
        rows = read_rows(name)
        labelled = known(rows)
        y = np.array([int(r['event5y']) for r in labelled])
        s = bundle_scores(labelled, manifest, kernel, bias)
        print(f'{name}: rows={len(rows)} unknown_outcome={len(rows) - len(labelled)} positives={int(y.sum())} '
              f'negatives={int(len(y) - y.sum())} auc={roc_auc_score(y, s):.4f} brier={brier_score_loss(y, s):.4f} '
              f'mean_score={s.mean():.4f}')


main()

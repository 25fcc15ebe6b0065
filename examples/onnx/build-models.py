# build-models.py — fits the ONNX example models with scikit-learn on the bundled Rotterdam development rows, writes
# each as an ONNX graph built with onnx.helper from the fitted coefficients and trees, and writes scikit-learn's own
# predictions on every bundled site row as the reference fedval's ONNX runner must reproduce (to 1e-6).
#
#   /usr/bin/python3 examples/onnx/build-models.py OUT_DIR      # OUT_DIR = examples/onnx/models rewrites the committed files
#
# Needs Debian's python3-sklearn, python3-numpy and python3-onnx (skl2onnx is not packaged, so the graphs are written by
# hand; each mirrors what skl2onnx writes with zipmap=False). Deterministic: fixed random_state, no timestamps.
import csv
import json
import math
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, '..', 'rotterdam', 'data')
SITES = ['site-a.csv', 'site-b.csv', 'site-c.csv']
SIZE_CLASSES = ['<=20', '20-50', '>50']
OPSETS = [helper.make_opsetid('', 17), helper.make_opsetid('ai.onnx.ml', 3)]
IR_VERSION = 8


def read_rows(name):
    with open(os.path.join(DATA, name), newline='') as f:
        return list(csv.DictReader(f))


def binary_features(r):
    """features-binary.yaml, in manifest order: age, meno, size one-hot (3), grade, log1p nodes, pgr, er, hormon."""
    return [float(r['age']), float(r['meno'])] + [1.0 if r['size'] == c else 0.0 for c in SIZE_CLASSES] + [
        float(r['grade']), math.log1p(float(r['nodes'])), math.log1p(float(r['pgr'])), math.log1p(float(r['er'])),
        float(r['hormon'])]


def multiclass_features(r):
    """features-multiclass.yaml, in manifest order: age, meno, grade, log1p nodes, pgr, er, hormon."""
    return [float(r['age']), float(r['meno']), float(r['grade']), math.log1p(float(r['nodes'])),
            math.log1p(float(r['pgr'])), math.log1p(float(r['er'])), float(r['hormon'])]


def as_model_input(rows, features):
    # fedval hands the model float32 values: scikit-learn is given exactly the same numbers.
    return np.array([features(r) for r in rows], dtype=np.float64).astype(np.float32).astype(np.float64)


def tensor(name, array):
    return numpy_helper.from_array(np.asarray(array, dtype=np.float64), name)


def standardize_nodes(scaler, source, prefix):
    """Cast the float input to double, then (x - mean) / scale, as the fitted StandardScaler does."""
    nodes = [
        helper.make_node('Cast', [source], [f'{prefix}x64'], to=TensorProto.DOUBLE),
        helper.make_node('Sub', [f'{prefix}x64', f'{prefix}mean'], [f'{prefix}centred']),
        helper.make_node('Div', [f'{prefix}centred', f'{prefix}scale'], [f'{prefix}z']),
    ]
    inits = [tensor(f'{prefix}mean', scaler.mean_), tensor(f'{prefix}scale', scaler.scale_)]
    return nodes, inits, f'{prefix}z'


def float_input(width, name='float_input'):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, ['N', width])


def save(model_graph, path, check=True):
    model = helper.make_model(model_graph, opset_imports=OPSETS, producer_name='fedval examples/onnx/build-models.py')
    model.ir_version = IR_VERSION
    if check:  # the checker would open the external data files
        onnx.checker.check_model(model)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'wb') as f:
        f.write(model.SerializeToString())


def logistic_regression(x, y):
    scaler = StandardScaler().fit(x)
    fit = LogisticRegression(C=1.0, max_iter=10000, tol=1e-10).fit(scaler.transform(x), y)
    nodes, inits, z = standardize_nodes(scaler, 'float_input', '')
    nodes += [
        helper.make_node('MatMul', [z, 'coef'], ['margin']),
        helper.make_node('Add', ['margin', 'intercept'], ['logit']),
        helper.make_node('Sigmoid', ['logit'], ['p64']),
        helper.make_node('Cast', ['p64'], ['probability'], to=TensorProto.FLOAT),
    ]
    inits += [tensor('coef', fit.coef_.T), tensor('intercept', fit.intercept_)]
    graph = helper.make_graph(nodes, 'logistic_regression', [float_input(x.shape[1])],
                              [helper.make_tensor_value_info('probability', TensorProto.FLOAT, ['N', 1])], inits)
    return graph, lambda a: fit.predict_proba(scaler.transform(a))[:, 1]


def gradient_boosting(x, y):
    fit = GradientBoostingClassifier(n_estimators=100, max_depth=3, learning_rate=0.1, random_state=0).fit(x, y)
    # The initial raw prediction: the log odds of the training prevalence (DummyClassifier 'prior', log loss).
    base = float(fit._raw_predict_init(x[:1])[0, 0])
    attrs = {k: [] for k in ['nodes_treeids', 'nodes_nodeids', 'nodes_featureids', 'nodes_modes', 'nodes_values',
                             'nodes_truenodeids', 'nodes_falsenodeids', 'nodes_missing_value_tracks_true',
                             'target_treeids', 'target_nodeids', 'target_ids', 'target_weights']}
    for t, estimator in enumerate(fit.estimators_[:, 0]):
        tree = estimator.tree_
        for n in range(tree.node_count):
            leaf = tree.children_left[n] == -1
            attrs['nodes_treeids'].append(t)
            attrs['nodes_nodeids'].append(n)
            attrs['nodes_featureids'].append(0 if leaf else int(tree.feature[n]))
            attrs['nodes_modes'].append('LEAF' if leaf else 'BRANCH_LEQ')
            attrs['nodes_values'].append(0.0 if leaf else float(tree.threshold[n]))
            attrs['nodes_truenodeids'].append(0 if leaf else int(tree.children_left[n]))
            attrs['nodes_falsenodeids'].append(0 if leaf else int(tree.children_right[n]))
            attrs['nodes_missing_value_tracks_true'].append(0)
            if leaf:
                attrs['target_treeids'].append(t)
                attrs['target_nodeids'].append(n)
                attrs['target_ids'].append(0)
                attrs['target_weights'].append(fit.learning_rate * float(tree.value[n, 0, 0]))
    # Thresholds and leaf weights as double tensors, compared with the double-cast input: scikit-learn's own arithmetic.
    thresholds = attrs.pop('nodes_values')
    weights = attrs.pop('target_weights')
    ensemble = helper.make_node(
        'TreeEnsembleRegressor', ['x64'], ['margin'], domain='ai.onnx.ml', n_targets=1, aggregate_function='SUM',
        post_transform='NONE', nodes_values_as_tensor=tensor('nodes_values', thresholds),
        target_weights_as_tensor=tensor('target_weights', weights), base_values_as_tensor=tensor('base_values', [base]),
        **attrs)
    nodes = [
        helper.make_node('Cast', ['float_input'], ['x64'], to=TensorProto.DOUBLE),
        ensemble,
        helper.make_node('Sigmoid', ['margin'], ['p1']),
        helper.make_node('Sub', ['one', 'p1'], ['p0']),
        helper.make_node('Concat', ['p0', 'p1'], ['probabilities'], axis=1),
        helper.make_node('Greater', ['p1', 'half'], ['positive']),
        helper.make_node('Cast', ['positive'], ['label2d'], to=TensorProto.INT64),
        helper.make_node('Flatten', ['label2d'], ['label_flat'], axis=0),
        helper.make_node('Squeeze', ['label_flat', 'zero_axis'], ['label']),
    ]
    inits = [numpy_helper.from_array(np.array([1.0], dtype=np.float32), 'one'),
             numpy_helper.from_array(np.array([0.5], dtype=np.float32), 'half'),
             numpy_helper.from_array(np.array([0], dtype=np.int64), 'zero_axis')]
    # skl2onnx's layout without ZipMap: an int64 label and a float [N, 2] probability tensor.
    graph = helper.make_graph(nodes, 'gradient_boosting', [float_input(x.shape[1])], [
        helper.make_tensor_value_info('label', TensorProto.INT64, ['N']),
        helper.make_tensor_value_info('probabilities', TensorProto.FLOAT, ['N', 2])], inits)
    return graph, lambda a: fit.predict_proba(a)[:, 1]


def mlp(x, y):
    scaler = StandardScaler().fit(x)
    fit = MLPClassifier(hidden_layer_sizes=(16,), activation='relu', solver='lbfgs', alpha=1e-2, max_iter=5000,
                        random_state=0).fit(scaler.transform(x), y)
    nodes, inits, z = standardize_nodes(scaler, 'float_input', '')
    nodes += [
        helper.make_node('Gemm', [z, 'w1', 'b1'], ['h1']),
        helper.make_node('Relu', ['h1'], ['a1']),
        helper.make_node('Gemm', ['a1', 'w2', 'b2'], ['logit']),
        helper.make_node('Sigmoid', ['logit'], ['p64']),
        helper.make_node('Cast', ['p64'], ['p2d'], to=TensorProto.FLOAT),
        helper.make_node('Squeeze', ['p2d', 'one_axis'], ['probability']),
    ]
    inits += [tensor('w1', fit.coefs_[0]), tensor('b1', fit.intercepts_[0]), tensor('w2', fit.coefs_[1]),
              tensor('b2', fit.intercepts_[1]), numpy_helper.from_array(np.array([1], dtype=np.int64), 'one_axis')]
    graph = helper.make_graph(nodes, 'mlp', [float_input(x.shape[1])],
                              [helper.make_tensor_value_info('probability', TensorProto.FLOAT, ['N'])], inits)
    return graph, lambda a: fit.predict_proba(scaler.transform(a))[:, 1]


def multinomial(x, y):
    scaler = StandardScaler().fit(x)
    fit = LogisticRegression(multi_class='multinomial', C=1.0, max_iter=10000, tol=1e-10).fit(scaler.transform(x), y)
    assert list(fit.classes_) == [0, 1, 2]
    nodes, inits, z = standardize_nodes(scaler, 'float_input', '')
    nodes += [
        helper.make_node('MatMul', [z, 'coef'], ['margin']),
        helper.make_node('Add', ['margin', 'intercept'], ['logits64']),
        helper.make_node('Cast', ['logits64'], ['logits'], to=TensorProto.FLOAT),
        helper.make_node('Softmax', ['logits64'], ['p64'], axis=1),
        helper.make_node('Cast', ['p64'], ['probabilities'], to=TensorProto.FLOAT),
    ]
    inits += [tensor('coef', fit.coef_.T), tensor('intercept', fit.intercept_)]
    # Two float outputs: the manifest names the one to use (output.tensor: probabilities).
    graph = helper.make_graph(nodes, 'multinomial_logistic_regression', [float_input(x.shape[1])], [
        helper.make_tensor_value_info('logits', TensorProto.FLOAT, ['N', 3]),
        helper.make_tensor_value_info('probabilities', TensorProto.FLOAT, ['N', 3])], inits)
    return graph, lambda a: fit.predict_proba(scaler.transform(a))


def zipmap_model(width):
    """A classifier exported with skl2onnx's default ZipMap: probabilities as a sequence of maps, which fedval refuses."""
    nodes = [
        helper.make_node('MatMul', ['float_input', 'coef'], ['margin']),
        helper.make_node('Sigmoid', ['margin'], ['p1']),
        helper.make_node('Sub', ['one', 'p1'], ['p0']),
        helper.make_node('Concat', ['p0', 'p1'], ['probability_tensor'], axis=1),
        helper.make_node('ArgMax', ['probability_tensor'], ['label'], axis=1, keepdims=0),
        helper.make_node('ZipMap', ['probability_tensor'], ['output_probability'], domain='ai.onnx.ml',
                         classlabels_int64s=[0, 1]),
    ]
    inits = [numpy_helper.from_array(np.full((width, 1), 0.1, dtype=np.float32), 'coef'),
             numpy_helper.from_array(np.array([1.0], dtype=np.float32), 'one')]
    value = onnx.TypeProto()
    value.map_type.key_type = TensorProto.INT64
    value.map_type.value_type.CopyFrom(helper.make_tensor_type_proto(TensorProto.FLOAT, []))
    seq = helper.make_sequence_type_proto(value)
    graph = helper.make_graph(nodes, 'zipmap', [float_input(width)], [
        helper.make_tensor_value_info('label', TensorProto.INT64, ['N']), helper.make_value_info('output_probability', seq)], inits)
    return graph


def wrong_input_models(width):
    """Error fixtures: each takes inputs a manifest of `width` features cannot feed."""
    def tiny(name, inputs, first):
        nodes = [helper.make_node('Cast', [first], ['x'], to=TensorProto.FLOAT),
                 helper.make_node('MatMul', ['x', 'coef'], ['probability'])]
        cols = inputs[0].type.tensor_type.shape.dim[1].dim_value
        inits = [numpy_helper.from_array(np.full((cols, 1), 0.1, dtype=np.float32), 'coef')]
        return helper.make_graph(nodes, name, inputs, [helper.make_tensor_value_info('probability', TensorProto.FLOAT, ['N', 1])], inits)
    return {
        'wrong-width.onnx': tiny('wrong_width', [float_input(width - 1)], 'float_input'),
        'double-input.onnx': tiny('double_input', [helper.make_tensor_value_info('double_input', TensorProto.DOUBLE, ['N', width])], 'double_input'),
        'two-inputs.onnx': tiny('two_inputs', [float_input(width), float_input(1, 'extra')], 'float_input'),
    }


def external_data_models(width):
    """Error fixtures: weights stored "outside" the graph (ONNX external data) at a path a malicious bundle could aim at
    a site's files; fedval loads graphs from the verified bytes only, so ONNX Runtime must refuse to read them."""
    out = {}
    for file, location in [('external-absolute.onnx', '/etc/hostname'), ('external-relative.onnx', '../../../../../../etc/hostname')]:
        coef = numpy_helper.from_array(np.zeros((width, 1), dtype=np.float32), 'coef')
        coef.ClearField('raw_data')
        coef.data_location = TensorProto.EXTERNAL
        for key, value in [('location', location), ('offset', '0'), ('length', str(4 * width))]:
            entry = coef.external_data.add()
            entry.key, entry.value = key, value
        out[file] = helper.make_graph([helper.make_node('MatMul', ['float_input', 'coef'], ['probability'])], 'external_data',
                                      [float_input(width)], [helper.make_tensor_value_info('probability', TensorProto.FLOAT, ['N', 1])], [coef])
    return out


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, 'models')
    dev = [r for r in read_rows('development.csv') if r['event5y'] in ('0', '1')]
    x_bin = as_model_input(dev, binary_features)
    y_bin = np.array([int(r['event5y']) for r in dev])
    dev_all = read_rows('development.csv')
    x_multi = as_model_input(dev_all, multiclass_features)
    y_multi = np.array([SIZE_CLASSES.index(r['size']) for r in dev_all])

    site_rows = {name: read_rows(name) for name in SITES}
    reference = {'rows': {name: len(rows) for name, rows in site_rows.items()}, 'models': {}}
    for name, build, x, y, features in [
        ('logistic-regression', logistic_regression, x_bin, y_bin, binary_features),
        ('gradient-boosting', gradient_boosting, x_bin, y_bin, binary_features),
        ('mlp', mlp, x_bin, y_bin, binary_features),
        ('multiclass', multinomial, x_multi, y_multi, multiclass_features),
    ]:
        graph, predict = build(x, y)
        save(graph, os.path.join(out, f'{name}.onnx'))
        # Every bundled site row has every feature, so every row has a prediction.
        reference['models'][name] = {site: [p.tolist() if isinstance(p, np.ndarray) else float(p)
                                            for p in predict(as_model_input(rows, features))]
                                     for site, rows in site_rows.items()}
    save(zipmap_model(len(binary_features(dev[0]))), os.path.join(out, 'zipmap.onnx'))
    for file, graph in wrong_input_models(len(binary_features(dev[0]))).items():
        save(graph, os.path.join(out, file))
    for file, graph in external_data_models(len(binary_features(dev[0]))).items():
        save(graph, os.path.join(out, file), check=False)
    reference['versions'] = {'sklearn': __import__('sklearn').__version__, 'numpy': np.__version__, 'onnx': onnx.__version__}
    with open(os.path.join(out, 'sklearn-predictions.json'), 'w') as f:
        json.dump(reference, f, indent=1, sort_keys=True)
        f.write('\n')


if __name__ == '__main__':
    main()

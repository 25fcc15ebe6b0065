# compare_onnx_models.py — compares regenerated ONNX example models and scikit-learn predictions with the committed ones.
# Graph structure and attributes must be identical; numbers (weights, thresholds, predictions) equal within 1e-9
# relative (BLAS and platform rounding), so a different fit or feature construction fails.
#   /usr/bin/python3 compare_onnx_models.py COMMITTED_DIR REGENERATED_DIR
import json
import os
import sys

import numpy as np
import onnx
from onnx import numpy_helper

RTOL = 1e-9
ATOL = 1e-12


def close(a, b, what):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or not np.allclose(a, b, rtol=RTOL, atol=ATOL):
        raise SystemExit(f'{what}: regenerated values differ from the committed ones')


def compare_model(path_a, path_b):
    # External data is compared as written (its location), never loaded: the fixtures point at files outside the repository.
    a, b = onnx.load(path_a, load_external_data=False), onnx.load(path_b, load_external_data=False)
    ga, gb = a.graph, b.graph
    if [str(x) for x in ga.input] != [str(x) for x in gb.input] or [str(x) for x in ga.output] != [str(x) for x in gb.output]:
        raise SystemExit(f'{path_a}: inputs or outputs differ')
    if len(ga.node) != len(gb.node):
        raise SystemExit(f'{path_a}: node count differs')
    for na, nb in zip(ga.node, gb.node):
        if (na.op_type, na.domain, list(na.input), list(na.output)) != (nb.op_type, nb.domain, list(nb.input), list(nb.output)):
            raise SystemExit(f'{path_a}: node {na.name or na.op_type} differs')
        for xa, xb in zip(sorted(na.attribute, key=lambda x: x.name), sorted(nb.attribute, key=lambda x: x.name)):
            if xa.name != xb.name:
                raise SystemExit(f'{path_a}: {na.op_type} attributes differ')
            va, vb = onnx.helper.get_attribute_value(xa), onnx.helper.get_attribute_value(xb)
            if isinstance(va, onnx.TensorProto):
                close(numpy_helper.to_array(va), numpy_helper.to_array(vb), f'{path_a}: {na.op_type}.{xa.name}')
            elif isinstance(va, list) and va and isinstance(va[0], float):
                close(va, vb, f'{path_a}: {na.op_type}.{xa.name}')
            elif va != vb:
                raise SystemExit(f'{path_a}: {na.op_type}.{xa.name} differs')
    def arrays(graph):
        return {t.name: [(e.key, e.value) for e in t.external_data] if t.data_location == onnx.TensorProto.EXTERNAL
                else numpy_helper.to_array(t) for t in graph.initializer}
    ia, ib = arrays(ga), arrays(gb)
    if sorted(ia) != sorted(ib):
        raise SystemExit(f'{path_a}: initializers differ')
    for name in ia:
        if isinstance(ia[name], list) or isinstance(ib[name], list):
            if ia[name] != ib[name]:
                raise SystemExit(f'{path_a}: external data of {name} differs')
        else:
            close(ia[name], ib[name], f'{path_a}: initializer {name}')


def main():
    committed, regenerated = sys.argv[1], sys.argv[2]
    files = sorted(f for f in os.listdir(regenerated))
    if files != sorted(f for f in os.listdir(committed)):
        raise SystemExit('the regenerated file list differs from the committed one')
    for file in files:
        if file.endswith('.onnx'):
            compare_model(os.path.join(committed, file), os.path.join(regenerated, file))
    with open(os.path.join(committed, 'sklearn-predictions.json')) as f:
        a = json.load(f)
    with open(os.path.join(regenerated, 'sklearn-predictions.json')) as f:
        b = json.load(f)
    if a['rows'] != b['rows'] or sorted(a['models']) != sorted(b['models']):
        raise SystemExit('sklearn-predictions.json: rows or models differ')
    for model, sites in a['models'].items():
        for site, values in sites.items():
            close(values, b['models'][model][site], f'sklearn-predictions.json: {model} on {site}')
    print(f'onnx example models: {len(files) - 1} graphs and the scikit-learn predictions regenerated and equal')


if __name__ == '__main__':
    main()

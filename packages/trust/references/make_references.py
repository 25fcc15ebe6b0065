#!/usr/bin/env python3
"""Writes the cross-implementation reference files of @fedval/trust with the Python standard library alone
(hashlib, json, base64), so the TypeScript tests check the package against an implementation sharing none of
its code: not even OpenSSL, since Ed25519 here is written out from RFC 8032 section 5.1 (the steps of its
section 6 reference code) and first checked against the RFC's own test vectors 1 to 3.

    /usr/bin/python3 packages/trust/references/make_references.py [OUTPUT_DIR]   (default: this directory)

Canonical JSON here is json.dumps(sort_keys=True, separators=(',', ':'), ensure_ascii=False), which equals
RFC 8785 for the values used: integers, the floats 0.5 and -1.25, strings of BMP characters, null, booleans.
"""
import base64
import datetime
import hashlib
import json
import os
import sys

# ---- Ed25519, RFC 8032 section 5.1 ----------------------------------------------------------------------
P = 2**255 - 19
D = -121665 * pow(121666, P - 2, P) % P
Q = 2**252 + 27742317777372353535851937790883648493
SQRT_M1 = pow(2, (P - 1) // 4, P)


def point_add(a, b):  # extended homogeneous coordinates (X, Y, Z, T), section 5.1.4
    A = (a[1] - a[0]) * (b[1] - b[0]) % P
    B = (a[1] + a[0]) * (b[1] + b[0]) % P
    C = 2 * a[3] * b[3] * D % P
    Dd = 2 * a[2] * b[2] % P
    E, F, G, H = B - A, Dd - C, Dd + C, B + A
    return (E * F % P, G * H % P, F * G % P, E * H % P)


def point_mul(s, point):
    result = (0, 1, 1, 0)
    while s > 0:
        if s & 1:
            result = point_add(result, point)
        point = point_add(point, point)
        s >>= 1
    return result


def recover_x(y, sign):  # section 5.1.3
    x2 = (y * y - 1) * pow(D * y * y + 1, P - 2, P)
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P != 0:
        x = x * SQRT_M1 % P
    assert (x * x - x2) % P == 0
    return P - x if (x & 1) != sign else x


BASE_Y = 4 * pow(5, P - 2, P) % P
BASE_X = recover_x(BASE_Y, 0)
BASE = (BASE_X, BASE_Y, 1, BASE_X * BASE_Y % P)


def compress(point):  # section 5.1.2
    z_inv = pow(point[2], P - 2, P)
    x, y = point[0] * z_inv % P, point[1] * z_inv % P
    return (y | ((x & 1) << 255)).to_bytes(32, 'little')


def expand(secret):  # section 5.1.5
    h = hashlib.sha512(secret).digest()
    a = int.from_bytes(h[:32], 'little')
    a &= (1 << 254) - 8
    a |= 1 << 254
    return a, h[32:]


def public_key(secret):
    return compress(point_mul(expand(secret)[0], BASE))


def sign(secret, message):  # section 5.1.6
    a, prefix = expand(secret)
    A = compress(point_mul(a, BASE))
    r = int.from_bytes(hashlib.sha512(prefix + message).digest(), 'little') % Q
    R = compress(point_mul(r, BASE))
    k = int.from_bytes(hashlib.sha512(R + A + message).digest(), 'little') % Q
    return R + ((r + k * a) % Q).to_bytes(32, 'little')


RFC8032_TESTS = [  # section 7.1, TEST 1 to 3: secret key, public key, message, signature
    ('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
     'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a', '',
     'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b'),
    ('4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
     '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c', '72',
     '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00'),
    ('c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7',
     'fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025', 'af82',
     '6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a'),
]
for secret_hex, public_hex, message_hex, signature_hex in RFC8032_TESTS:
    secret = bytes.fromhex(secret_hex)
    assert public_key(secret).hex() == public_hex, 'Ed25519 public key differs from RFC 8032'
    assert sign(secret, bytes.fromhex(message_hex)).hex() == signature_hex, 'Ed25519 signature differs from RFC 8032'


# ---- references ------------------------------------------------------------------------------------------
def canonical(value):
    return json.dumps(value, sort_keys=True, separators=(',', ':'), ensure_ascii=False)


def audit_reference(out):
    events = [
        ('site:site-a', 'config.loaded', 'config:agent.yaml', None, {'sha256': hashlib.sha256(b'agent.yaml v1').hexdigest()}),
        ('site:site-a', 'connection.accepted', 'coordinator:wss://coordinator.example', None, {}),
        ('site:site-a', 'task.refused', 'round:r-1', 'FEDVAL_ERR_AGENT_MODEL_NOT_APPROVED', {'code': 'FEDVAL_ERR_AGENT_MODEL_NOT_APPROVED'}),
        ('role:site-admin:bob', 'model.approved', 'model:' + hashlib.sha256(b'manifest').hexdigest(),
         'approved after review — café meeting\nsee ticket\u001f42', {'fingerprint': hashlib.sha256(b'sponsor').hexdigest()}),
        ('site:site-a', 'contribution.sent', 'round:r-2', None,
         {'sha256': hashlib.sha256(b'contribution r-2').hexdigest(), 'epsilon': 0.5, 'delta_exponent': -6, 'shift': -1.25, 'plaintext': False}),
    ]
    start = datetime.datetime(2025, 3, 1, 9, 30, 0, tzinfo=datetime.timezone.utc)
    prev = '0' * 64
    lines = []
    for i, (actor, action, obj, reason, details) in enumerate(events):
        t = start + datetime.timedelta(seconds=17 * i, milliseconds=250 * i)
        ts = t.strftime('%Y-%m-%dT%H:%M:%S.') + '%03dZ' % (t.microsecond // 1000)
        entry = {'seq': i + 1, 'ts': ts, 'actor': actor, 'action': action, 'object': obj,
                 'reason': reason, 'details': details, 'prev': prev}
        entry['hash'] = hashlib.sha256(canonical(entry).encode('utf-8')).hexdigest()
        lines.append(canonical(entry) + '\n')
        prev = entry['hash']
    with open(os.path.join(out, 'audit-python.jsonl'), 'w', encoding='utf-8', newline='\n') as f:
        f.writelines(lines)
    return {'entries': len(events), 'head': prev}


def manifest_reference(out):
    secret = bytes.fromhex(RFC8032_TESTS[0][0])  # RFC 8032 TEST 1: a published test key, never a real sponsor's
    public = public_key(secret)
    manifest = {
        'manifestVersion': 1,
        'name': 'rotterdam-recurrence',
        'version': '1.0.0',
        'description': 'Logistic regression for 5-year recurrence — Überleben',
        'format': 'tfjs',
        'inputs': [
            {'kind': 'numeric', 'column': 'age', 'standardize': {'mean': 0.5, 'sd': 1}, 'missing': 'exclude'},
            {'kind': 'one_hot', 'column': 'grade', 'categories': ['2', '3'], 'missing': 'zeros', 'unknown': 'exclude'},
        ],
        'output': {'kind': 'probability', 'positive': 'recurrence within 5 years'},
        'files': [
            {'path': 'model.json', 'sha256': hashlib.sha256(b'model.json').hexdigest()},
            {'path': 'weights.bin', 'sha256': hashlib.sha256(b'weights.bin').hexdigest()},
        ],
    }
    signature = sign(secret, canonical(manifest).encode('utf-8'))
    manifest['signature'] = {
        'algorithm': 'ed25519',
        'publicKey': base64.b64encode(public).decode('ascii'),
        'value': base64.b64encode(signature).decode('ascii'),
    }
    with open(os.path.join(out, 'manifest-signed-python.json'), 'w', encoding='utf-8', newline='\n') as f:
        json.dump(manifest, f, indent=2, ensure_ascii=False)
        f.write('\n')
    return {'fingerprint': hashlib.sha256(public).hexdigest(), 'signature': manifest['signature']['value']}


if __name__ == '__main__':
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    expected = {'audit': audit_reference(out), 'manifest': manifest_reference(out)}
    with open(os.path.join(out, 'expected-python.json'), 'w', encoding='utf-8', newline='\n') as f:
        json.dump(expected, f, indent=2)
        f.write('\n')

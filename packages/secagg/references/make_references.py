#!/usr/bin/env python3
"""Writes the cross-implementation reference file of @fedval/secagg, references.json, from an implementation that
shares no code with the package: X25519 written out from RFC 7748 section 5 (checked first against the RFC's own
vectors of sections 5.2 and 6.1), HKDF-SHA256 from RFC 5869 section 2 on the standard library's hmac (checked
against the RFC's test cases 1 to 3), Shamir sharing over GF(2^521 - 1) with Python integers, and AES-256 (CTR and
GCM) from the `cryptography` module (Debian: python3-cryptography). The byte rule of the mask expansion is
re-implemented here from the package README, not from its code.

    /usr/bin/python3 packages/secagg/references/make_references.py [OUTPUT_DIR]   (default: this directory)

Every "random" byte comes from the deterministic stream of `stream_bytes`, which the TypeScript tests rebuild
(packages/secagg/test-support/deterministic-random.ts): SHA-256(label || counter as 4 bytes big-endian),
counter = 0, 1, 2, ..., blocks concatenated and served in order.
"""
import hashlib
import hmac
import itertools
import json
import os
import struct
import sys

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from scipy.stats import chi2

LABEL = b"fedval/secagg/v1"

# ---- X25519, RFC 7748 section 5 ---------------------------------------------------------------------------------
P25519 = 2**255 - 19
A24 = 121665


def decode_scalar(k: bytes) -> int:
    b = bytearray(k)
    b[0] &= 248
    b[31] &= 127
    b[31] |= 64
    return int.from_bytes(b, "little")


def decode_u(u: bytes) -> int:
    b = bytearray(u)
    b[31] &= 127  # mask the most significant bit (section 5)
    return int.from_bytes(b, "little") % P25519


def x25519(k: bytes, u: bytes) -> bytes:
    scalar, x1 = decode_scalar(k), decode_u(u)
    x2, z2, x3, z3, swap = 1, 0, x1, 1, 0
    for t in reversed(range(255)):
        bit = (scalar >> t) & 1
        swap ^= bit
        if swap:
            x2, x3, z2, z3 = x3, x2, z3, z2
        swap = bit
        a, b = (x2 + z2) % P25519, (x2 - z2) % P25519
        aa, bb = a * a % P25519, b * b % P25519
        e = (aa - bb) % P25519
        c, d = (x3 + z3) % P25519, (x3 - z3) % P25519
        da, cb = d * a % P25519, c * b % P25519
        x3 = (da + cb) ** 2 % P25519
        z3 = x1 * (da - cb) ** 2 % P25519
        x2 = aa * bb % P25519
        z2 = e * (aa + A24 * e) % P25519
    if swap:
        x2, z2 = x3, z3
    return (x2 * pow(z2, P25519 - 2, P25519) % P25519).to_bytes(32, "little")


BASE = (9).to_bytes(32, "little")
H = bytes.fromhex

# RFC 7748 section 5.2 and 6.1
RFC7748_52 = [
    ("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4", "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
     "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"),
    ("4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d", "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
     "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957"),
]
ALICE_PRIVATE = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"
ALICE_PUBLIC = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
BOB_PRIVATE = "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"
BOB_PUBLIC = "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"
SHARED = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"

for k, u, out in RFC7748_52:
    assert x25519(H(k), H(u)).hex() == out
assert x25519(H(ALICE_PRIVATE), BASE).hex() == ALICE_PUBLIC
assert x25519(H(BOB_PRIVATE), BASE).hex() == BOB_PUBLIC
assert x25519(H(ALICE_PRIVATE), H(BOB_PUBLIC)).hex() == SHARED
_k = _u = BASE
for _ in range(1000):  # section 5.2, after 1,000 iterations
    _k, _u = x25519(_k, _u), _k
assert _k.hex() == "684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51"

# ---- HKDF-SHA256, RFC 5869 section 2 ----------------------------------------------------------------------------


def hkdf(ikm: bytes, salt: bytes, info: bytes, length: int) -> bytes:
    prk = hmac.new(salt if salt else b"\x00" * 32, ikm, hashlib.sha256).digest()
    out, block = b"", b""
    for i in itertools.count(1):
        if len(out) >= length:
            return out[:length]
        block = hmac.new(prk, block + info + bytes([i]), hashlib.sha256).digest()
        out += block


assert hkdf(b"\x0b" * 22, H("000102030405060708090a0b0c"), H("f0f1f2f3f4f5f6f7f8f9"), 42).hex() == (
    "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865")
assert hkdf(bytes(range(0x00, 0x50)), bytes(range(0x60, 0xb0)), bytes(range(0xb0, 0x100)), 82).hex() == (
    "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac7827271cb41c65e590e09da3275600c2f09b8"
    "367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f1d87")
assert hkdf(b"\x0b" * 22, b"", b"", 42).hex() == (
    "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8")


def lp(text: str) -> bytes:
    b = text.encode("utf-8")
    return struct.pack(">I", len(b)) + b


def site_key(x: str) -> bytes:
    return x.encode("utf-8")


def agree_secret(my_private: bytes, their_public: bytes, purpose: str, study: str, round_id: str, a: str, b: str) -> bytes:
    low, high = sorted([a, b], key=site_key)
    info = b"".join(lp(s) for s in ["fedval/secagg/v1", purpose, study, round_id, low, high])
    shared = x25519(my_private, their_public)
    assert shared != b"\x00" * 32
    return hkdf(shared, LABEL, info, 32)


# ---- deterministic byte stream (shared with the TypeScript tests) -----------------------------------------------


class Stream:
    def __init__(self, label: str):
        self.label = label.encode("utf-8")
        self.counter = 0
        self.buffer = b""

    def __call__(self, size: int) -> bytes:
        while len(self.buffer) < size:
            self.buffer += hashlib.sha256(self.label + struct.pack(">I", self.counter)).digest()
            self.counter += 1
        out, self.buffer = self.buffer[:size], self.buffer[size:]
        return out


def stream_bytes(label: str, size: int) -> bytes:
    return Stream(label)(size)


# ---- mask expansion: the byte rule of the README -----------------------------------------------------------------


def expand_mask(seed: bytes, info: str, length: int, t: int) -> list:
    key = hkdf(seed, b"fedval/secagg/v1/prg", info.encode("utf-8"), 32)
    encryptor = Cipher(algorithms.AES(key), modes.CTR(b"\x00" * 16)).encryptor()
    bits = (t - 1).bit_length()
    out = []
    while len(out) < length:
        block = encryptor.update(b"\x00" * 8)
        x = int.from_bytes(block, "little") & ((1 << bits) - 1)
        if x < t:
            out.append(x)
    return out


def le64_digest(values: list) -> str:
    return hashlib.sha256(b"".join(v.to_bytes(8, "little") for v in values)).hexdigest()


# ---- Shamir over GF(2^521 - 1) ------------------------------------------------------------------------------------
PRIME = 2**521 - 1


def evaluate(secret: int, coefficients: list, x: int) -> int:
    return (secret + sum(c * pow(x, k + 1, PRIME) for k, c in enumerate(coefficients))) % PRIME


def draw_field_element(stream: Stream) -> int:
    while True:
        b = bytearray(stream(66))
        b[0] &= 1
        v = int.from_bytes(b, "big")
        if v < PRIME:
            return v


def interpolate_at_zero(points: list) -> int:
    total = 0
    for i, (xi, yi) in enumerate(points):
        num, den = 1, 1
        for j, (xj, _) in enumerate(points):
            if i != j:
                num = num * (-xj) % PRIME
                den = den * (xi - xj) % PRIME
        total += yi * num * pow(den, PRIME - 2, PRIME)
    return total % PRIME


def centred(r: int, t: int) -> int:
    return r if r <= (t - 1) // 2 else r - t


def masking_example(t: int) -> dict:
    """A small example end to end: 4 sites mask, one drops after the key exchange, the survivors' sum is unmasked."""
    names = ["s1", "s2", "s3", "s4"]
    sk = {s: stream_bytes(f"mask key {s}", 32) for s in names}
    pk = {s: x25519(sk[s], BASE) for s in names}
    b_seed = {s: stream_bytes(f"self seed {s}", 32) for s in names}
    length = 16
    inputs = {s: [(k * 37 + 11 * j) % 2001 - 1000 for j in range(length)] for k, s in enumerate(names)}
    masked = {}
    for u in names:
        acc = [x % t for x in inputs[u]]
        acc = [(a + m) % t for a, m in zip(acc, expand_mask(b_seed[u], "self-mask", length, t))]
        for v in names:
            if v == u:
                continue
            s_uv = agree_secret(sk[u], pk[v], "pairwise-mask", "study-1", "round-7", u, v)
            sign = 1 if site_key(u) < site_key(v) else -1
            acc = [(a + sign * m) % t for a, m in zip(acc, expand_mask(s_uv, "pairwise-mask", length, t))]
        masked[u] = [centred(a, t) for a in acc]
    survivors, dropped = ["s1", "s2", "s4"], ["s3"]
    masked_sum = [sum(masked[u][j] for u in survivors) for j in range(length)]
    correction = [0] * length
    for u in survivors:
        correction = [(c - m) % t for c, m in zip(correction, expand_mask(b_seed[u], "self-mask", length, t))]
        for v in dropped:
            s_uv = agree_secret(sk[v], pk[u], "pairwise-mask", "study-1", "round-7", v, u)
            sign = 1 if site_key(u) < site_key(v) else -1
            correction = [(c - sign * m) % t for c, m in zip(correction, expand_mask(s_uv, "pairwise-mask", length, t))]
    unmasked = [centred((s + c) % t, t) for s, c in zip(masked_sum, correction)]
    assert unmasked == [sum(inputs[u][j] for u in survivors) for j in range(length)]
    return {
        "t": str(t), "studyId": "study-1", "roundId": "round-7",
        "privateKeys": {s: sk[s].hex() for s in names}, "selfSeeds": {s: b_seed[s].hex() for s in names},
        "inputs": inputs, "masked": {s: [str(v) for v in masked[s]] for s in names},
        "survivors": survivors, "dropped": dropped, "correction": [str(c) for c in correction],
        "unmaskedSum": [str(v) for v in unmasked],
    }


def main() -> None:
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    refs = {"generator": "packages/secagg/references/make_references.py"}

    # agreeSecret: fixed private keys from the stream, both directions give the same secret.
    sites = ["site-a", "site-b", "hospital.c"]
    keys = {s: stream_bytes(f"x25519 {s}", 32) for s in sites}
    publics = {s: x25519(k, BASE).hex() for s, k in keys.items()}
    agreements = []
    for a, b in itertools.combinations(sites, 2):
        for purpose in ["pairwise-mask", "share-transport"]:
            secret = agree_secret(keys[a], H(publics[b]), purpose, "study-1", "round-7", a, b)
            assert secret == agree_secret(keys[b], H(publics[a]), purpose, "study-1", "round-7", b, a)
            agreements.append({"siteA": a, "siteB": b, "purpose": purpose, "studyId": "study-1", "roundId": "round-7", "secret": secret.hex()})
    refs["agreement"] = {"privateKeys": {s: k.hex() for s, k in keys.items()}, "publicKeys": publics, "secrets": agreements}

    # expandMask: short vectors in full, long ones by digest, over moduli of every size class.
    moduli = [2, 3, 257, 65537, 1000003, 2**31 - 1, 2**32, 2**32 + 1, 2**40 + 15, 2**52, 2**52 + 1, 1152921504606748673, 2**63 + 29, 2**64 - 59]
    masks = []
    for i, t in enumerate(moduli):
        seed = stream_bytes(f"mask seed {i}", 32)
        short = expand_mask(seed, "self-mask", 24, t)
        long = expand_mask(seed, "pairwise-mask", 5000, t)
        masks.append({"seed": seed.hex(), "t": str(t), "selfMask24": [str(v) for v in short], "pairwiseMask5000Sha256": le64_digest(long)})
    refs["expandMask"] = masks

    # Masking end to end, on the BigInt path (t > 2^52) and on the float64 path (t <= 2^52) of the package.
    refs["masking"] = masking_example(1152921504606748673)
    refs["maskingFloat"] = masking_example(2**40 + 15)

    # Shamir: fixed coefficients, then a split driven by the deterministic stream.
    secret = stream_bytes("shamir secret", 32)
    s_int = int.from_bytes(secret, "big")
    coefficients = [int.from_bytes(stream_bytes(f"shamir coefficient {k}", 66), "big") % PRIME for k in range(2)]
    fixed = [{"x": x, "y": str(evaluate(s_int, coefficients, x))} for x in range(1, 6)]
    for subset in itertools.combinations(fixed, 3):
        assert interpolate_at_zero([(p["x"], int(p["y"])) for p in subset]) == s_int
    stream = Stream("shamir split")
    drawn = [draw_field_element(stream) for _ in range(3)]
    holders = sorted(["site-e", "site-a", "site-d", "site-b", "site-c", "site-f"], key=site_key)
    split = [{"shareholderId": h, "x": i + 1, "y": str(evaluate(s_int, drawn, i + 1))} for i, h in enumerate(holders)]
    # An all-0xff stream: the first 66 bytes give 2^521 - 1 = p itself, which is rejected; the draw then takes the next 66 bytes.
    top = bytes([0x01]) + bytes([0xFF]) * 65
    assert int.from_bytes(top, "big") == PRIME
    refs["shamir"] = {
        "prime": str(PRIME), "secret": secret.hex(), "coefficients": [str(c) for c in coefficients], "fixedShares": fixed,
        "splitLabel": "shamir split", "splitThreshold": 4, "splitShareholders": ["site-e", "site-a", "site-d", "site-b", "site-c", "site-f"],
        "splitCoefficients": [str(c) for c in drawn], "splitShares": split,
    }

    # Share transport: AES-256-GCM with the nonce from the stream.
    key = H(next(a["secret"] for a in agreements if a["purpose"] == "share-transport" and a["siteA"] == "site-a" and a["siteB"] == "site-b"))
    nonce = stream_bytes("share nonce", 12)
    x, y_b, y_s = split[1]["x"], int(split[1]["y"]), int(split[2]["y"])
    plaintext = bytes([1]) + struct.pack(">H", x) + y_b.to_bytes(66, "big") + y_s.to_bytes(66, "big")
    aad = b"".join(lp(s) for s in ["fedval/secagg/v1", "share-transport", "study-1", "round-7", "site-a", "site-b"])
    sealed = nonce + AESGCM(key).encrypt(nonce, plaintext, aad)
    refs["shareTransport"] = {
        "key": key.hex(), "nonceLabel": "share nonce", "binding": {"studyId": "study-1", "roundId": "round-7", "sender": "site-a", "recipient": "site-b"},
        "shares": {"x": x, "selfMaskSeed": str(y_b), "agreementKey": str(y_s)}, "sealed": sealed.hex(),
    }

    # Uniformity: the chi-square critical value the uniformity test compares against.
    refs["uniformity"] = {"bins": 64, "falseAlarm": 1e-6, "critical": float(f"{chi2.ppf(1 - 1e-6, 63):.6f}")}

    with open(os.path.join(out_dir, "references.json"), "w", encoding="utf-8") as f:
        json.dump(refs, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()

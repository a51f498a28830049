"""dashboard/jws.py on its own: every supported algorithm signs and verifies, and what must fail fails.

RS256 and ES256 are also cross-checked against a real provider in test_oidc.py (its ID tokens verified here,
our private_key_jwt assertions verified there).
"""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dashboard import jws

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
KEYS: dict[str, jws.PrivateKey] = {
    "RS256": RSA_KEY,
    "RS384": RSA_KEY,
    "RS512": RSA_KEY,
    "PS256": RSA_KEY,
    "PS384": RSA_KEY,
    "PS512": RSA_KEY,
    "ES256": ec.generate_private_key(ec.SECP256R1()),
    "ES384": ec.generate_private_key(ec.SECP384R1()),
    "ES512": ec.generate_private_key(ec.SECP521R1()),
    "EdDSA": Ed25519PrivateKey.generate(),
}
ALL = frozenset(KEYS)


@pytest.mark.parametrize("alg", sorted(KEYS))
def test_each_algorithm_signs_and_verifies_and_detects_tampering(alg: str) -> None:
    key = KEYS[alg]
    token = jws.sign_compact({"sub": "alice"}, key, alg, kid="k")
    jwk = jws.parse_jwk(json.loads(json.dumps(jws.public_jwk(key, kid="k"))))
    parsed = jws.parse_compact(token)
    assert parsed.payload == {"sub": "alice"} and parsed.kid == "k" and parsed.alg == alg
    jws.verify(parsed, jwk, ALL)

    header, _, signature = token.split(".")
    root = jws.b64url_encode(json.dumps({"sub": "root"}).encode())
    forged = jws.parse_compact(f"{header}.{root}.{signature}")
    with pytest.raises(jws.BadSignature):
        jws.verify(forged, jwk, ALL)
    with pytest.raises(jws.UnsupportedAlgorithm):
        jws.verify(parsed, jwk, ALL - {alg})


def test_a_key_only_verifies_the_algorithm_it_fits() -> None:
    token = jws.parse_compact(jws.sign_compact({"sub": "a"}, KEYS["ES256"], "ES256"))
    p384 = jws.parse_jwk(jws.public_jwk(KEYS["ES384"]))
    rsa_pinned = jws.parse_jwk(jws.public_jwk(RSA_KEY, alg="PS256"))
    with pytest.raises(jws.UnusableKey):
        jws.verify(token, p384, ALL)  # the right type, the wrong curve
    assert not rsa_pinned.fits("RS256") and rsa_pinned.fits("PS256")


@pytest.mark.parametrize(
    "jwk",
    [
        jws.public_jwk(rsa.generate_private_key(public_exponent=65537, key_size=1024)),  # too short
        {**jws.public_jwk(KEYS["ES256"]), "y": jws.b64url_encode(b"\x01" * 32)},  # not on the curve
        {"kty": "oct", "k": "c2VjcmV0"},  # a symmetric key
        {**jws.public_jwk(RSA_KEY), "use": "enc"},
        {**jws.public_jwk(RSA_KEY), "alg": "HS256"},
        {"kty": "RSA", "n": "not base64!", "e": "AQAB"},
    ],
    ids=["rsa-1024", "ec-off-curve", "oct", "use-enc", "alg-hs256", "bad-base64"],
)
def test_unusable_keys_are_refused(jwk: dict[str, str]) -> None:
    with pytest.raises(jws.UnusableKey):
        jws.parse_jwk(jwk)


@pytest.mark.parametrize(
    "token",
    ["", "a.b", "a.b.c.d.e", "e30.e30", "e30=.e30.", "W10.e30.", '{"crit".e30.', "eyJjcml0IjpbImIiXX0.e30."],
)
def test_malformed_compact_serialisations_are_refused(token: str) -> None:
    with pytest.raises(jws.MalformedJws):
        jws.parse_compact(token)

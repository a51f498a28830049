"""JSON Web Signatures (RFC 7515, compact form) and JSON Web Keys (RFC 7517) with `cryptography`.

Only asymmetric algorithms are accepted: `none` and the HMAC family are refused outright, so a token can never
choose to be checked against a public key used as an HMAC secret (algorithm confusion). The verifier takes the
algorithm from a fixed allow-list and requires the key's type (and its `alg`, `use`, when present) to match.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | Ed25519PublicKey
"""A public key a JWS can be verified with."""

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | Ed25519PrivateKey
"""A private key a JWS can be signed with."""

MIN_RSA_BITS = 2048
"""RSA keys shorter than this are refused."""


class JwsError(ValueError):
    """A JWS or JWK that cannot be used; subclasses say why."""


class MalformedJws(JwsError):
    """Not a compact JWS with a JSON header and payload."""


class UnsupportedAlgorithm(JwsError):
    """The algorithm is not in the allow-list (or is `none` / HMAC, never accepted)."""


class BadSignature(JwsError):
    """The signature does not verify with the key."""


class UnusableKey(JwsError):
    """A JWK that is malformed, too weak, or not fit for the algorithm."""


@dataclass(frozen=True)
class _Alg:
    kty: str
    hash: hashes.HashAlgorithm | None
    curve: str | None = None
    pss: bool = False


_ALGORITHMS: dict[str, _Alg] = {
    "RS256": _Alg("RSA", hashes.SHA256()),
    "RS384": _Alg("RSA", hashes.SHA384()),
    "RS512": _Alg("RSA", hashes.SHA512()),
    "PS256": _Alg("RSA", hashes.SHA256(), pss=True),
    "PS384": _Alg("RSA", hashes.SHA384(), pss=True),
    "PS512": _Alg("RSA", hashes.SHA512(), pss=True),
    "ES256": _Alg("EC", hashes.SHA256(), "P-256"),
    "ES384": _Alg("EC", hashes.SHA384(), "P-384"),
    "ES512": _Alg("EC", hashes.SHA512(), "P-521"),
    "EdDSA": _Alg("OKP", None, "Ed25519"),
}
SUPPORTED_ALGORITHMS: frozenset[str] = frozenset(_ALGORITHMS)
"""Every algorithm this module can verify and sign."""

_CURVES: dict[str, tuple[type[ec.EllipticCurve], int]] = {
    "P-256": (ec.SECP256R1, 32),
    "P-384": (ec.SECP384R1, 48),
    "P-521": (ec.SECP521R1, 66),
}
_CURVE_NAMES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}


_B64URL = re.compile(r"[A-Za-z0-9_-]*")


def b64url_decode(text: str) -> bytes:
    """Decode unpadded base64url (RFC 7515 section 2), refusing any other alphabet."""
    if not isinstance(text, str) or not _B64URL.fullmatch(text):
        raise MalformedJws("not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise MalformedJws("not base64url") from exc


def b64url_encode(data: bytes) -> str:
    """Encode as unpadded base64url."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64_int(jwk: dict[str, Any], name: str) -> int:
    value = jwk.get(name)
    if not isinstance(value, str):
        raise UnusableKey(f"JWK member {name!r} missing")
    try:
        return int.from_bytes(b64url_decode(value), "big")
    except MalformedJws as exc:
        raise UnusableKey(f"JWK member {name!r} is not base64url") from exc


@dataclass(frozen=True)
class Jwk:
    """A public verification key from a JWK Set: its id, type, optional `alg`, and the key itself."""

    kid: str | None
    kty: str
    alg: str | None
    key: PublicKey
    curve: str | None = None

    def fits(self, alg: str) -> bool:
        """True when this key may verify a signature made with `alg`."""
        spec = _ALGORITHMS.get(alg)
        if spec is None or spec.kty != self.kty or (self.alg is not None and self.alg != alg):
            return False
        return spec.curve is None or spec.curve == self.curve


def parse_jwk(jwk: dict[str, Any]) -> Jwk:
    """A public key from one JWK; private members, if any, are ignored. Raises UnusableKey."""
    kty = jwk.get("kty")
    kid = jwk.get("kid")
    alg = jwk.get("alg")
    if kid is not None and not isinstance(kid, str):
        raise UnusableKey("JWK kid is not a string")
    if alg is not None and alg not in _ALGORITHMS:
        raise UnusableKey(f"JWK alg {str(alg)[:20]!r} is not supported")
    if jwk.get("use", "sig") != "sig":
        raise UnusableKey("JWK is not for signatures")
    key: PublicKey
    curve: str | None = None
    try:
        if kty == "RSA":
            key = rsa.RSAPublicNumbers(_b64_int(jwk, "e"), _b64_int(jwk, "n")).public_key()
            if key.key_size < MIN_RSA_BITS:
                raise UnusableKey(f"RSA key of {key.key_size} bits is too short (at least {MIN_RSA_BITS})")
        elif kty == "EC":
            curve = jwk.get("crv")
            if curve not in _CURVES:
                raise UnusableKey(f"EC curve {str(curve)[:20]!r} is not supported")
            key = ec.EllipticCurvePublicNumbers(
                _b64_int(jwk, "x"), _b64_int(jwk, "y"), _CURVES[curve][0]()
            ).public_key()
        elif kty == "OKP" and jwk.get("crv") == "Ed25519":
            curve = "Ed25519"
            key = Ed25519PublicKey.from_public_bytes(b64url_decode(str(jwk.get("x", ""))))
        else:
            raise UnusableKey(f"JWK key type {str(kty)[:20]!r} is not supported")
    except (ValueError, MalformedJws) as exc:
        if isinstance(exc, UnusableKey):
            raise
        raise UnusableKey(f"JWK is not a valid {kty} public key") from exc
    return Jwk(kid=kid, kty=str(kty), alg=alg, key=key, curve=curve)


def public_jwk(key: PrivateKey | PublicKey, kid: str | None = None, alg: str | None = None) -> dict[str, str]:
    """The public JWK of a key (for publishing a JWK Set, or registering a private_key_jwt client)."""
    pub = (
        key.public_key() if isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | Ed25519PrivateKey) else key
    )
    out: dict[str, str]
    if isinstance(pub, rsa.RSAPublicKey):
        numbers = pub.public_numbers()
        out = {"kty": "RSA", "n": b64url_encode(_int_bytes(numbers.n)), "e": b64url_encode(_int_bytes(numbers.e))}
    elif isinstance(pub, ec.EllipticCurvePublicKey):
        curve = _CURVE_NAMES[pub.curve.name]
        size = _CURVES[curve][1]
        nums = pub.public_numbers()
        out = {
            "kty": "EC",
            "crv": curve,
            "x": b64url_encode(nums.x.to_bytes(size, "big")),
            "y": b64url_encode(nums.y.to_bytes(size, "big")),
        }
    else:
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat  # noqa: PLC0415

        out = {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(pub.public_bytes(Encoding.Raw, PublicFormat.Raw))}
    out["use"] = "sig"
    if kid is not None:
        out["kid"] = kid
    if alg is not None:
        out["alg"] = alg
    return out


def _int_bytes(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8 or 1, "big")


@dataclass(frozen=True)
class ParsedJws:
    """A compact JWS split into its parts; nothing is verified yet."""

    header: dict[str, Any]
    payload: dict[str, Any]
    signing_input: bytes
    signature: bytes

    @property
    def alg(self) -> str:
        """The header's `alg`."""
        return str(self.header.get("alg"))

    @property
    def kid(self) -> str | None:
        """The header's `kid`, if a string."""
        kid = self.header.get("kid")
        return kid if isinstance(kid, str) else None


def parse_compact(token: str, max_length: int = 16384) -> ParsedJws:
    """Split a compact JWS whose header and payload are JSON objects. Raises MalformedJws."""
    if not isinstance(token, str) or len(token) > max_length:
        raise MalformedJws("token missing or too long")
    parts = token.split(".")
    if len(parts) != 3:  # a JWE has five parts: encrypted ID tokens are not supported
        raise MalformedJws("not a compact JWS (three dot-separated parts)")
    try:
        header = json.loads(b64url_decode(parts[0]))
        payload = json.loads(b64url_decode(parts[1]))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedJws("header or payload is not JSON") from exc
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise MalformedJws("header or payload is not a JSON object")
    if "crit" in header:  # no extension is understood, so any critical one must be refused (RFC 7515 4.1.11)
        raise MalformedJws("critical header extensions are not supported")
    return ParsedJws(header, payload, f"{parts[0]}.{parts[1]}".encode("ascii"), b64url_decode(parts[2]))


def verify(jws: ParsedJws, key: Jwk, allowed: frozenset[str]) -> None:
    """Check the signature with the key, the algorithm being in `allowed`. Raises a JwsError."""
    alg = jws.alg
    if alg not in allowed or alg not in _ALGORITHMS:
        raise UnsupportedAlgorithm(f"algorithm {alg[:20]!r} is not accepted")
    if not key.fits(alg):
        raise UnusableKey(f"key {key.kid!r} does not fit algorithm {alg}")
    spec = _ALGORITHMS[alg]
    pub = key.key
    try:
        if isinstance(pub, rsa.RSAPublicKey) and spec.hash is not None:
            pad: padding.AsymmetricPadding = (
                padding.PSS(mgf=padding.MGF1(spec.hash), salt_length=spec.hash.digest_size)
                if spec.pss
                else padding.PKCS1v15()
            )
            pub.verify(jws.signature, jws.signing_input, pad, spec.hash)
        elif isinstance(pub, ec.EllipticCurvePublicKey) and spec.hash is not None and spec.curve is not None:
            size = _CURVES[spec.curve][1]
            if len(jws.signature) != 2 * size:
                raise BadSignature("signature has the wrong length")
            r = int.from_bytes(jws.signature[:size], "big")
            s = int.from_bytes(jws.signature[size:], "big")
            pub.verify(encode_dss_signature(r, s), jws.signing_input, ec.ECDSA(spec.hash))
        elif isinstance(pub, Ed25519PublicKey):
            pub.verify(jws.signature, jws.signing_input)
        else:
            raise UnusableKey("key type does not fit the algorithm")
    except InvalidSignature as exc:
        raise BadSignature("signature does not verify") from exc


def sign_compact(payload: dict[str, Any], key: PrivateKey, alg: str, kid: str | None = None) -> str:
    """A compact JWS of the JSON payload (`typ` JWT), signed with the private key."""
    spec = _ALGORITHMS.get(alg)
    if spec is None:
        raise UnsupportedAlgorithm(f"algorithm {alg[:20]!r} is not supported")
    header: dict[str, str] = {"alg": alg, "typ": "JWT"}
    if kid is not None:
        header["kid"] = kid
    signing_input = (
        b64url_encode(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + b64url_encode(json.dumps(payload, separators=(",", ":")).encode())
    )
    data = signing_input.encode("ascii")
    if isinstance(key, rsa.RSAPrivateKey) and spec.kty == "RSA" and spec.hash is not None:
        pad: padding.AsymmetricPadding = (
            padding.PSS(mgf=padding.MGF1(spec.hash), salt_length=spec.hash.digest_size)
            if spec.pss
            else padding.PKCS1v15()
        )
        signature = key.sign(data, pad, spec.hash)
    elif isinstance(key, ec.EllipticCurvePrivateKey) and spec.kty == "EC" and spec.hash is not None:
        assert spec.curve is not None
        size = _CURVES[spec.curve][1]
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(spec.hash)))
        signature = r.to_bytes(size, "big") + s.to_bytes(size, "big")
    elif isinstance(key, Ed25519PrivateKey) and spec.kty == "OKP":
        signature = key.sign(data)
    else:
        raise UnusableKey(f"key does not fit algorithm {alg}")
    return signing_input + "." + b64url_encode(signature)


def hash_for(alg: str) -> hashes.HashAlgorithm:
    """The hash an algorithm uses (for `at_hash`: Ed25519 uses SHA-512 per OpenID's registry)."""
    spec = _ALGORITHMS.get(alg)
    if spec is None:
        raise UnsupportedAlgorithm(f"algorithm {alg[:20]!r} is not supported")
    return spec.hash if spec.hash is not None else hashes.SHA512()

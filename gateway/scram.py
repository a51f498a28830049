"""A Postgres SCRAM-SHA-256 password verifier, computed on the client (RFC 5802, RFC 7677).

`ALTER ROLE … PASSWORD '<verifier>'` stores the verifier as it is, so the plaintext password never travels in a
statement the server may log (`log_statement = ddl` or `all`). Postgres's own clients do the same (psql's
password command, libpq's `PQencryptPasswordConn`). The verifier is
`SCRAM-SHA-256$<iterations>:<base64 salt>$<base64 StoredKey>:<base64 ServerKey>`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import stringprep
import unicodedata

SCRAM_ITERATIONS = 4096
"""PBKDF2 iterations: Postgres's default (`scram_iterations`) and RFC 7677's minimum."""
SALT_BYTES = 16
"""Length of the random salt, as Postgres makes it."""


def _prohibited(char: str) -> bool:
    """SASLprep's prohibited output (RFC 4013, 2.3) and unassigned code points (A.1)."""
    return any(
        check(char)
        for check in (
            stringprep.in_table_a1,
            stringprep.in_table_c12,
            stringprep.in_table_c21_c22,
            stringprep.in_table_c3,
            stringprep.in_table_c4,
            stringprep.in_table_c5,
            stringprep.in_table_c6,
            stringprep.in_table_c7,
            stringprep.in_table_c8,
            stringprep.in_table_c9,
        )
    )


def saslprep(password: str) -> bytes:
    """The password's bytes as Postgres hashes them (`pg_saslprep`, RFC 4013).

    Pure ASCII is taken as it is. Otherwise non-ASCII spaces map to a space, "mapped to nothing" characters go,
    and the result is NFKC-normalised; a password SASLprep refuses (prohibited or unassigned characters, mixed
    bidirectional text) is used as its raw UTF-8 bytes, which is what Postgres does with it too.
    """
    raw = password.encode("utf-8")
    if password.isascii():
        return raw
    mapped = "".join(" " if stringprep.in_table_c12(c) else c for c in password if not stringprep.in_table_b1(c))
    prepared = unicodedata.normalize("NFKC", mapped)
    if not prepared or any(_prohibited(c) for c in prepared):
        return raw
    if any(stringprep.in_table_d1(c) for c in prepared):
        # RFC 3454, 6: RandALCat text has no LCat character and starts and ends with a RandALCat one.
        if any(stringprep.in_table_d2(c) for c in prepared):
            return raw
        if not (stringprep.in_table_d1(prepared[0]) and stringprep.in_table_d1(prepared[-1])):
            return raw
    return prepared.encode("utf-8")


def scram_sha256_verifier(password: str, *, salt: bytes | None = None, iterations: int = SCRAM_ITERATIONS) -> str:
    """The `SCRAM-SHA-256$…` verifier Postgres stores for `password` (a random 16-byte salt unless given)."""
    if iterations < 1:
        raise ValueError("SCRAM needs at least one iteration")
    salt = os.urandom(SALT_BYTES) if salt is None else salt
    salted = hashlib.pbkdf2_hmac("sha256", saslprep(password), salt, iterations)
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.digest(salted, b"Server Key", "sha256")

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode("ascii")

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"

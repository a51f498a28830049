"""`stablegate up`'s webhook KEK: a SoftHSM token of the ledger's own, and the move of older secrets under it.

Webhook signing secrets are envelope-encrypted under a key-encryption key held in a PKCS#11 token of the
ledger's own (docs/webhooks.md, "Envelope encryption"); `up` runs the ledger that way too, so local runs use the
production path:

- The token (label `stablegate-ledger-kek`) is made once, beside the signer's in the same SoftHSM token
  directory (so `stablegate backup create --hsm-token-dir` keeps both), with PINs generated here, marked
  `dev-only-` (the prod profile refuses them), kept in the state dir with mode 0600 and never committed. It is
  a token apart from the signer's: its own label, its own PINs, and the ledger opens no other.
- KEK version 1 is generated in it before the ledger first starts (a ledger whose token holds no KEK refuses to
  start).
- A state dir from before this change holds secrets sealed with the configuration key (`webhook-secret-key`):
  the ledger keeps that key to open them, and once `up` is ready `rewrap_legacy_secrets` re-wraps them under the
  KEK (`stablegate ledger kek rewrap`'s job, idempotent: nothing to do on later starts).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

from gateway import parts
from service_runtime.config import DEMO_SECRET_PREFIX

if TYPE_CHECKING:
    from ledger.kek import KekConfig

LEDGER_KEK_LABEL = "stablegate-ledger-kek"
"""The label of the ledger's KEK token in `up`'s SoftHSM token directory."""
SECRETS_FILE = "ledger-kek-token.json"
"""In the state dir, mode 0600: the label and PINs of the ledger's token."""


def ledger_kek_token(state: Path, signer_token: parts.SoftHsmToken) -> parts.SoftHsmToken:
    """The ledger's KEK token (made on first use, beside the signer's), holding at least one KEK version."""
    saved_file = state / SECRETS_FILE
    if saved_file.exists():
        saved = json.loads(saved_file.read_text())
        token = parts.SoftHsmToken(signer_token.conf, saved["label"], saved["so_pin"], saved["user_pin"])
    else:
        token = parts.SoftHsmToken(
            signer_token.conf,
            LEDGER_KEK_LABEL,
            so_pin=DEMO_SECRET_PREFIX + secrets.token_hex(8),
            user_pin=DEMO_SECRET_PREFIX + secrets.token_hex(8),
        )
        # The PINs are kept before the token is made: a crash in between leaves PINs for a token still to make,
        # never a token nobody can open.
        fd = os.open(saved_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump({"label": token.label, "so_pin": token.so_pin, "user_pin": token.user_pin}, out)
    util = parts.which("softhsm2-util", "run ./dev setup (apt-get install softhsm2)")
    env = {**os.environ, **token.env}
    slots = parts.run_checked([util, "--show-slots"], env=env)
    if not re.search(rf"^\s*Label:\s+{re.escape(token.label)}\s*$", slots, re.MULTILINE):
        parts.run_checked(
            [util, "--init-token", "--free", "--label", token.label, "--so-pin", token.so_pin, "--pin", token.user_pin],
            env=env,
        )
    _ensure_a_kek(token)
    return token


def _kek_config(token: parts.SoftHsmToken) -> KekConfig:
    from ledger.kek import KekConfig  # noqa: PLC0415 - the ledger's code loads only when `up` runs

    return KekConfig(token.module, token.label, token.user_pin, env=token.env)


def _ensure_a_kek(token: parts.SoftHsmToken) -> None:
    from ledger.kek import KekClient, KekError  # noqa: PLC0415

    client = KekClient(_kek_config(token))
    try:
        if not client.versions():
            client.create_next()
    except KekError as exc:
        raise parts.PartError(f"the ledger's KEK token {token.label!r}: {exc}") from None
    finally:
        client.close()


def ledger_kek_env(token: parts.SoftHsmToken) -> dict[str, str]:
    """The ledger's `WEBHOOK_KEK_*` settings for this token (its process also needs `token.env`)."""
    return {
        "STABLEGATE_LEDGER_WEBHOOK_KEK_TOKEN_LABEL": token.label,
        "STABLEGATE_LEDGER_WEBHOOK_KEK_PKCS11_MODULE": str(token.module),
        "STABLEGATE_LEDGER_WEBHOOK_KEK_PIN": token.user_pin,
    }


def rewrap_legacy_secrets(token: parts.SoftHsmToken, database_url: str, configuration_key: str) -> int:
    """Re-wrap every webhook secret not yet under the newest KEK (those sealed with the configuration key).

    Returns how many endpoints were rewritten; raises PartError if one's sealed values do not open.
    """
    from ledger.kek import KekClient, KekError  # noqa: PLC0415
    from ledger.kek_rotation import rewrap  # noqa: PLC0415
    from ledger.secretbox import EnvelopeBox, SecretBox, parse_key  # noqa: PLC0415

    box = EnvelopeBox(KekClient(_kek_config(token)), SecretBox(parse_key(configuration_key)))

    async def run() -> int:
        import asyncpg  # noqa: PLC0415

        conn = await asyncpg.connect(database_url, timeout=10)
        try:
            report = await rewrap(conn, box)
        finally:
            await conn.close()
        if report.refused:
            raise parts.PartError(
                f"{len(report.refused)} webhook endpoints' secrets did not open for re-wrapping "
                f"(first: {report.refused[0]}); see docs/webhooks.md"
            )
        return report.rewrapped

    try:
        return asyncio.run(run())
    except KekError as exc:
        raise parts.PartError(f"re-wrapping webhook secrets under the KEK failed: {exc}") from None
    finally:
        box.close()

"""Secrets the dashboard keeps at rest, sealed: AES-256-GCM with the key from its config (service_runtime/sealing.py).

The owner's id (a user id for a TOTP secret, a merchant id for the dashboard's read key) is the associated data,
so a sealed value copied onto another row does not open. Plaintexts leave this module only to check a code or to
call the ledger.
"""

from __future__ import annotations

from service_runtime.sealing import SealingKeyInvalid, new_dev_key, parse_key
from service_runtime.sealing import SecretBox as Sealer

__all__ = ["Sealer", "SealingKeyInvalid", "new_dev_key", "parse_key"]

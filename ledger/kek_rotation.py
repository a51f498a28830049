"""Rotating the webhook KEK without downtime: make a new version, re-wrap every data key, retire the old one.

1. `rotate`: a new KEK version is generated in the ledger's token. Every replica seals new secrets under it
   within KEK_REFRESH_SECONDS (the ledger looks at the token again after that); the job waits that long,
   then re-wraps.
2. `rewrap`: every sealed value of every webhook endpoint not yet under the newest version is re-wrapped, one
   endpoint per transaction (the row locked while it is rewritten). Only the 48-byte wrapped data key changes
   (format 1 values, sealed with the configuration key, are sealed anew). Idempotent: values already under the
   newest version are skipped, so a run that was stopped resumes where it was by running it again. Reads go
   on throughout: a value opens under whichever version wraps it while both are in the token.
3. `retire`: a version that is not the newest and that no stored value refers to any more is destroyed in the
   token. It refuses while a value still refers to it (run `rewrap` again: an endpoint rotated its own secret
   during the run, say).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter

import asyncpg

from ledger.kek import KekUnwrapRefused
from ledger.secretbox import KEK_REFRESH_SECONDS, EnvelopeBox, kek_version_of

SEALED_COLUMNS = ("secret_sealed", "previous_secret_sealed", "signing_key_sealed", "previous_signing_key_sealed")
"""Columns of ledger.webhook_endpoints that hold sealed values."""
BATCH = 200


@dataclasses.dataclass
class RewrapReport:
    """What one re-wrap run did: endpoints rewritten, endpoints already current, endpoints refused (ids)."""

    version: int
    rewrapped: int = 0
    current: int = 0
    refused: list[str] = dataclasses.field(default_factory=list)


async def references(conn: asyncpg.Connection) -> Counter[int | None]:
    """How many stored values each KEK version wraps (None: format 1, the configuration key)."""
    found: Counter[int | None] = Counter()
    cols = ", ".join(SEALED_COLUMNS)
    for row in await conn.fetch(f"SELECT {cols} FROM ledger.webhook_endpoints"):
        for col in SEALED_COLUMNS:
            if row[col] is not None:
                found[kek_version_of(bytes(row[col]))] += 1
    return found


async def rewrap(conn: asyncpg.Connection, box: EnvelopeBox, *, version: int | None = None) -> RewrapReport:
    """Re-wrap every stored value onto KEK `version` (default: the newest); see the module docstring."""
    target = version if version is not None else await asyncio.to_thread(box.current_version, fresh=True)
    report = RewrapReport(target)
    cols = ", ".join(SEALED_COLUMNS)
    after = ""
    while True:
        ids = [
            r["id"]
            for r in await conn.fetch(
                "SELECT id FROM ledger.webhook_endpoints WHERE id > $1 ORDER BY id LIMIT $2", after, BATCH
            )
        ]
        if not ids:
            return report
        for endpoint_id in ids:
            async with conn.transaction():
                row = await conn.fetchrow(
                    f"SELECT {cols} FROM ledger.webhook_endpoints WHERE id = $1 FOR UPDATE", endpoint_id
                )
                if row is None:
                    continue
                changed: dict[str, bytes] = {}
                try:
                    for col in SEALED_COLUMNS:
                        if row[col] is None:
                            continue
                        old = bytes(row[col])
                        new = await asyncio.to_thread(box.rewrap, old, endpoint_id, target)
                        if new != old:
                            changed[col] = new
                except (ValueError, KekUnwrapRefused):
                    report.refused.append(endpoint_id)
                    continue
                if not changed:
                    report.current += 1
                    continue
                sets = ", ".join(f"{col} = ${i + 2}" for i, col in enumerate(changed))
                await conn.execute(
                    f"UPDATE ledger.webhook_endpoints SET {sets} WHERE id = $1", endpoint_id, *changed.values()
                )
                report.rewrapped += 1
        after = ids[-1]


async def rotate(
    conn: asyncpg.Connection, box: EnvelopeBox, *, settle_seconds: float = KEK_REFRESH_SECONDS + 1
) -> RewrapReport:
    """Make the next KEK version, wait until every replica writes with it, and re-wrap everything onto it."""
    version = await asyncio.to_thread(box.kek.create_next)
    await asyncio.sleep(settle_seconds)
    return await rewrap(conn, box, version=version)


class RetireRefused(Exception):
    """A KEK version cannot be retired yet; the message says why and what to run."""


async def retire(conn: asyncpg.Connection, box: EnvelopeBox, version: int) -> None:
    """Destroy KEK `version` in the token once it is not the newest and nothing stored refers to it."""
    versions = await asyncio.to_thread(box.kek.versions)
    if version not in versions:
        raise RetireRefused(f"the token holds no KEK version {version} (it has {versions or 'none'})")
    if version == versions[-1]:
        raise RetireRefused(f"version {version} is the newest KEK; rotate first (`stablegate ledger kek rotate`)")
    still = (await references(conn))[version]
    if still:
        raise RetireRefused(
            f"{still} stored values are still wrapped under version {version}; run `stablegate ledger kek rewrap`"
        )
    await asyncio.to_thread(box.kek.destroy, version)

"""Settlement address rows."""

from __future__ import annotations

import datetime as dt

import asyncpg

from ledger.domain.settlement_addresses import SettlementAddressRecord

_COLUMNS = (
    "id, merchant_id, address, label, state, confirmed_by, cooling_off_end, code_expire_time, code_attempts, "
    "create_time, update_time, confirm_time, revoke_time"
)


def _record(r: asyncpg.Record) -> SettlementAddressRecord:
    return SettlementAddressRecord(
        id=r["id"],
        merchant_id=r["merchant_id"],
        address=r["address"],
        label=r["label"],
        state=r["state"],
        confirmed_by=r["confirmed_by"],
        cooling_off_end=r["cooling_off_end"],
        code_expire_time=r["code_expire_time"],
        code_attempts=int(r["code_attempts"]),
        create_time=r["create_time"],
        update_time=r["update_time"],
        confirm_time=r["confirm_time"],
        revoke_time=r["revoke_time"],
    )


async def insert(
    conn: asyncpg.Connection,
    record: SettlementAddressRecord,
    *,
    code_hash: bytes,
    request_id: str,
    request_hash: bytes,
) -> SettlementAddressRecord | None:
    """Insert a registration; None when the request id or a live registration of the address is taken."""
    r = await conn.fetchrow(
        "INSERT INTO ledger.settlement_addresses (id, merchant_id, address, label, state, code_hash, "
        "code_expire_time, cooling_off_end, request_id, request_hash, create_time, update_time) "
        f"VALUES ($1, $2, $3, $4, 'PENDING', $5, $6, $7, $8, $9, $10, $10) ON CONFLICT DO NOTHING RETURNING {_COLUMNS}",
        record.id,
        record.merchant_id,
        record.address,
        record.label,
        code_hash,
        record.code_expire_time,
        record.cooling_off_end,
        request_id,
        request_hash,
        record.create_time,
    )
    return _record(r) if r is not None else None


async def find_by_request(
    conn: asyncpg.Connection, merchant_id: str, request_id: str
) -> tuple[SettlementAddressRecord, bytes] | None:
    """The registration made under a request id, with its request hash."""
    r = await conn.fetchrow(
        f"SELECT {_COLUMNS}, request_hash FROM ledger.settlement_addresses WHERE merchant_id = $1 AND request_id = $2",
        merchant_id,
        request_id,
    )
    return (_record(r), bytes(r["request_hash"])) if r is not None else None


async def live_with_address(conn: asyncpg.Connection, merchant_id: str, address: str) -> SettlementAddressRecord | None:
    """The merchant's live (not revoked) registration of an address, if any."""
    r = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM ledger.settlement_addresses WHERE merchant_id = $1 AND lower(address) = lower($2) "
        "AND state <> 'REVOKED'",
        merchant_id,
        address,
    )
    return _record(r) if r is not None else None


async def count_live(conn: asyncpg.Connection, merchant_id: str) -> int:
    """How many live registrations the merchant has."""
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM ledger.settlement_addresses WHERE merchant_id = $1 AND state <> 'REVOKED'",
            merchant_id,
        )
    )


async def get(
    conn: asyncpg.Connection, merchant_id: str, address_id: str, *, lock: bool = False
) -> tuple[SettlementAddressRecord, bytes] | None:
    """One of the merchant's addresses with its code hash (locked for this transaction when `lock`)."""
    r = await conn.fetchrow(
        f"SELECT {_COLUMNS}, code_hash FROM ledger.settlement_addresses WHERE merchant_id = $1 AND id = $2"
        + (" FOR UPDATE" if lock else ""),
        merchant_id,
        address_id,
    )
    return (_record(r), bytes(r["code_hash"])) if r is not None else None


async def list_page(
    conn: asyncpg.Connection, merchant_id: str, *, after: tuple[dt.datetime, str] | None, limit: int
) -> list[SettlementAddressRecord]:
    """The merchant's addresses, newest first, after a (create_time, id) position."""
    if after is None:
        rows = await conn.fetch(
            f"SELECT {_COLUMNS} FROM ledger.settlement_addresses WHERE merchant_id = $1 "
            "ORDER BY create_time DESC, id DESC LIMIT $2",
            merchant_id,
            limit,
        )
    else:
        rows = await conn.fetch(
            f"SELECT {_COLUMNS} FROM ledger.settlement_addresses WHERE merchant_id = $1 "
            "AND (create_time, id) < ($3, $4) ORDER BY create_time DESC, id DESC LIMIT $2",
            merchant_id,
            limit,
            *after,
        )
    return [_record(r) for r in rows]


async def count_attempt(conn: asyncpg.Connection, address_id: str, now: dt.datetime) -> None:
    """Count a wrong code."""
    await conn.execute(
        "UPDATE ledger.settlement_addresses SET code_attempts = code_attempts + 1, update_time = $2 WHERE id = $1",
        address_id,
        now,
    )


async def confirm(
    conn: asyncpg.Connection, address_id: str, *, by: str, now: dt.datetime, approver: str = "", reason: str = ""
) -> SettlementAddressRecord:
    """Mark a pending address confirmed (by EMAIL_CODE or ADMIN)."""
    r = await conn.fetchrow(
        "UPDATE ledger.settlement_addresses SET state = 'CONFIRMED', confirmed_by = $2, confirm_time = $3, "
        f"update_time = $3, approved_by = $4, approve_reason = $5 WHERE id = $1 RETURNING {_COLUMNS}",
        address_id,
        by,
        now,
        approver,
        reason,
    )
    return _record(r)


async def revoke(conn: asyncpg.Connection, address_id: str, now: dt.datetime) -> SettlementAddressRecord:
    """Revoke an address."""
    r = await conn.fetchrow(
        "UPDATE ledger.settlement_addresses SET state = 'REVOKED', revoke_time = $2, update_time = $2 "
        f"WHERE id = $1 RETURNING {_COLUMNS}",
        address_id,
        now,
    )
    return _record(r)

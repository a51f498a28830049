"""API key and admin key rows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from ledger.domain.credentials import IpNetwork
from ledger.domain.models import ApiKeyRecord

_COLUMNS = (
    "id, merchant_id, name, prefix, mode, scopes, create_time, expire_time, revoke_time, last_used_time, "
    "allowed_ip_ranges, owner_address"
)


def _key(row: asyncpg.Record) -> ApiKeyRecord:
    return ApiKeyRecord(
        id=row["id"],
        merchant_id=row["merchant_id"],
        name=row["name"],
        prefix=row["prefix"],
        mode=row["mode"],
        scopes=tuple(row["scopes"]),
        create_time=row["create_time"],
        expire_time=row["expire_time"],
        revoke_time=row["revoke_time"],
        last_used_time=row["last_used_time"],
        allowed_ip_ranges=tuple(str(n) for n in row["allowed_ip_ranges"]),
        owner_address=row["owner_address"],
    )


@dataclass(frozen=True)
class KeyMatch:
    """What verification needs about the key a prefix names."""

    kind: str
    key_id: str
    secret_hash: bytes
    merchant_id: str | None
    merchant_status: str | None
    scopes: tuple[str, ...]
    roles: tuple[str, ...]
    name: str
    expire_time: dt.datetime | None
    revoke_time: dt.datetime | None
    allowed_ip_ranges: tuple[IpNetwork, ...] = ()


async def insert_api_key(
    conn: asyncpg.Connection,
    *,
    key_id: str,
    merchant_id: str,
    name: str,
    prefix: str,
    secret_hash: bytes,
    mode: str,
    scopes: list[str],
    expire_time: dt.datetime | None,
    request_id: str | None,
    request_hash: bytes | None,
    allowed_ip_ranges: Sequence[IpNetwork] = (),
    owner_address: str = "",
) -> ApiKeyRecord | None:
    """Store a new key; None when the merchant already used this request id (the caller decides)."""
    row = await conn.fetchrow(
        f"INSERT INTO ledger.api_keys (id, merchant_id, name, prefix, secret_hash, mode, scopes, expire_time, "
        f"request_id, request_hash, allowed_ip_ranges, owner_address) "
        f"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) "
        f"ON CONFLICT (merchant_id, request_id) DO NOTHING RETURNING {_COLUMNS}",
        key_id,
        merchant_id,
        name,
        prefix,
        secret_hash,
        mode,
        scopes,
        expire_time,
        request_id,
        request_hash,
        list(allowed_ip_ranges),
        owner_address,
    )
    return _key(row) if row is not None else None


async def find_by_request(
    conn: asyncpg.Connection, merchant_id: str, request_id: str
) -> tuple[ApiKeyRecord, bytes | None] | None:
    """A key issued earlier under this request id, with its request hash."""
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS}, request_hash FROM ledger.api_keys WHERE merchant_id = $1 AND request_id = $2",
        merchant_id,
        request_id,
    )
    if row is None:
        return None
    return _key(row), (bytes(row["request_hash"]) if row["request_hash"] is not None else None)


async def get_api_key(conn: asyncpg.Connection, merchant_id: str, key_id: str) -> ApiKeyRecord | None:
    """One of a merchant's keys."""
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM ledger.api_keys WHERE merchant_id = $1 AND id = $2", merchant_id, key_id
    )
    return _key(row) if row is not None else None


async def list_api_keys(
    conn: asyncpg.Connection, merchant_id: str, *, after: tuple[dt.datetime, str] | None, limit: int
) -> list[ApiKeyRecord]:
    """A merchant's keys, newest first."""
    if after is None:
        rows = await conn.fetch(
            f"SELECT {_COLUMNS} FROM ledger.api_keys WHERE merchant_id = $1 "
            "ORDER BY create_time DESC, id DESC LIMIT $2",
            merchant_id,
            limit,
        )
    else:
        rows = await conn.fetch(
            f"SELECT {_COLUMNS} FROM ledger.api_keys WHERE merchant_id = $1 AND (create_time, id) < ($3, $4) "
            "ORDER BY create_time DESC, id DESC LIMIT $2",
            merchant_id,
            limit,
            *after,
        )
    return [_key(r) for r in rows]


async def revoke_api_key(conn: asyncpg.Connection, merchant_id: str, key_id: str) -> ApiKeyRecord | None:
    """Revoke a key (idempotent: a revoked key keeps its first revoke time)."""
    row = await conn.fetchrow(
        f"UPDATE ledger.api_keys SET revoke_time = coalesce(revoke_time, now()) "
        f"WHERE merchant_id = $1 AND id = $2 RETURNING {_COLUMNS}",
        merchant_id,
        key_id,
    )
    return _key(row) if row is not None else None


async def insert_admin_key(
    conn: asyncpg.Connection,
    *,
    key_id: str,
    prefix: str,
    secret_hash: bytes,
    roles: list[str],
    name: str,
    allowed_ip_ranges: Sequence[IpNetwork] = (),
) -> None:
    """Store a new admin key."""
    await conn.execute(
        "INSERT INTO ledger.admin_keys (id, prefix, secret_hash, roles, name, allowed_ip_ranges) "
        "VALUES ($1, $2, $3, $4, $5, $6)",
        key_id,
        prefix,
        secret_hash,
        roles,
        name,
        list(allowed_ip_ranges),
    )


async def find_by_prefix(conn: asyncpg.Connection, kind: str, prefix: str) -> KeyMatch | None:
    """The merchant or admin key a lookup prefix names."""
    if kind == "merchant":
        row = await conn.fetchrow(
            "SELECT k.id, k.secret_hash, k.merchant_id, m.status, k.scopes, k.name, k.expire_time, k.revoke_time, "
            "k.allowed_ip_ranges "
            "FROM ledger.api_keys k JOIN ledger.merchants m ON m.id = k.merchant_id WHERE k.prefix = $1",
            prefix,
        )
        if row is None:
            return None
        return KeyMatch(
            "merchant",
            row["id"],
            bytes(row["secret_hash"]),
            row["merchant_id"],
            row["status"],
            tuple(row["scopes"]),
            (),
            row["name"],
            row["expire_time"],
            row["revoke_time"],
            tuple(row["allowed_ip_ranges"]),
        )
    row = await conn.fetchrow(
        "SELECT id, secret_hash, roles, name, revoke_time, allowed_ip_ranges FROM ledger.admin_keys WHERE prefix = $1",
        prefix,
    )
    if row is None:
        return None
    return KeyMatch(
        "admin",
        row["id"],
        bytes(row["secret_hash"]),
        None,
        None,
        (),
        tuple(row["roles"]),
        row["name"],
        None,
        row["revoke_time"],
        tuple(row["allowed_ip_ranges"]),
    )


async def touch(conn: asyncpg.Connection, kind: str, key_id: str) -> None:
    """Record that a key was used (callers throttle this)."""
    table = "ledger.api_keys" if kind == "merchant" else "ledger.admin_keys"
    await conn.execute(f"UPDATE {table} SET last_used_time = now() WHERE id = $1", key_id)

"""Webhook endpoints, deliveries and attempts in Postgres."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from ledger.domain.webhooks import Attempt, Delivery, Endpoint

_ENDPOINT = (
    "id, merchant_id, url, description, enabled_events, api_version, disabled, disabled_reason, secret_sealed, "
    "previous_secret_sealed, previous_secret_expire_time, failing_since, create_time, update_time, "
    "signing_algorithms, signing_key_sealed, signing_public_key, previous_signing_key_sealed"
)
_DELIVERY = (
    "id, endpoint_id, merchant_id, event_id, event_type, body, event_time, status, attempt_count, "
    "next_attempt_time, last_attempt_time, last_response_status, last_error, test, redelivery_of, create_time"
)
OPEN = ("PENDING", "RETRYING")


def _endpoint(row: asyncpg.Record) -> Endpoint:
    return Endpoint(
        id=row["id"],
        merchant_id=row["merchant_id"],
        url=row["url"],
        description=row["description"],
        enabled_events=tuple(row["enabled_events"]),
        api_version=row["api_version"],
        disabled=row["disabled"],
        disabled_reason=row["disabled_reason"],
        secret_sealed=bytes(row["secret_sealed"]),
        previous_secret_sealed=bytes(row["previous_secret_sealed"]) if row["previous_secret_sealed"] else None,
        previous_secret_expire_time=row["previous_secret_expire_time"],
        failing_since=row["failing_since"],
        create_time=row["create_time"],
        update_time=row["update_time"],
        signing_algorithms=tuple(row["signing_algorithms"]),
        signing_key_sealed=bytes(row["signing_key_sealed"]) if row["signing_key_sealed"] else None,
        signing_public_key=row["signing_public_key"],
        previous_signing_key_sealed=(
            bytes(row["previous_signing_key_sealed"]) if row["previous_signing_key_sealed"] else None
        ),
    )


def _delivery(row: asyncpg.Record, attempts: Sequence[Attempt] = ()) -> Delivery:
    return Delivery(
        id=row["id"],
        endpoint_id=row["endpoint_id"],
        merchant_id=row["merchant_id"],
        event_id=row["event_id"],
        event_type=row["event_type"],
        body=row["body"],
        event_time=row["event_time"],
        status=row["status"],
        attempt_count=row["attempt_count"],
        next_attempt_time=row["next_attempt_time"],
        last_attempt_time=row["last_attempt_time"],
        last_response_status=row["last_response_status"],
        last_error=row["last_error"],
        test=row["test"],
        redelivery_of=row["redelivery_of"],
        create_time=row["create_time"],
        attempts=tuple(attempts),
    )


# -- endpoints ------------------------------------------------------------------------------------------------


async def insert_endpoint(
    conn: asyncpg.Connection, endpoint: Endpoint, *, request_id: str, request_hash: bytes
) -> Endpoint | None:
    """Insert an endpoint; None when the merchant already used the request id."""
    row = await conn.fetchrow(
        f"INSERT INTO ledger.webhook_endpoints (id, merchant_id, request_id, request_hash, url, description, "
        f"enabled_events, api_version, secret_sealed, create_time, update_time, signing_algorithms, "
        f"signing_key_sealed, signing_public_key) "
        f"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11, $12, $13) ON CONFLICT DO NOTHING "
        f"RETURNING {_ENDPOINT}",
        endpoint.id,
        endpoint.merchant_id,
        request_id,
        request_hash,
        endpoint.url,
        endpoint.description,
        list(endpoint.enabled_events),
        endpoint.api_version,
        endpoint.secret_sealed,
        endpoint.create_time,
        list(endpoint.signing_algorithms),
        endpoint.signing_key_sealed,
        endpoint.signing_public_key,
    )
    return _endpoint(row) if row is not None else None


async def find_by_request(conn: asyncpg.Connection, merchant_id: str, request_id: str) -> tuple[Endpoint, bytes] | None:
    """The endpoint a create with this request id made, and that request's hash."""
    row = await conn.fetchrow(
        f"SELECT {_ENDPOINT}, request_hash FROM ledger.webhook_endpoints WHERE merchant_id = $1 AND request_id = $2",
        merchant_id,
        request_id,
    )
    return (_endpoint(row), bytes(row["request_hash"])) if row is not None else None


async def get_endpoint(
    conn: asyncpg.Connection, merchant_id: str, endpoint_id: str, *, for_update: bool = False
) -> Endpoint | None:
    """One of the merchant's endpoints (deleted ones and other merchants' are not found)."""
    lock = " FOR UPDATE" if for_update else ""
    row = await conn.fetchrow(
        f"SELECT {_ENDPOINT} FROM ledger.webhook_endpoints WHERE merchant_id = $1 AND id = $2 "
        f"AND delete_time IS NULL{lock}",
        merchant_id,
        endpoint_id,
    )
    return _endpoint(row) if row is not None else None


async def rotate_request_id(conn: asyncpg.Connection, endpoint_id: str) -> str | None:
    """The request id of the endpoint's last rotation."""
    value: str | None = await conn.fetchval(
        "SELECT rotate_request_id FROM ledger.webhook_endpoints WHERE id = $1", endpoint_id
    )
    return value


async def list_endpoints(
    conn: asyncpg.Connection, merchant_id: str, *, after: tuple[dt.datetime, str] | None, limit: int
) -> list[Endpoint]:
    """The merchant's endpoints, newest first, after a (create_time, id) position."""
    if after is None:
        rows = await conn.fetch(
            f"SELECT {_ENDPOINT} FROM ledger.webhook_endpoints WHERE merchant_id = $1 AND delete_time IS NULL "
            "ORDER BY create_time DESC, id DESC LIMIT $2",
            merchant_id,
            limit,
        )
    else:
        rows = await conn.fetch(
            f"SELECT {_ENDPOINT} FROM ledger.webhook_endpoints WHERE merchant_id = $1 AND delete_time IS NULL "
            "AND (create_time, id) < ($3, $4) ORDER BY create_time DESC, id DESC LIMIT $2",
            merchant_id,
            limit,
            *after,
        )
    return [_endpoint(r) for r in rows]


UPDATABLE = ("url", "description", "enabled_events", "disabled", "api_version")


async def update_endpoint(
    conn: asyncpg.Connection, endpoint_id: str, changes: dict[str, Any], now: dt.datetime
) -> Endpoint:
    """Set the given fields (names from UPDATABLE); re-enabling clears the reason and the failure streak."""
    sets = ["update_time = $2"]
    args: list[Any] = [endpoint_id, now]
    for name, value in changes.items():
        assert name in UPDATABLE
        args.append(list(value) if name == "enabled_events" else value)
        sets.append(f"{name} = ${len(args)}")
    if changes.get("disabled") is False:
        sets += ["disabled_reason = ''", "failing_since = NULL"]
    elif changes.get("disabled") is True:
        sets.append("disabled_reason = ''")
    row = await conn.fetchrow(
        f"UPDATE ledger.webhook_endpoints SET {', '.join(sets)} WHERE id = $1 RETURNING {_ENDPOINT}", *args
    )
    assert row is not None
    return _endpoint(row)


async def delete_endpoint(conn: asyncpg.Connection, endpoint_id: str, now: dt.datetime) -> None:
    """Mark the endpoint deleted; its open deliveries fail."""
    await conn.execute(
        "UPDATE ledger.webhook_endpoints SET delete_time = $2, update_time = $2 WHERE id = $1", endpoint_id, now
    )
    await conn.execute(
        "UPDATE ledger.webhook_deliveries SET status = 'FAILED', next_attempt_time = NULL, "
        "last_error = 'endpoint deleted' WHERE endpoint_id = $1 AND status IN ('PENDING', 'RETRYING')",
        endpoint_id,
    )


async def rotate(
    conn: asyncpg.Connection,
    endpoint_id: str,
    *,
    secret_sealed: bytes,
    previous_sealed: bytes,
    previous_expire_time: dt.datetime,
    request_id: str | None,
    now: dt.datetime,
    signing_key_sealed: bytes | None = None,
    signing_public_key: str = "",
    previous_signing_key_sealed: bytes | None = None,
) -> Endpoint:
    """Make a new current secret (and ed25519 key, if given).

    The old ones are kept (sealed) until `previous_expire_time`.
    """
    row = await conn.fetchrow(
        f"UPDATE ledger.webhook_endpoints SET secret_sealed = $2, previous_secret_sealed = $3, "
        f"previous_secret_expire_time = $4, rotate_request_id = $5, update_time = $6, signing_key_sealed = $7, "
        f"signing_public_key = $8, previous_signing_key_sealed = $9 WHERE id = $1 "
        f"RETURNING {_ENDPOINT}",
        endpoint_id,
        secret_sealed,
        previous_sealed,
        previous_expire_time,
        request_id,
        now,
        signing_key_sealed,
        signing_public_key,
        previous_signing_key_sealed,
    )
    assert row is not None
    return _endpoint(row)


async def subscribers(conn: asyncpg.Connection, merchant_ids: Sequence[str]) -> list[Endpoint]:
    """The enabled endpoints of these merchants (the fan-out filters them by event type)."""
    rows = await conn.fetch(
        f"SELECT {_ENDPOINT} FROM ledger.webhook_endpoints WHERE merchant_id = ANY($1::text[]) "
        "AND delete_time IS NULL AND NOT disabled",
        list(merchant_ids),
    )
    return [_endpoint(r) for r in rows]


async def disable(conn: asyncpg.Connection, endpoint_id: str, reason: str, now: dt.datetime) -> bool:
    """Disable an endpoint with a reason; False if it was already disabled or deleted."""
    done = await conn.fetchval(
        "UPDATE ledger.webhook_endpoints SET disabled = true, disabled_reason = $2, update_time = $3 "
        "WHERE id = $1 AND NOT disabled AND delete_time IS NULL RETURNING true",
        endpoint_id,
        reason,
        now,
    )
    return bool(done)


async def mark_failing(
    conn: asyncpg.Connection, endpoint_id: str, failed: bool, now: dt.datetime
) -> dt.datetime | None:
    """Start (or keep) the endpoint's failure streak, or end it on success; returns when the streak began."""
    if not failed:
        await conn.execute(
            "UPDATE ledger.webhook_endpoints SET failing_since = NULL WHERE id = $1 AND failing_since IS NOT NULL",
            endpoint_id,
        )
        return None
    since: dt.datetime | None = await conn.fetchval(
        "UPDATE ledger.webhook_endpoints SET failing_since = coalesce(failing_since, $2) WHERE id = $1 "
        "RETURNING failing_since",
        endpoint_id,
        now,
    )
    return since


# -- deliveries -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewDelivery:
    """A delivery to insert."""

    id: str
    endpoint_id: str
    merchant_id: str
    event_id: str
    event_type: str
    order_key: str | None
    body: str
    event_time: dt.datetime
    next_attempt_time: dt.datetime
    create_time: dt.datetime
    test: bool = False
    redelivery_of: str | None = None
    request_id: str | None = None


async def insert_deliveries(conn: asyncpg.Connection, deliveries: Sequence[NewDelivery]) -> int:
    """Insert deliveries in the given order (their seq follows it); an original already made is skipped."""
    if not deliveries:
        return 0
    columns = (
        "id",
        "endpoint_id",
        "merchant_id",
        "event_id",
        "event_type",
        "order_key",
        "body",
        "event_time",
        "next_attempt_time",
        "create_time",
        "test",
        "redelivery_of",
        "request_id",
    )
    types = ("text",) * 7 + ("timestamptz",) * 3 + ("boolean", "text", "text")
    arrays = [[getattr(d, c) for d in deliveries] for c in columns]
    unnest = ", ".join(f"${i + 1}::{t}[]" for i, t in enumerate(types))
    result = await conn.execute(
        f"INSERT INTO ledger.webhook_deliveries ({', '.join(columns)}) "
        f"SELECT {', '.join(columns)} FROM unnest({unnest}) WITH ORDINALITY AS u({', '.join(columns)}, n) ORDER BY n "
        "ON CONFLICT DO NOTHING",
        *arrays,
    )
    return int(result.split()[-1])


@dataclass(frozen=True)
class Claimed:
    """A delivery claimed for one attempt, with what sending it needs from its endpoint."""

    delivery: Delivery
    endpoint: Endpoint
    endpoint_deleted: bool


async def claim_due(conn: asyncpg.Connection, now: dt.datetime, lease_seconds: float, limit: int) -> list[Claimed]:
    """Lease up to `limit` due deliveries nobody else holds (FOR UPDATE SKIP LOCKED), in due order.

    A delivery with an order key is due only when no earlier delivery with the same (endpoint, order key) is
    still open: per-invoice order. The lease (database time) lets another sender take over a crashed one's work.
    """
    rows = await conn.fetch(
        "WITH due AS (SELECT d.id FROM ledger.webhook_deliveries d "
        "WHERE d.status IN ('PENDING', 'RETRYING') AND d.next_attempt_time <= $1 "
        "AND (d.lease_until IS NULL OR d.lease_until <= clock_timestamp()) "
        "AND (d.order_key IS NULL OR NOT EXISTS (SELECT 1 FROM ledger.webhook_deliveries e "
        "WHERE e.endpoint_id = d.endpoint_id AND e.order_key = d.order_key AND e.seq < d.seq "
        "AND e.status IN ('PENDING', 'RETRYING'))) "
        "ORDER BY d.next_attempt_time, d.seq LIMIT $3 FOR UPDATE OF d SKIP LOCKED) "
        "UPDATE ledger.webhook_deliveries w SET lease_until = clock_timestamp() + make_interval(secs => $2) "
        "FROM due WHERE w.id = due.id RETURNING w.seq, " + ", ".join(f"w.{c}" for c in _DELIVERY.split(", ")),
        now,
        lease_seconds,
        limit,
    )
    if not rows:
        return []
    endpoint_rows = await conn.fetch(
        f"SELECT {_ENDPOINT}, delete_time FROM ledger.webhook_endpoints WHERE id = ANY($1::text[])",
        list({r["endpoint_id"] for r in rows}),
    )
    endpoints = {r["id"]: (_endpoint(r), r["delete_time"] is not None) for r in endpoint_rows}
    ordered = sorted(rows, key=lambda r: r["seq"])
    return [Claimed(_delivery(r), *endpoints[r["endpoint_id"]]) for r in ordered]


async def next_due_time(conn: asyncpg.Connection, after: dt.datetime) -> dt.datetime | None:
    """When the next open delivery falls due, after `after` (for the sender's sleep)."""
    value: dt.datetime | None = await conn.fetchval(
        "SELECT min(next_attempt_time) FROM ledger.webhook_deliveries "
        "WHERE status IN ('PENDING', 'RETRYING') AND next_attempt_time > $1",
        after,
    )
    return value


async def backlog(conn: asyncpg.Connection, now: dt.datetime) -> tuple[int, float]:
    """How many open deliveries are due at `now`, and for how many seconds the oldest of them has been due."""
    row = await conn.fetchrow(
        "SELECT count(*) AS due, extract(epoch FROM $1 - min(next_attempt_time))::float8 AS oldest "
        "FROM ledger.webhook_deliveries WHERE status IN ('PENDING', 'RETRYING') AND next_attempt_time <= $1",
        now,
    )
    assert row is not None
    return int(row["due"]), max(float(row["oldest"] or 0.0), 0.0)


async def lease_wait_seconds(conn: asyncpg.Connection, now: dt.datetime) -> float | None:
    """Seconds until the first lease of a due, open delivery runs out (a crashed sender's work), if any."""
    value: float | None = await conn.fetchval(
        "SELECT extract(epoch FROM min(lease_until) - clock_timestamp())::float8 FROM ledger.webhook_deliveries "
        "WHERE status IN ('PENDING', 'RETRYING') AND next_attempt_time <= $1 AND lease_until > clock_timestamp()",
        now,
    )
    return value


async def record_attempt(
    conn: asyncpg.Connection,
    delivery_id: str,
    attempt: Attempt,
    *,
    status: str,
    next_attempt_time: dt.datetime | None,
) -> None:
    """Store an attempt and the delivery's new status, and release its lease."""
    await conn.execute(
        "INSERT INTO ledger.webhook_attempts (delivery_id, attempt_number, attempt_time, response_status, "
        "duration_ms, error, response_excerpt) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        delivery_id,
        attempt.attempt_number,
        attempt.attempt_time,
        attempt.response_status,
        attempt.duration_ms,
        attempt.error,
        attempt.response_excerpt,
    )
    await conn.execute(
        "UPDATE ledger.webhook_deliveries SET status = $2, next_attempt_time = $3, attempt_count = $4, "
        "last_attempt_time = $5, last_response_status = $6, last_error = $7, lease_until = NULL WHERE id = $1",
        delivery_id,
        status,
        next_attempt_time,
        attempt.attempt_number,
        attempt.attempt_time,
        attempt.response_status,
        attempt.error,
    )


async def fail_without_attempt(conn: asyncpg.Connection, delivery_id: str, error: str) -> None:
    """Give up on a delivery without sending it (its endpoint was disabled or deleted)."""
    await conn.execute(
        "UPDATE ledger.webhook_deliveries SET status = 'FAILED', next_attempt_time = NULL, last_error = $2, "
        "lease_until = NULL WHERE id = $1",
        delivery_id,
        error,
    )


async def _attempts(conn: asyncpg.Connection, delivery_ids: Sequence[str]) -> dict[str, list[Attempt]]:
    rows = await conn.fetch(
        "SELECT delivery_id, attempt_number, attempt_time, response_status, duration_ms, error, response_excerpt "
        "FROM ledger.webhook_attempts WHERE delivery_id = ANY($1::text[]) ORDER BY delivery_id, attempt_number",
        list(delivery_ids),
    )
    found: dict[str, list[Attempt]] = {}
    for r in rows:
        found.setdefault(r["delivery_id"], []).append(
            Attempt(
                r["attempt_number"],
                r["attempt_time"],
                r["response_status"],
                r["duration_ms"],
                r["error"],
                r["response_excerpt"],
            )
        )
    return found


async def get_delivery(conn: asyncpg.Connection, endpoint_id: str, delivery_id: str) -> Delivery | None:
    """One delivery of an endpoint, with its attempts."""
    row = await conn.fetchrow(
        f"SELECT {_DELIVERY} FROM ledger.webhook_deliveries WHERE endpoint_id = $1 AND id = $2",
        endpoint_id,
        delivery_id,
    )
    if row is None:
        return None
    return _delivery(row, (await _attempts(conn, [row["id"]])).get(row["id"], ()))


async def find_delivery_by_request(conn: asyncpg.Connection, endpoint_id: str, request_id: str) -> Delivery | None:
    """The delivery a redeliver or test call with this request id made."""
    delivery_id = await conn.fetchval(
        "SELECT id FROM ledger.webhook_deliveries WHERE endpoint_id = $1 AND request_id = $2", endpoint_id, request_id
    )
    return await get_delivery(conn, endpoint_id, delivery_id) if delivery_id is not None else None


async def list_deliveries(
    conn: asyncpg.Connection,
    endpoint_id: str,
    *,
    status: str | None,
    event_type: str | None,
    after: tuple[dt.datetime, str] | None,
    limit: int,
    invoice_id: str | None = None,
) -> list[Delivery]:
    """An endpoint's deliveries with their attempts, newest first, filtered, after a (create_time, id) position.

    `invoice_id` keeps the deliveries of events about that invoice: those ordered by it (`order_key`) and the
    redeliveries of their events (which carry no order key but the same event id).
    """
    args: list[Any] = [endpoint_id, limit]
    where = ["endpoint_id = $1"]
    if status is not None:
        args.append(status)
        where.append(f"status = ${len(args)}")
    if event_type is not None:
        args.append(event_type)
        where.append(f"event_type = ${len(args)}")
    if invoice_id is not None:
        args.append(invoice_id)
        where.append(
            f"event_id IN (SELECT event_id FROM ledger.webhook_deliveries WHERE endpoint_id = $1 "
            f"AND order_key = ${len(args)})"
        )
    if after is not None:
        args.extend(after)
        where.append(f"(create_time, id) < (${len(args) - 1}, ${len(args)})")
    rows = await conn.fetch(
        f"SELECT {_DELIVERY} FROM ledger.webhook_deliveries WHERE {' AND '.join(where)} "
        "ORDER BY create_time DESC, id DESC LIMIT $2",
        *args,
    )
    attempts = await _attempts(conn, [r["id"] for r in rows])
    return [_delivery(r, attempts.get(r["id"], ())) for r in rows]


async def failed_since(conn: asyncpg.Connection, endpoint_id: str, since: dt.datetime, limit: int) -> list[Delivery]:
    """An endpoint's FAILED deliveries created at or after `since`, oldest first."""
    rows = await conn.fetch(
        f"SELECT {_DELIVERY} FROM ledger.webhook_deliveries WHERE endpoint_id = $1 AND status = 'FAILED' "
        "AND create_time >= $2 ORDER BY create_time, id LIMIT $3",
        endpoint_id,
        since,
        limit,
    )
    return [_delivery(r) for r in rows]

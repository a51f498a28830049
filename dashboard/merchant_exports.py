"""The merchant pages' tables as CSV (dashboard/exports.py), each under the same permission as its page.

Invoices (with the page's filters), payouts, refunds, an endpoint's webhook deliveries, API keys (their names and
prefixes: a key's secret is never stored, so never exported) and settlement addresses.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from urllib.parse import urlencode

from aiohttp import web

from dashboard import pages
from dashboard.domain.rbac import Permission
from dashboard.exports import NotFound, Row, add_csv, when
from dashboard.merchant_client import DeliveryView, PayoutView, SettlementApi
from dashboard.merchant_pages import invoice_query
from dashboard.store import users as store

PREFIX = pages.PREFIX
UserFor = Callable[[web.Request, Permission, str], Awaitable[store.User]]
_ENDPOINT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")

INVOICES = ("invoice_id", "status", "amount", "asset", "description", "create_time_utc")
PAYOUTS = (
    "payout_id", "trigger", "status", "approval_id", "failure_reason", "amount", "fee", "total", "asset",
    "destination_address", "tx_hash", "create_time_utc",
)  # fmt: skip
REFUNDS = ("refund_id", "invoice_id", "status", "amount", "asset", "refund_address", "tx_hash", "create_time_utc")
DELIVERIES = (
    "delivery_id", "event_id", "event_type", "status", "attempts", "last_response_status", "last_error",
    "endpoint_url", "last_attempt_time_utc",
)  # fmt: skip
KEYS = ("key_id", "name", "prefix", "scopes", "status", "create_time_utc", "last_use_time_utc")
ADDRESSES = ("address_id", "address", "label", "status", "cooling_off_end_time_utc", "create_time_utc")


def invoices_csv_href(request: web.Request) -> str:
    """The invoices CSV link repeating the page's current filters."""
    q = invoice_query(request)
    query = urlencode({k: v for k, v in (("status", q.status), ("from", q.start_text), ("to", q.end_text)) if v})
    return f"{PREFIX}/invoices.csv" + (f"?{query}" if query else "")


def payout_row(p: PayoutView) -> Row:
    """A payout as its CSV row (PAYOUTS)."""
    return (
        p.id, p.trigger.lower(), p.status, p.approval_id, p.failure_reason, p.amount, p.fee, p.total, p.asset,
        p.destination_address, p.tx_hash, when(p.create_time),
    )  # fmt: skip


def delivery_row(d: DeliveryView, url: str) -> Row:
    """A webhook delivery as its CSV row (DELIVERIES)."""
    return (
        d.id, d.event_id, d.event_type, d.status, d.attempt_count, d.last_response_status or "", d.last_error, url,
        when(d.last_attempt_time),
    )  # fmt: skip


def install(
    app: web.Application,
    *,
    user_for: UserFor,
    api: Callable[[], SettlementApi],
    merchant_key: Callable[[str], Awaitable[str]],
    admin_key: Callable[[], str],
) -> None:
    """Add the merchant tables' CSV routes (called by dashboard.merchant_pages.install with its own helpers)."""

    def guard(needs: Permission, what: str) -> Callable[[web.Request], Awaitable[store.User]]:
        async def check(request: web.Request) -> store.User:
            return await user_for(request, needs, what)

        return check

    def named(stem: str) -> Callable[[web.Request], str]:
        return lambda _: f"{stem}.csv"

    async def key_of(user: store.User) -> str:
        assert user.merchant_id is not None
        return await merchant_key(user.merchant_id)

    async def invoices(request: web.Request, user: store.User) -> Sequence[Row]:
        q = invoice_query(request)
        listed = await api().invoices(await key_of(user), status=q.status, start=q.start, end=q.end)
        return [(i.id, i.status, i.amount, i.asset, i.description, when(i.create_time)) for i in listed]

    async def payouts(request: web.Request, user: store.User) -> Sequence[Row]:
        return [payout_row(p) for p in await api().payouts(await key_of(user))]

    async def refunds(request: web.Request, user: store.User) -> Sequence[Row]:
        return [
            (r.id, r.invoice_id, r.status, r.amount, r.asset, r.refund_address, r.tx_hash, when(r.create_time))
            for r in await api().refunds(await key_of(user))
        ]

    async def deliveries(request: web.Request, user: store.User) -> Sequence[Row]:
        key = await key_of(user)
        endpoint = await api().endpoint(key, request.match_info["id"])
        return [delivery_row(d, endpoint.url) for d in await api().deliveries(key, endpoint.id)]

    async def keys(request: web.Request, user: store.User) -> Sequence[Row]:
        if user.merchant_id is None:
            raise NotFound
        return [
            (k.id, k.name, k.prefix, " ".join(k.scopes), k.status, when(k.create_time), when(k.last_use_time))
            for k in await api().keys(admin_key(), user.merchant_id)
        ]

    async def addresses(request: web.Request, user: store.User) -> Sequence[Row]:
        return [
            (a.id, a.address, a.label, a.status, when(a.cooling_off_end_time), when(a.create_time))
            for a in await api().addresses(await key_of(user))
        ]

    see_payouts = guard(Permission.VIEW_PAYOUTS, "see payouts")
    add_csv(app, f"{PREFIX}/invoices.csv", guard=guard(Permission.VIEW_INVOICES, "see invoices"), header=INVOICES,
            load=invoices, filename=named("invoices"))  # fmt: skip
    add_csv(app, f"{PREFIX}/payouts.csv", guard=see_payouts, header=PAYOUTS, load=payouts, filename=named("payouts"))
    add_csv(app, f"{PREFIX}/refunds.csv", guard=see_payouts, header=REFUNDS, load=refunds, filename=named("refunds"))
    add_csv(app, f"{PREFIX}/webhooks/{{id:{_ENDPOINT_ID.pattern}}}/deliveries.csv",
            guard=guard(Permission.VIEW_WEBHOOKS, "see webhooks"), header=DELIVERIES, load=deliveries,
            filename=lambda r: f"deliveries_{r.match_info['id']}.csv")  # fmt: skip
    add_csv(app, f"{PREFIX}/api-keys.csv", guard=guard(Permission.VIEW_API_KEYS, "see API keys"), header=KEYS,
            load=keys, filename=named("api_keys"))  # fmt: skip
    add_csv(app, f"{PREFIX}/settlement-addresses.csv", guard=guard(Permission.VIEW_PAYOUTS, "see settlement addresses"),
            header=ADDRESSES, load=addresses, filename=named("settlement_addresses"))  # fmt: skip

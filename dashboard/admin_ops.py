"""The admin's read-only operations pages: health of every part and settlement's reconciliation runs.

Both read the services over the mesh with the dashboard's own certificate (`dashboard/ops_client.py`), never their
databases; the services' ROLES let the `dashboard` role call exactly these reads (docs/security.md). Any admin
session may view them (`admin` and `admin-readonly`); they change nothing, so they have no POST. Without an
admin session they redirect to the admin sign-in.

- `GET /dashboard/admin/health`: each part's gRPC health, the watcher's scan lag and provider breakers, the
  signer's freeze, judged OK/WARN/FAIL with the number shown (`dashboard/domain/health.py`). A part that does not
  answer is FAIL with the gRPC code; the page itself always renders. A part whose target is not configured
  (`STABLEGATE_DASHBOARD_WATCHER_TARGET`, `…_SETTLEMENT_TARGET`, `…_SIGNER_TARGET`) is left out.
- `GET /dashboard/admin/config`: each part's effective configuration from its own runtime
  (`runtime.v1.RuntimeConfigService/GetEffectiveConfig`, secrets masked by the part before they leave it), and
  the dashboard's own, masked the same way.
- `GET /dashboard/admin/reconciliation` and `…/reconciliation/<id>`: the runs, MATCHED or DIFFERENCE, and one
  run's balances with the differences first.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from aiohttp import web

from dashboard import admin_ops_pages as opages
from dashboard.admin import role_of
from dashboard.app import PREFIX, SETTINGS, current_session, html, see_other
from dashboard.domain import health
from dashboard.oidc_settings import AdminRole
from dashboard.ops_client import OpsClient, PartUnavailable, ReconReport
from dashboard.pages import message_page
from service_runtime import mesh
from service_runtime.config_view import effective_config

log = logging.getLogger("stablegate.dashboard.admin_ops")

OPS = web.AppKey("ops", OpsClient)
REPORT_ID = r"[A-Za-z0-9_-]{1,64}"


def _who(request: web.Request) -> str:
    session = current_session(request)
    return session.data.get("email") or session.data.get("name") or session.user_id


def _admin(request: web.Request) -> AdminRole:
    role = role_of(current_session(request))
    if role is None:
        raise see_other("/admin/login")
    return role


async def _watcher(ops: OpsClient) -> list[health.Reading]:
    try:
        view = await ops.watcher()
    except PartUnavailable as exc:
        return [health.unavailable("watcher", "scan lag (blocks)", f"gRPC {exc}")]
    lag = health.watcher_lag(view.lag_blocks, view.lag_seconds, view.head_block, view.cursor_block)
    return [lag, *(health.breaker("watcher", p.name, p.state, p.consecutive_failures) for p in view.providers)]


async def _settlement(ops: OpsClient) -> list[health.Reading]:
    try:
        view = await ops.settlement()
    except PartUnavailable as exc:
        return [health.unavailable("settlement", "status", f"gRPC {exc}")]
    readings = [health.breaker("settlement", p.name, p.state, p.consecutive_failures) for p in view.breakers]
    h = view.hot_cold
    if h is not None and h.error:
        readings.append(health.unavailable("settlement", "treasury (hot) balance", h.error))
    elif h is not None:
        readings.append(health.treasury(h.treasury, h.ceiling, h.target, h.floor, h.block_number))
        if h.cold is not None:
            readings.append(health.cold(h.cold, h.block_number))
    return readings


async def _signer(ops: OpsClient) -> list[health.Reading]:
    try:
        freeze = await ops.freeze()
    except PartUnavailable as exc:
        return [health.unavailable("signer", "signing", f"gRPC {exc}")]
    return [health.signer_freeze(freeze.frozen, freeze.reason)]


async def _ledger(ops: OpsClient) -> list[health.Reading]:
    try:
        due, oldest, retrying = await ops.dispatcher()
    except PartUnavailable as exc:
        return [health.unavailable("ledger", "webhook deliveries due", f"gRPC {exc}")]
    return [health.dispatcher_backlog(due, oldest, retrying)]


PART_READINGS: dict[str, Callable[[OpsClient], Awaitable[list[health.Reading]]]] = {
    "ledger": _ledger,
    "watcher": _watcher,
    "settlement": _settlement,
    "signer": _signer,
}
"""What each part reports beyond its gRPC health."""


async def _part_readings(ops: OpsClient, part: str) -> list[health.Reading]:
    try:
        status: str | None = await ops.health(part)
        problem = ""
    except PartUnavailable as exc:
        status, problem = None, f"gRPC {exc}"
    readings = [health.serving(part, status, problem)]
    if (more := PART_READINGS.get(part)) is not None:
        readings += await more(ops)
    return readings


def install(app: web.Application) -> None:  # noqa: PLR0915 - one closure per route, as in app.py
    """Add the health and reconciliation pages; their channels open with the app and close with it."""
    settings = app[SETTINGS]
    targets = {
        "ledger": settings.ledger_target,
        "watcher": settings.watcher_target,
        "settlement": settings.settlement_target,
        "signer": settings.signer_target,
    }

    async def open_channels(app: web.Application) -> None:
        channels = {part: mesh.channel(target, settings.tls) for part, target in targets.items() if target}
        app[OPS] = OpsClient(channels)

    async def close_channels(app: web.Application) -> None:
        channels: dict[str, grpc.aio.Channel] = app[OPS].channels
        for channel in channels.values():
            await channel.close(None)

    app.on_startup.append(open_channels)
    app.on_cleanup.append(close_channels)

    async def health_view(request: web.Request) -> web.StreamResponse:
        role = _admin(request)
        ops = request.app[OPS]
        parts = [part for part in targets if part in ops.channels]
        gathered = await asyncio.gather(*(_part_readings(ops, part) for part in parts))
        readings = [reading for group in gathered for reading in group]
        worst = health.overall(readings)
        body = opages.health_page(
            csrf=current_session(request).csrf, who=_who(request), role=role.value, readings=readings, worst=worst
        )
        return html(body)

    async def reports_view(request: web.Request) -> web.StreamResponse:
        role = _admin(request)
        ops = request.app[OPS]
        reports: list[ReconReport] | None = None
        problem = ""
        if "settlement" not in ops.channels:
            problem = "settlement is not configured (STABLEGATE_DASHBOARD_SETTLEMENT_TARGET)"
        else:
            try:
                reports = list(await ops.reconciliations())
            except PartUnavailable as exc:
                problem = f"settlement answered {exc}"
                log.warning("reconciliation reports unavailable", extra={"code": str(exc)})
        body = opages.reconciliation_page(
            csrf=current_session(request).csrf, who=_who(request), role=role.value, reports=reports, problem=problem
        )
        return html(body, 200 if reports is not None else 503)

    async def report_view(request: web.Request) -> web.StreamResponse:
        _admin(request)
        ops = request.app[OPS]
        if "settlement" not in ops.channels:
            return html(message_page("Unavailable", "settlement is not configured.", ident="unavailable"), 503)
        try:
            report = await ops.reconciliation(request.match_info["report_id"])
        except PartUnavailable as exc:
            text = f"settlement answered {exc}; try again."
            return html(message_page("Unavailable", text, ident="unavailable"), 503)
        if report is None:
            return html(message_page("Not found", "There is no such reconciliation run.", ident="not-found"), 404)
        body = opages.reconciliation_report_page(csrf=current_session(request).csrf, who=_who(request), report=report)
        return html(body)

    async def config_view(request: web.Request) -> web.StreamResponse:
        role = _admin(request)
        ops = request.app[OPS]
        parts = [part for part in targets if part in ops.channels]

        async def one(part: str) -> tuple[str, dict[str, Any] | None, str]:
            try:
                return part, await ops.config(part), ""
            except PartUnavailable as exc:
                return part, None, f"{part} answered {exc}"

        shown = [*await asyncio.gather(*(one(part) for part in parts)), ("dashboard", effective_config(settings), "")]
        body = opages.config_page(csrf=current_session(request).csrf, who=_who(request), role=role.value, parts=shown)
        return html(body)

    app.router.add_get(f"{PREFIX}/admin/health", health_view)
    app.router.add_get(f"{PREFIX}/admin/config", config_view)
    app.router.add_get(f"{PREFIX}/admin/reconciliation", reports_view)
    app.router.add_get(f"{PREFIX}/admin/reconciliation/{{report_id:{REPORT_ID}}}", report_view)

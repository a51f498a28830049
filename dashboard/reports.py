"""Report pages, CSV exports and scheduled report emails (docs/dashboard.md, "Reports"); RBAC on the server.

- Merchant users (`/dashboard/reports`, `…/volume.csv`, `…/performance.csv`): always their own merchant, taken from
  their account, never from the request; the team roles owner, finance and read-only may see reports, a developer
  gets 403.
- Admins (`/dashboard/admin/reports…`): the total over every merchant or one merchant (`?merchant=`); both admin
  roles may read.
- Both may subscribe to a daily or weekly email of the report (their own scope) and unsubscribe; the scheduler
  (dashboard/report_schedule.py) runs in every replica.

The figures come from the ledger's ReportService; the dashboard never reads the ledger's database.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import re
import secrets
from dataclasses import dataclass

from aiohttp import web

from dashboard import report_pages as rp
from dashboard.admin import MERCHANT_ID, role_of
from dashboard.app import PARTS, PREFIX, SETTINGS, current_session, html, see_other, session_user
from dashboard.ledger_client import LedgerClient, LedgerRefused, LedgerUnavailable
from dashboard.pages import message_page
from dashboard.report_data import BUCKETS, ReportClient, performance_csv, volume_csv
from dashboard.report_schedule import REPORT_ROLES, ReportScheduler, first_run
from dashboard.store import subscriptions as subs

log = logging.getLogger("stablegate.dashboard.reports")

DEFAULT_DAYS = 30
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_MERCHANT = re.compile(MERCHANT_ID)
_SUB_ID = r"rsub_[A-Za-z0-9_-]{8,64}"
SCHEDULER = web.AppKey("report_scheduler", list[asyncio.Task[None]])


@dataclass(frozen=True)
class Viewer:
    """Who is looking at reports: their scope (a merchant, or None for every merchant) and subscription owner."""

    owner: str
    email: str
    who: str
    merchant_id: str | None
    admin: bool


def filters(request: web.Request, today: dt.date, *, admin: bool) -> rp.Filters:
    """The page's filters from the query; anything malformed falls back to the default (the last 30 days, daily)."""
    query = request.query
    bucket = query.get("bucket", "day")
    start = query.get("start", "")
    end = query.get("end", "")
    merchant = query.get("merchant", "") if admin else ""
    return rp.Filters(
        bucket=bucket if bucket in BUCKETS else "day",
        start=start if _DATE.fullmatch(start) else (today - dt.timedelta(days=DEFAULT_DAYS - 1)).isoformat(),
        end=end if _DATE.fullmatch(end) else today.isoformat(),
        merchant=merchant if _MERCHANT.fullmatch(merchant) else "",
    )


def csv_response(text: str, filename: str) -> web.Response:
    """A CSV download: text/csv, UTF-8, as an attachment with a safe file name."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", filename)
    return web.Response(
        text=text,
        content_type="text/csv",
        charset="utf-8",
        headers={"content-disposition": f'attachment; filename="{safe}"'},
    )


def install(app: web.Application) -> None:  # noqa: PLR0915 - one closure per route, as in app.py
    """Add the report routes, and start the scheduler with the app (when its interval is above 0)."""
    settings = app[SETTINGS]
    parts = app[PARTS]

    def ledger() -> LedgerClient:
        assert parts.ledger is not None
        return parts.ledger

    def reports() -> ReportClient:
        return ReportClient.of(ledger())

    def today() -> dt.date:
        return parts.now().astimezone(dt.UTC).date()

    async def merchant_viewer(request: web.Request) -> Viewer:
        user = await session_user(request)
        if user.team_role not in REPORT_ROLES:
            log.info("refused: reports", extra={"user_id": user.id, "team_role": user.team_role})
            text = "Your role cannot see reports; ask an owner of this merchant."
            raise web.HTTPForbidden(text=message_page("Not allowed", text, ident="forbidden"), content_type="text/html")
        return Viewer(f"user:{user.id}", user.email, user.email, user.merchant_id, admin=False)

    def admin_viewer(request: web.Request, merchant: str) -> Viewer:
        session = current_session(request)
        if role_of(session) is None:
            raise see_other("/admin/login")
        email = session.data.get("email", "")
        who = email or session.data.get("name", "") or session.user_id
        return Viewer(f"admin:{session.user_id}", email, who, merchant or None, admin=True)

    async def page(request: web.Request, viewer: Viewer, f: rp.Filters, *, notice: str = "") -> web.Response:
        base = f"{PREFIX}/admin/reports" if viewer.admin else f"{PREFIX}/reports"
        error = ""
        volume = performance = None
        status = 200
        try:
            volume = await reports().volume(viewer.merchant_id, f.bucket, f.start, f.end)
            performance = await reports().performance(viewer.merchant_id, f.start, f.end)
        except LedgerRefused as exc:
            error, status = f"These filters cannot be shown: {exc}", 400
        except LedgerUnavailable:
            error, status = "Reports are unavailable right now; try again.", 503
        choices = None
        if viewer.admin:
            try:
                choices = [(m.id, m.name) for m in await ledger().list_merchants()]
            except (LedgerUnavailable, LedgerRefused):
                choices = []
        assert parts.pool is not None
        async with parts.pool.acquire() as conn:
            mine = [s for s in await subs.of_owner(conn, viewer.owner) if s.merchant_id == viewer.merchant_id]
        csrf = current_session(request).csrf
        scope = (
            "All merchants" if viewer.merchant_id is None else f"Merchant {viewer.merchant_id}"
        ) + f", {f.start} to {f.end} (UTC days)."
        if viewer.email:
            schedule = rp.subscriptions_section(
                csrf,
                f"{base}/subscriptions",
                mine,
                viewer.email,
                merchant=(viewer.merchant_id or "") if viewer.admin else "",
                notice=notice,
            )
        else:
            schedule = '<p class="hint" id="no-email">Your sign-in gave no email address: no scheduled emails.</p>'
        body = rp.reports_page(
            title="Reports",
            csrf=csrf,
            who=viewer.who,
            intro=scope,
            form=rp.filters_form(base, f, choices),
            volume=volume,
            performance=performance,
            volume_csv_href=f"{base}/volume.csv?{f.query()}",
            performance_csv_href=f"{base}/performance.csv?{f.query(with_bucket=False)}",
            show_merchants=viewer.admin,
            schedule=schedule,
            back=(f"{PREFIX}/admin/merchants", "Back to the merchants")
            if viewer.admin
            else (f"{PREFIX}/home", "Back to home"),
            error=error,
        )
        return html(body, status)

    def refused(exc: Exception) -> web.Response:
        if isinstance(exc, LedgerRefused):
            return html(
                message_page("Report refused", f"These filters cannot be exported: {exc}", ident="refused"), 400
            )
        return html(message_page("Unavailable", "Reports are unavailable right now; try again.", ident="failed"), 503)

    async def volume_file(viewer: Viewer, f: rp.Filters) -> web.Response:
        try:
            report = await reports().volume(viewer.merchant_id, f.bucket, f.start, f.end)
        except (LedgerRefused, LedgerUnavailable) as exc:
            return refused(exc)
        scope = viewer.merchant_id or "all"
        return csv_response(volume_csv(report), f"volume_{scope}_{f.bucket}_{report.start_date}_{report.end_date}.csv")

    async def performance_file(viewer: Viewer, f: rp.Filters) -> web.Response:
        try:
            report = await reports().performance(viewer.merchant_id, f.start, f.end)
        except (LedgerRefused, LedgerUnavailable) as exc:
            return refused(exc)
        scope = viewer.merchant_id or "all"
        return csv_response(performance_csv(report), f"performance_{scope}_{report.start_date}_{report.end_date}.csv")

    async def subscribe(request: web.Request, viewer: Viewer) -> web.StreamResponse:
        form = await request.post()
        frequency = form.get("frequency", "")
        base = "/admin/reports" if viewer.admin else "/reports"
        if frequency not in ("daily", "weekly") or not viewer.email:
            return html(message_page("Not subscribed", "Choose daily or weekly.", ident="bad-frequency"), 400)
        assert parts.pool is not None
        async with parts.pool.acquire() as conn:
            added = await subs.add(
                conn,
                sub_id="rsub_" + secrets.token_urlsafe(12),
                owner=viewer.owner,
                email=viewer.email,
                merchant_id=viewer.merchant_id,
                frequency=str(frequency),
                next_run_time=first_run(str(frequency), parts.now()),
            )
        log.info("report subscription", extra={"owner": viewer.owner, "frequency": frequency, "added": added})
        scope = f"&merchant={viewer.merchant_id}" if viewer.admin and viewer.merchant_id else ""
        raise see_other(f"{base}?subscribed={'1' if added else '0'}{scope}")

    async def unsubscribe(request: web.Request, viewer: Viewer) -> web.StreamResponse:
        base = "/admin/reports" if viewer.admin else "/reports"
        assert parts.pool is not None
        async with parts.pool.acquire() as conn:
            removed = await subs.remove(conn, request.match_info["sub_id"], viewer.owner)
        if not removed:
            return html(message_page("Not found", "There is no such subscription of yours.", ident="not-found"), 404)
        raise see_other(f"{base}?unsubscribed=1")

    def notice_of(request: web.Request) -> str:
        if request.query.get("subscribed") == "1":
            return "Subscribed: the report will be emailed to you."
        if request.query.get("subscribed") == "0":
            return "You already receive this report at that frequency."
        if request.query.get("unsubscribed") == "1":
            return "Unsubscribed."
        return ""

    # --- merchant users ---

    async def merchant_page(request: web.Request) -> web.StreamResponse:
        viewer = await merchant_viewer(request)
        return await page(request, viewer, filters(request, today(), admin=False), notice=notice_of(request))

    async def merchant_volume(request: web.Request) -> web.StreamResponse:
        return await volume_file(await merchant_viewer(request), filters(request, today(), admin=False))

    async def merchant_performance(request: web.Request) -> web.StreamResponse:
        return await performance_file(await merchant_viewer(request), filters(request, today(), admin=False))

    async def merchant_subscribe(request: web.Request) -> web.StreamResponse:
        return await subscribe(request, await merchant_viewer(request))

    async def merchant_unsubscribe(request: web.Request) -> web.StreamResponse:
        return await unsubscribe(request, await merchant_viewer(request))

    # --- admins ---

    async def admin_page(request: web.Request) -> web.StreamResponse:
        f = filters(request, today(), admin=True)
        return await page(request, admin_viewer(request, f.merchant), f, notice=notice_of(request))

    async def admin_volume(request: web.Request) -> web.StreamResponse:
        f = filters(request, today(), admin=True)
        return await volume_file(admin_viewer(request, f.merchant), f)

    async def admin_performance(request: web.Request) -> web.StreamResponse:
        f = filters(request, today(), admin=True)
        return await performance_file(admin_viewer(request, f.merchant), f)

    async def admin_subscribe(request: web.Request) -> web.StreamResponse:
        raw = (await request.post()).get("merchant", "")
        merchant = raw if isinstance(raw, str) and _MERCHANT.fullmatch(raw) else ""
        viewer = admin_viewer(request, merchant)
        if merchant:
            # A subscription for a merchant the ledger does not know would fail at every send: refuse it now.
            day = today().isoformat()
            try:
                await reports().performance(merchant, day, day)
            except (LedgerRefused, LedgerUnavailable) as exc:
                return refused(exc)
        return await subscribe(request, viewer)

    async def admin_unsubscribe(request: web.Request) -> web.StreamResponse:
        return await unsubscribe(request, admin_viewer(request, ""))

    app.router.add_get(f"{PREFIX}/reports", merchant_page)
    app.router.add_get(f"{PREFIX}/reports/volume.csv", merchant_volume)
    app.router.add_get(f"{PREFIX}/reports/performance.csv", merchant_performance)
    app.router.add_post(f"{PREFIX}/reports/subscriptions", merchant_subscribe)
    app.router.add_post(f"{PREFIX}/reports/subscriptions/{{sub_id:{_SUB_ID}}}/delete", merchant_unsubscribe)
    app.router.add_get(f"{PREFIX}/admin/reports", admin_page)
    app.router.add_get(f"{PREFIX}/admin/reports/volume.csv", admin_volume)
    app.router.add_get(f"{PREFIX}/admin/reports/performance.csv", admin_performance)
    app.router.add_post(f"{PREFIX}/admin/reports/subscriptions", admin_subscribe)
    app.router.add_post(f"{PREFIX}/admin/reports/subscriptions/{{sub_id:{_SUB_ID}}}/delete", admin_unsubscribe)

    async def start_scheduler(_: web.Application) -> None:
        if settings.report_schedule_interval_seconds <= 0 or parts.pool is None:
            return
        scheduler = ReportScheduler(parts.pool, reports, lambda: parts.mailer)
        app[SCHEDULER].append(
            asyncio.create_task(scheduler.run_forever(settings.report_schedule_interval_seconds, parts.now))
        )

    async def stop_scheduler(_: web.Application) -> None:
        for task in app[SCHEDULER]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app[SCHEDULER] = []
    app.on_startup.append(start_scheduler)
    app.on_cleanup.append(stop_scheduler)

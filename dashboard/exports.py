"""Every table of the dashboard as CSV: one route helper for all of them (docs/dashboard.md, "CSV exports").

A table's CSV route runs the same access check as its page (the page's guard: a signed-out visitor is sent to the
login page, a role that may not see the page gets 403) and the same query as its page, then answers with
`dashboard.reports.csv_response` (text/csv, an attachment) of `dashboard.report_data.csv_text` (every cell made
formula-safe). Amounts are the services' exact decimal strings, never floats.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Sequence
from html import escape as e
from typing import TypeVar

from aiohttp import web

from dashboard import pages
from dashboard.ledger_client import LedgerRefused, LedgerUnavailable
from dashboard.report_data import csv_text
from dashboard.reports import csv_response

log = logging.getLogger("stablegate.dashboard.exports")
V = TypeVar("V")
Row = Sequence[object]
Guard = Callable[[web.Request], Awaitable[V]]
"""The page's access check: the viewer, or raises (a redirect to the login page, a 403 page)."""
Load = Callable[[web.Request, V], Awaitable[Sequence[Row]]]
"""The page's rows for this viewer and request (the same filters)."""


class NotFound(Exception):
    """The table's subject (an endpoint, a run) does not exist for this viewer."""


def when(moment: dt.datetime | None) -> str:
    """A time as the CSV writes it: ISO 8601 in UTC, or empty."""
    return moment.astimezone(dt.UTC).isoformat() if moment is not None else ""


def add_csv(
    app: web.Application,
    path: str,
    *,
    guard: Guard[V],
    header: Sequence[str],
    load: Load[V],
    filename: Callable[[web.Request], str],
) -> None:
    """Add `GET path` answering the table as a CSV download, under the page's own guard."""

    async def download(request: web.Request) -> web.StreamResponse:
        viewer = await guard(request)
        try:
            rows = await load(request, viewer)
        except (NotFound, LedgerRefused):
            return web.Response(status=404, text="There is no such table.", content_type="text/plain")
        except LedgerUnavailable:
            log.warning("export unavailable", extra={"path": request.path}, exc_info=True)
            return web.Response(status=503, text="The gateway is unavailable; try again.", content_type="text/plain")
        return csv_response(csv_text(header, rows), filename(request))

    app.router.add_get(path, download)


def csv_link(href: str, ident: str, what: str = "this table") -> str:
    """The download link a table page shows under its table."""
    return f'<p class="export"><a id="{e(ident)}" href="{e(href)}" download>Download {e(what)} as CSV</a></p>'


def href(path: str, query: str = "") -> str:
    """A dashboard path (and query string) for a CSV link."""
    return f"{pages.PREFIX}{path}" + (f"?{query}" if query else "")

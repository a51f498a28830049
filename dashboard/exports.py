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
from typing import TypeVar

from aiohttp import web

from dashboard.ledger_client import LedgerRefused, LedgerUnavailable
from dashboard.ops_client import PartUnavailable
from dashboard.report_data import csv_text
from dashboard.reports import csv_response
from dashboard.signer_client import SignerRefused, SignerUnavailable

log = logging.getLogger("stablegate.dashboard.exports")
V = TypeVar("V")
Row = Sequence[object]
Guard = Callable[[web.Request], Awaitable[V]]
"""The page's access check: the viewer, or raises (a redirect to the login page, a 403 page)."""
Load = Callable[[web.Request, V], Awaitable[Sequence[Row]]]
"""The page's rows for this viewer and request (the same filters)."""


class NotFound(Exception):
    """The table's subject (an endpoint, a run) does not exist for this viewer."""


class Unavailable(Exception):
    """The part holding the table is not configured or does not answer."""


def when(moment: dt.datetime | None) -> str:
    """A time as the pages show it (UTC, to the second: `2026-11-26 07:13:00`), or empty."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S") if moment is not None else ""


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
        except (LedgerUnavailable, SignerUnavailable, SignerRefused, PartUnavailable, Unavailable):
            log.warning("export unavailable", extra={"path": request.path}, exc_info=True)
            return web.Response(status=503, text="The gateway is unavailable; try again.", content_type="text/plain")
        return csv_response(csv_text(header, rows), filename(request))

    app.router.add_get(path, download)

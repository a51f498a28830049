"""The report pages' HTML: server-rendered SVG charts (no script), tables, filters and subscriptions; no I/O.

Each chart is an `<svg role="img">` with a title and a description naming its largest and total values, and the
same figures follow in a table (with its CSV export), so nothing is only in the picture. Bar heights are integer
arithmetic on base units: no float touches an amount.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from dashboard.pages import csrf_field, e, layout
from dashboard.report_data import (
    PerformanceReport,
    PerformanceRow,
    VolumePoint,
    VolumeReport,
    duration,
    percent,
)
from dashboard.store.subscriptions import Subscription

CHART_WIDTH = 640
CHART_HEIGHT = 200
PLOT_TOP = 10
PLOT_BOTTOM = 170
BUCKET_LABELS = (("day", "Day"), ("week", "Week"), ("month", "Month"))
FREQUENCIES = (
    ("daily", "Daily (yesterday's report, sent after midnight UTC)"),
    ("weekly", "Weekly (last week, sent on Mondays)"),
)


@dataclass(frozen=True)
class Filters:
    """What the report form asks: bucket, first and last day, and (admins) a merchant."""

    bucket: str
    start: str
    end: str
    merchant: str = ""

    def query(self, *, with_bucket: bool = True) -> str:
        """The query string that repeats these filters (for CSV links)."""
        parts = [f"start={e(self.start)}", f"end={e(self.end)}"]
        if with_bucket:
            parts.insert(0, f"bucket={e(self.bucket)}")
        if self.merchant:
            parts.append(f"merchant={e(self.merchant)}")
        return "&amp;".join(parts)


def bar_chart(
    ident: str, title: str, points: Sequence[VolumePoint], value: Callable[[VolumePoint], tuple[int, str]], asset: str
) -> str:
    """One bar per bucket; heights proportional to base units (integer division), negatives drawn as zero."""
    values = [value(p) for p in points]
    biggest = max([v for v, _ in values] + [0])
    scale = max(biggest, 1)
    count = max(len(points), 1)
    slot = (CHART_WIDTH - 20) * 1000 // count  # thousandths of a unit, to keep the arithmetic in integers
    bars = []
    for i, (p, (amount, shown)) in enumerate(zip(points, values, strict=True)):
        height = max(amount, 0) * (PLOT_BOTTOM - PLOT_TOP) // scale
        if amount > 0 and height == 0:
            height = 1
        x = 10 + i * slot // 1000
        width = max(slot * 8 // 10 // 1000, 1)
        bars.append(
            f'<rect x="{x}" y="{PLOT_BOTTOM - height}" width="{width}" height="{height}" fill="#1a56db">'
            f"<title>{e(p.start_date)}: {e(shown)} {e(asset)}</title></rect>"
        )
    marks = sorted({0, len(points) // 2, len(points) - 1}) if points else []
    labels = "".join(
        f'<text x="{10 + i * slot // 1000}" y="{CHART_HEIGHT - 12}" font-size="12" fill="#333">'
        f"{e(points[i].start_date)}</text>"
        for i in marks
        if 0 <= i < len(points)
    )
    peak = max(range(len(values)), key=lambda i: values[i][0]) if values else -1
    peak_text = f"highest {values[peak][1]} {asset} in the bucket of {points[peak].start_date}" if peak >= 0 else ""
    first = points[0].start_date if points else ""
    desc = f"{len(points)} buckets from {first}; {peak_text}. The table below lists every value."
    return (
        f'<figure class="chart" id="{ident}">'
        f'<svg role="img" aria-labelledby="{ident}-title {ident}-desc" viewBox="0 0 {CHART_WIDTH} {CHART_HEIGHT}" '
        f'width="100%" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{ident}-title">{e(title)}</title><desc id="{ident}-desc">{e(desc)}</desc>'
        f'<line x1="8" y1="{PLOT_BOTTOM}" x2="{CHART_WIDTH - 8}" y2="{PLOT_BOTTOM}" stroke="#767676"/>'
        f"{''.join(bars)}{labels}</svg>"
        f"<figcaption>{e(title)}</figcaption></figure>"
    )


def filters_form(action: str, f: Filters, merchants: Sequence[tuple[str, str]] | None = None) -> str:
    """The GET form choosing the range and bucket (and, for admins, the merchant)."""
    buckets = "".join(
        f'<option value="{v}"{" selected" if v == f.bucket else ""}>{label}</option>' for v, label in BUCKET_LABELS
    )
    choose = ""
    if merchants is not None:
        options = '<option value="">All merchants</option>' + "".join(
            f'<option value="{e(mid)}"{" selected" if mid == f.merchant else ""}>{e(name)} ({e(mid)})</option>'
            for mid, name in merchants
        )
        choose = f'<label for="merchant">Merchant</label><select id="merchant" name="merchant">{options}</select>'
    return (
        f'<form method="get" action="{action}" id="report-filters" class="filters">{choose}'
        f'<label for="bucket">Per</label><select id="bucket" name="bucket">{buckets}</select>'
        '<label for="start">From (UTC day)</label>'
        f'<input id="start" name="start" type="date" value="{e(f.start)}" required>'
        '<label for="end">To (UTC day, included)</label>'
        f'<input id="end" name="end" type="date" value="{e(f.end)}" required>'
        '<button type="submit" id="show">Show</button></form>'
    )


def volume_table(report: VolumeReport, csv_href: str) -> str:
    """Every bucket's figures, the total, and the CSV link."""

    def row(label: str, p: VolumePoint, head: bool = False) -> str:
        cell = f'<th scope="row">{e(label)}</th>' if head else f"<td>{e(label)}</td>"
        return (
            f"<tr>{cell}<td class='num'>{p.invoices_paid}</td><td class='num'>{p.payments}</td>"
            f"<td class='num'>{e(p.volume)}</td><td class='num'>{e(p.fees)}</td>"
            f"<td class='num'>{e(p.revenue)}</td></tr>"
        )

    rows = "".join(row(p.start_date, p) for p in report.points)
    return (
        f'<p><a id="volume-csv" href="{csv_href}" download>Download this table as CSV</a></p>'
        '<div class="table-wrap" tabindex="0" role="region" aria-label="Volume table">'
        f'<table id="volume-table"><caption>Volume, fees and revenue per {e(report.bucket)} '
        f"({e(report.asset)})</caption><thead><tr><th scope='col'>From</th><th scope='col'>Invoices paid</th>"
        "<th scope='col'>Payments</th><th scope='col'>Volume</th><th scope='col'>Fees</th>"
        f"<th scope='col'>Revenue</th></tr></thead><tbody>{rows}</tbody>"
        f"<tfoot>{row('Total', report.total, head=True)}</tfoot></table></div>"
    )


def performance_table(report: PerformanceReport, csv_href: str, *, show_merchants: bool) -> str:
    """Invoice performance per merchant (admins) or the merchant's own, with the CSV link."""

    def row(p: PerformanceRow, label: str, head: bool = False) -> str:
        cell = f'<th scope="row">{e(label)}</th>' if head else f"<td>{e(label)}</td>"
        return (
            f"<tr>{cell}<td class='num'>{p.invoices}</td><td class='num'>{p.paid}</td>"
            f"<td class='num'>{e(percent(p.conversion_bps))}</td><td class='num'>{e(percent(p.underpaid_bps))}</td>"
            f"<td class='num'>{e(percent(p.late_bps))}</td><td class='num'>{p.expired}</td>"
            f"<td class='num'>{e(duration(p.median_seconds_to_pay))}</td></tr>"
        )

    body = "".join(row(p, f"{p.merchant_name} ({p.merchant_id})") for p in report.rows) if show_merchants else ""
    total = row(report.total, "All merchants" if show_merchants else "Your invoices", head=True)
    return (
        f'<p><a id="performance-csv" href="{csv_href}" download>Download this table as CSV</a></p>'
        '<div class="table-wrap" tabindex="0" role="region" aria-label="Performance table">'
        '<table id="performance-table"><caption>Invoices created '
        f"{e(report.start_date)} to {e(report.end_date)}: how they fared</caption><thead><tr>"
        "<th scope='col'>Merchant</th><th scope='col'>Invoices</th><th scope='col'>Paid</th>"
        "<th scope='col'>Conversion</th><th scope='col'>Underpaid</th><th scope='col'>Late</th>"
        "<th scope='col'>Expired</th><th scope='col'>Median time to pay</th></tr></thead>"
        f"<tbody>{body}</tbody><tfoot>{total}</tfoot></table></div>"
    )


def subscriptions_section(
    csrf: str, action: str, subscriptions: Sequence[Subscription], email: str, *, merchant: str = "", notice: str = ""
) -> str:
    """The user's scheduled report emails, and the form to add one."""
    items = "".join(
        f'<li id="subscription-{e(s.id)}">{e(s.frequency.capitalize())} to {e(s.email)}'
        f" for {e(s.merchant_id or 'all merchants')}"
        f" · next {e(s.next_run_time.strftime('%Y-%m-%d %H:%M'))} UTC"
        f'<form method="post" action="{action}/{e(s.id)}/delete" class="inline">{csrf_field(csrf)}'
        f'<button type="submit" id="unsubscribe-{e(s.id)}">Unsubscribe</button></form></li>'
        for s in subscriptions
    )
    listing = (
        f'<ul id="subscriptions">{items}</ul>' if items else '<p id="no-subscriptions">No scheduled emails yet.</p>'
    )
    options = "".join(f'<option value="{v}">{e(label)}</option>' for v, label in FREQUENCIES)
    hidden = f'<input type="hidden" name="merchant" value="{e(merchant)}">' if merchant else ""
    note = f'<p class="notice" id="subscription-notice" role="status">{e(notice)}</p>' if notice else ""
    return (
        '<section id="schedule-section" aria-labelledby="schedule-h"><h2 id="schedule-h">Scheduled emails</h2>'
        f"<p class='hint'>The volume and performance reports as CSV attachments, to {e(email)}.</p>{note}{listing}"
        f'<form method="post" action="{action}" id="subscribe-form">{csrf_field(csrf)}{hidden}'
        f'<label for="frequency">How often</label><select id="frequency" name="frequency">{options}</select>'
        '<button type="submit" id="subscribe">Email me this report</button></form></section>'
    )


def reports_page(
    *,
    title: str,
    csrf: str,
    who: str,
    intro: str,
    form: str,
    volume: VolumeReport | None,
    performance: PerformanceReport | None,
    volume_csv_href: str,
    performance_csv_href: str,
    show_merchants: bool,
    schedule: str,
    back: tuple[str, str],
    error: str = "",
) -> str:
    """A reports page: filters, three charts, the two tables with their CSV, the scheduled emails."""
    problem = f'<p class="error" id="report-error" role="alert">{e(error)}</p>' if error else ""
    charts = tables = ""
    if volume is not None:
        asset = volume.asset
        charts = (
            '<section id="charts" aria-labelledby="charts-h"><h2 id="charts-h">Over time</h2>'
            + bar_chart(
                "chart-volume",
                f"Volume per {volume.bucket} ({asset})",
                volume.points,
                lambda p: (p.volume_base_units, p.volume),
                asset,
            )
            + bar_chart(
                "chart-revenue",
                f"Merchant revenue per {volume.bucket} ({asset})",
                volume.points,
                lambda p: (p.revenue_base_units, p.revenue),
                asset,
            )
            + bar_chart(
                "chart-fees",
                f"Platform fees per {volume.bucket} ({asset})",
                volume.points,
                lambda p: (p.fees_base_units, p.fees),
                asset,
            )
            + "</section>"
        )
        tables += (
            '<section id="volume-section" aria-labelledby="volume-h"><h2 id="volume-h">Volume</h2>'
            f"{volume_table(volume, volume_csv_href)}</section>"
        )
    if performance is not None:
        tables += (
            '<section id="performance-section" aria-labelledby="performance-h"><h2 id="performance-h">Performance</h2>'
            f"{performance_table(performance, performance_csv_href, show_merchants=show_merchants)}</section>"
        )
    href, label = back
    body = (
        f'<p class="hint" id="report-scope">{e(intro)}</p>'
        f'<p><a id="back-link" href="{href}">{e(label)}</a></p>'
        f"{form}{problem}{charts}{tables}{schedule}"
    )
    return layout(title, body, csrf=csrf, who=who)

"""HTML of the admin health and reconciliation pages (pure functions, every value escaped; pages.py's layout)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dashboard.domain.health import Level, Reading
from dashboard.ops_client import ReconReport
from dashboard.pages import PREFIX, ROLE_LABELS, csv_link, e, layout


def _admin_nav() -> str:
    return (
        '<nav class="admin-nav" aria-label="Admin pages">'
        f'<a href="{PREFIX}/admin/merchants">Merchants</a> · <a href="{PREFIX}/admin/health">Health</a> · '
        f'<a href="{PREFIX}/admin/reconciliation">Reconciliation</a> · '
        f'<a href="{PREFIX}/admin/config">Configuration</a></nav>'
    )


def _scroll(label: str) -> str:
    """A horizontally scrollable table wrapper that keyboard users can focus (axe: scrollable-region-focusable)."""
    return f'<div class="table-wrap" tabindex="0" role="region" aria-label="{e(label)}">'


def _badge(level: Level) -> str:
    kind = {Level.OK: "ok", Level.WARN: "warn", Level.FAIL: "fail"}[level]
    return f'<span class="badge {kind} level">{e(level.value)}</span>'


def _slug(text: str) -> str:
    """An id fragment: lower-case letters and digits, runs of anything else as one dash."""
    return "-".join("".join(ch if ch.isalnum() else " " for ch in text.lower()).split())


def health_page(*, csrf: str, who: str, role: str, readings: Sequence[Reading], worst: Level) -> str:
    """Every part's readings with OK/WARN/FAIL and the number each is based on."""
    rows = "".join(
        f'<tr id="health-{_slug(r.part)}-{_slug(r.what)}"><td><strong>{e(r.part)}</strong> {e(r.what)}'
        + (f'<br><span class="hint detail">{e(r.detail)}</span>' if r.detail else "")
        + f'</td><td>{_badge(r.level)}</td><td class="value">{e(r.value)}</td></tr>'
        for r in readings
    )
    body = (
        f"{_admin_nav()}"
        f'<p class="hint">Signed in as {e(who)} · {e(ROLE_LABELS.get(role, role))}</p>'
        f'<p id="overall">Overall: {_badge(worst)}</p>'
        f'{_scroll("Readings")}<table id="health"><caption>Each part, read now over the mesh</caption>'
        '<thead><tr><th scope="col">Part and reading</th><th scope="col">Level</th>'
        '<th scope="col">Value</th></tr></thead>'
        f"<tbody>{rows}</tbody></table></div>"
    )
    return layout("Health", body, csrf=csrf, who=who)


def reconciliation_page(
    *, csrf: str, who: str, role: str, reports: Sequence[ReconReport] | None, problem: str = ""
) -> str:
    """Settlement's reconciliation runs, newest first."""
    if reports is None:
        listing = f'<p class="error" id="reports-unavailable">Reconciliation reports are unavailable: {e(problem)}</p>'
    elif not reports:
        listing = '<p id="no-reports">No reconciliation has run yet.</p>'
    else:
        rows = "".join(
            f'<tr id="report-{e(r.id)}"><td><a href="{PREFIX}/admin/reconciliation/{e(r.id)}" class="mono">'
            f"{e(r.id)}</a></td>"
            f'<td>{_result_badge(r.status)}</td><td class="num">{r.mismatch_count}</td>'
            f'<td class="num">{r.block_number}</td>'
            f"<td>{e(r.create_time.strftime('%Y-%m-%d %H:%M:%S') if r.create_time else '')}</td></tr>"
            for r in reports
        )
        listing = (
            f'{_scroll("Runs")}<table id="reports"><caption>Reconciliation runs, newest first</caption>'
            '<thead><tr><th scope="col">Run</th><th scope="col">Result</th><th scope="col">Differences</th>'
            '<th scope="col">Block</th><th scope="col">Started (UTC)</th></tr></thead>'
            f"<tbody>{rows}</tbody></table></div>"
        ) + csv_link(f"{PREFIX}/admin/reconciliation.csv", "reports-csv", "the runs")
    body = f'{_admin_nav()}<p class="hint">Signed in as {e(who)} · {e(ROLE_LABELS.get(role, role))}</p>{listing}'
    return layout("Reconciliation", body, csrf=csrf, who=who)


def _result_badge(status: str) -> str:
    shown = {"MISMATCHED": "DIFFERENCE"}.get(status, status)
    kind = {"MATCHED": "ok", "MISMATCHED": "fail", "FAILED": "fail", "RUNNING": "open"}.get(status, "off")
    return f'<span class="badge {kind} result">{e(shown)}</span>'


def reconciliation_report_page(*, csrf: str, who: str, report: ReconReport) -> str:
    """One run: its result and each account's chain and ledger balances, differences first."""
    lines = sorted(report.lines, key=lambda line: line.status != "MISMATCHED")
    rows = "".join(
        f'<tr class="line-{e(line.status.lower())}"><td>{e(line.account)}<br>'
        f'<span class="mono">{e(line.address)}</span></td>'
        f"<td>{_result_badge(line.status)}</td>"
        f'<td class="num">{e(line.chain_balance)}</td><td class="num">{e(line.ledger_balance)}</td>'
        f'<td class="num difference">{e(line.difference)}</td><td>{e(line.note)}</td></tr>'
        for line in lines
    )
    error = f'<p class="error" id="report-error">{e(report.error)}</p>' if report.error else ""
    body = (
        f"{_admin_nav()}"
        f'<p id="report-result">Result: {_result_badge(report.status)} · {report.mismatch_count} differences · '
        f'block {report.block_number} · <span class="mono">{e(report.id)}</span></p>{error}'
        f'{_scroll("Balances")}<table id="report-lines"><caption>Balances (base units)</caption>'
        '<thead><tr><th scope="col">Account</th><th scope="col">Result</th><th scope="col">Chain</th>'
        '<th scope="col">Ledger</th><th scope="col">Difference</th><th scope="col">Note</th></tr></thead>'
        f"<tbody>{rows}</tbody></table></div>"
        + csv_link(f"{PREFIX}/admin/reconciliation/{report.id}.csv", "report-lines-csv", "these balances")
        + f'<p><a href="{PREFIX}/admin/reconciliation">All runs</a></p>'
    )
    return layout("Reconciliation run", body, csrf=csrf, who=who)


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(value, dict):
        out: list[tuple[str, str]] = []
        for key in sorted(value):
            out += _flatten(value[key], f"{prefix}{key}.")
        return out or [(prefix.rstrip("."), "{}")]
    if isinstance(value, list):
        return [(prefix.rstrip("."), ", ".join(str(v) for v in value) if value else "[]")]
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return [(prefix.rstrip("."), "" if value is None else str(value))]


def config_page(*, csrf: str, who: str, role: str, parts: Sequence[tuple[str, Mapping[str, Any] | None, str]]) -> str:
    """Each part's effective configuration (as the part masked it), or why it is unavailable."""
    sections = []
    for part, config, problem in parts:
        if config is None:
            content = f'<p class="error" id="config-{e(part)}-unavailable">Unavailable: {e(problem)}</p>'
        else:
            rows = "".join(
                f'<tr><th scope="row" class="mono">{e(key)}</th><td class="mono">{e(value)}</td></tr>'
                for key, value in _flatten(dict(config))
            )
            content = (
                f'{_scroll(part + " settings")}<table class="config" id="config-{e(part)}">'
                f'<caption>{e(part)}</caption><thead><tr><th scope="col">Setting</th><th scope="col">Value</th>'
                f"</tr></thead><tbody>{rows}</tbody></table></div>"
            )
        sections.append(
            f'<section aria-labelledby="h-{e(part)}"><h2 id="h-{e(part)}">{e(part)}</h2>{content}</section>'
        )
    body = (
        f"{_admin_nav()}"
        f'<p class="hint">Signed in as {e(who)} · {e(ROLE_LABELS.get(role, role))}. Read-only: each part reports the '
        "configuration it runs with; secrets are masked by the part before they leave it.</p>" + "".join(sections)
    )
    return layout("Configuration", body, csrf=csrf, who=who)

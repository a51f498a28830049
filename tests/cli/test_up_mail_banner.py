"""`stablegate up`'s banner says where the dashboard's email actually goes: the mail folder, or the SMTP server."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from gateway import localrun


def banner(tmp_path: Path) -> str:
    """The address lines `up` prints once everything is healthy (with a demo merchant), as plain text."""
    out = io.StringIO()
    gateway = localrun.LocalGateway(tmp_path / "state", None, Console(file=out, width=300, color_system=None))
    gateway._ports = dict(localrun.DEFAULT_PORTS)
    gateway._print_demo(localrun.DemoMerchant(admin_key="ak_x", merchant_id="mer_x", api_key="sk_test_x"))
    return out.getvalue()


def dashboard_line(text: str) -> str:
    (line,) = [line for line in text.splitlines() if line.startswith("dashboard:")]
    return line


def test_without_smtp_the_banner_points_at_the_mail_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STABLEGATE_DASHBOARD_SMTP_HOST", raising=False)
    monkeypatch.delenv("STABLEGATE_DASHBOARD_MAIL_DIR", raising=False)
    line = dashboard_line(banner(tmp_path))
    assert f"sign-up emails land in {(tmp_path / 'state').resolve() / 'mail'}/*.eml" in line


def test_with_smtp_the_banner_names_the_server_not_the_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STABLEGATE_DASHBOARD_SMTP_HOST", "mail.example.test")
    monkeypatch.setenv("STABLEGATE_DASHBOARD_SMTP_PORT", "2525")
    monkeypatch.delenv("STABLEGATE_DASHBOARD_MAIL_DIR", raising=False)
    line = dashboard_line(banner(tmp_path))
    assert "emails are sent through SMTP at mail.example.test:2525" in line
    assert ".eml" not in line and "mail/" not in line


def test_a_mail_folder_set_by_hand_wins_and_the_banner_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The dashboard writes to MAIL_DIR even with an SMTP host (dashboard/app.py picks the folder first).
    monkeypatch.setenv("STABLEGATE_DASHBOARD_SMTP_HOST", "mail.example.test")
    monkeypatch.setenv("STABLEGATE_DASHBOARD_MAIL_DIR", str(tmp_path / "outbox"))
    line = dashboard_line(banner(tmp_path))
    assert f"emails are written to {tmp_path / 'outbox'}/*.eml, not sent" in line

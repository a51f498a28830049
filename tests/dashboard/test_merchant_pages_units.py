"""The merchant pages' input checks, role grants and HTML, without a server."""

from __future__ import annotations

import pytest

from dashboard.domain.rbac import GRANTS, Permission, TeamRole, allows
from dashboard.merchant_client import EndpointView, KeyView
from dashboard.merchant_pages import check_amount, check_webhook_url, endpoints_page, keys_page


@pytest.mark.parametrize("amount", ["1", "12.5", "0.000000000000000001", "999999999999.25", "10.50"])
def test_amounts_a_merchant_types_are_accepted(amount: str) -> None:
    assert check_amount(amount) is None


@pytest.mark.parametrize(
    "amount", ["", "0", "0.00", "-3", "+3", "1e3", "1,000", "1.", ".5", "01", "1.0000000000000000001", "1 000", "NaN"]
)
def test_bad_amounts_are_refused_with_the_reason(amount: str) -> None:
    assert check_amount(amount) == "Enter an amount above zero in USDT, e.g. 25 or 12.50 (digits and one dot)."


@pytest.mark.parametrize("url", ["https://shop.example/hooks", "http://127.0.0.1:8080/hooks", "https://[::1]:9/x"])
def test_webhook_urls_with_a_scheme_and_host_pass_the_dashboards_check(url: str) -> None:
    assert check_webhook_url(url) is None


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("", "Enter the URL"),
        ("ftp://shop.example/hooks", "must start with https://"),
        ("javascript:alert(1)", "must start with https://"),
        ("shop.example/hooks", "must start with https://"),
        ("https:///hooks", "must name a host"),
        ("https://user:pw@shop.example/hooks", "user name or password"),  # pragma: allowlist secret
        ("https://shop.example:99999/hooks", "not a valid URL"),
        ("https://shop.example/a b", "spaces"),
        ("https://shop.example/" + "a" * 2000, "too long"),
    ],
)
def test_bad_webhook_urls_are_refused_with_the_reason(url: str, reason: str) -> None:
    found = check_webhook_url(url)
    assert found is not None and reason in found, found


def test_only_owners_and_developers_manage_webhooks_and_keys_and_read_only_changes_nothing() -> None:
    changing = {
        Permission.MANAGE_WEBHOOKS,
        Permission.REVOKE_API_KEY,
        Permission.CREATE_API_KEY,
        Permission.CREATE_INVOICE,
        Permission.CREATE_PAYOUT,
        Permission.MANAGE_TEAM,
    }
    assert not changing & GRANTS[TeamRole.READ_ONLY]
    for permission in (Permission.MANAGE_WEBHOOKS, Permission.REVOKE_API_KEY):
        assert [r for r in TeamRole if allows(r.value, permission)] == [TeamRole.OWNER, TeamRole.DEVELOPER]
    assert allows("finance", Permission.VIEW_PAYOUTS) and not allows("developer", Permission.VIEW_PAYOUTS)
    assert allows("finance", Permission.CREATE_INVOICE) and not allows("finance", Permission.VIEW_WEBHOOKS)
    assert all(allows(r.value, Permission.VIEW_BALANCE) for r in TeamRole)
    assert [r for r in TeamRole if allows(r.value, Permission.CREATE_PAYOUT)] == [TeamRole.OWNER, TeamRole.FINANCE]


def test_pages_escape_what_the_ledger_returns_and_show_forms_only_to_roles_that_may_act() -> None:
    endpoint = EndpointView("we_1", "https://x.example/<script>", "", ("*",), False, "", "", None)
    shown = endpoints_page("csrf", [endpoint], may_manage=False)
    assert "<script>" not in shown and "&lt;script&gt;" in shown
    assert 'id="add-endpoint"' not in shown
    assert 'id="add-endpoint"' in endpoints_page("csrf", [endpoint], may_manage=True)
    keys = [
        KeyView("key_1", "shop", "sk_test_ab", ("invoices:read",), "ACTIVE", None, None),
        KeyView("key_2", "dashboard (merchant pages)", "sk_test_cd", ("invoices:read",), "ACTIVE", None, None),
    ]
    page = keys_page("csrf", keys, may_create=True, may_revoke=True)
    assert 'id="revoke-key_1"' in page and 'id="revoke-key_2"' not in page  # the dashboard's own key stays
    page = keys_page("csrf", keys, may_create=False, may_revoke=False)
    assert "revoke-" not in page and 'id="create-key"' not in page

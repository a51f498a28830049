"""What the checkout page says for every invoice state, and how its links' tokens are made (pure functions)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from stablegate.merchant.v1 import invoice_pb2

from checkout.page import live_status, qr_svg, render
from ledger.domain.checkout import CheckoutLinks, derive_key
from tests.cli.test_cli import stablegate


def invoice(status: str, *flags: str, paid: str = "0") -> invoice_pb2.Invoice:
    return invoice_pb2.Invoice(
        id="inv_abc",
        status=invoice_pb2.InvoiceStatus.Value(f"INVOICE_STATUS_{status}"),
        exceptions=[invoice_pb2.InvoiceException.Value(f"INVOICE_EXCEPTION_{f}") for f in flags],
        amount="10",
        amount_paid=paid,
        asset="USDT",
        deposit_address="0x" + "ab" * 20,
        payment_uri="ethereum:0x" + "cd" * 20 + "@97/transfer?address=0x" + "ab" * 20 + "&uint256=10",
        description="<b>Order</b>",
    )


@pytest.mark.parametrize(
    ("given", "state", "title", "final"),
    [
        (("OPEN", (), "0"), "awaiting", "Awaiting payment", False),
        (("PROCESSING", (), "0"), "confirming", "Payment seen, confirming", False),
        (("PAID", (), "10"), "paid", "Paid", True),
        (("PAID", ("UNDERPAID",), "9.99"), "paid", "Paid", True),
        (("PAID", ("OVERPAID",), "12"), "overpaid", "Paid (overpaid)", True),
        (("EXPIRED", ("UNDERPAID",), "4"), "underpaid", "Underpaid", True),
        (("EXPIRED", (), "0"), "expired", "Expired", True),
        (("CANCELED", (), "0"), "canceled", "Canceled", True),
    ],
)
def test_every_state_has_its_own_message(
    given: tuple[str, tuple[str, ...], str], state: str, title: str, final: bool
) -> None:
    status, flags, paid = given
    shown = live_status(invoice(status, *flags, paid=paid))
    assert (shown.state, shown.title, shown.final, shown.status) == (state, title, final, status)
    if state == "underpaid":
        assert "Received 4 of 10 USDT" in shown.detail
    if state == "overpaid":
        assert "Received 12 USDT for 10 USDT" in shown.detail


def test_page_escapes_merchant_text_and_embeds_the_qr_as_svg() -> None:
    page = render(invoice("OPEN"), "/checkout/inv_abc/t/events")
    assert "<b>Order</b>" not in page and "&lt;b&gt;Order&lt;/b&gt;" in page
    assert '<svg xmlns="http://www.w3.org/2000/svg"' in page
    assert "&amp;uint256=10" in page  # the URI in the wallet link is escaped too


def test_qr_code_is_svg_of_the_uri_version_that_fits() -> None:
    svg = qr_svg("ethereum:0x" + "cd" * 20 + "@97/transfer?address=0x" + "ab" * 20 + "&uint256=" + "9" * 30)
    assert svg.startswith("<svg") and svg.endswith("</svg>") and 'class="qr"' in svg


def test_link_tokens_are_per_invoice_and_per_key() -> None:
    links = CheckoutLinks(b"k" * 32, "https://pay.example/checkout/")
    token = links.token("inv_a")
    assert len(token) == 22
    assert links.url("inv_a") == f"https://pay.example/checkout/inv_a/{token}"
    assert links.opens("inv_a", token)
    assert not links.opens("inv_b", token)
    assert not links.opens("inv_a", token[:-1])
    assert CheckoutLinks(b"j" * 32, "x").token("inv_a") != token
    assert derive_key(b"k" * 32) != b"k" * 32


def test_prod_ledger_refuses_a_demo_checkout_token_key(tmp_path: Path) -> None:
    made = stablegate("mesh", "certs", "--dir", str(tmp_path / "pki"))
    env = dict(line.split("=", 1) for line in made.stdout.splitlines())
    key = "dev-only-" + base64.b64encode(b"k" * 32).decode()
    checked = stablegate(
        "config",
        "check",
        "ledger",
        env={**env, "STABLEGATE_LEDGER_PROFILE": "prod", "STABLEGATE_LEDGER_CHECKOUT_TOKEN_KEY": key},
    )
    assert checked.returncode == 2
    assert "STABLEGATE_LEDGER_CHECKOUT_TOKEN_KEY: prod refuses a demo key" in checked.stderr
    assert key not in checked.stderr + checked.stdout  # the key itself is never printed

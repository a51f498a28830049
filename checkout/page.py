"""What the checkout page shows: the customer's view of an invoice, its status line, and the HTML itself.

Pure functions of the invoice message (no I/O). The page has no inline script or style: behaviour and looks come
from `/checkout/static/` (same origin), so its Content-Security-Policy can forbid everything else. The QR code
is drawn here as inline SVG elements (part of the document, no image request).
"""

from __future__ import annotations

import html
import io
from dataclasses import asdict, dataclass

import segno
from stablegate.merchant.v1 import invoice_pb2

STATIC_PREFIX = "/checkout/static/"
ASSET_VERSION = "3"
"""Bumped when checkout.js or checkout.css change (the URLs carry it, so a cached old file is not used)."""

END_STATES = frozenset({"PAID", "EXPIRED", "CANCELED"})
"""Statuses after which nothing is to be paid (a late payment may still change the flags)."""


@dataclass(frozen=True)
class LiveStatus:
    """What the live stream sends and the page shows of an invoice's state."""

    status: str
    """OPEN, PROCESSING, PAID, EXPIRED or CANCELED."""
    state: str
    """What the customer is told, one word the page styles by: awaiting, confirming, paid, overpaid,
    underpaid, expired, canceled."""
    title: str
    detail: str
    amount_paid: str
    """Token units received so far (final payments)."""
    final: bool
    """True when nothing more is to be paid (the countdown and the payment details are hidden)."""

    def as_json(self) -> dict[str, object]:
        """The event's data."""
        return asdict(self)


def _status_name(invoice: invoice_pb2.Invoice) -> str:
    return invoice_pb2.InvoiceStatus.Name(invoice.status).removeprefix("INVOICE_STATUS_")


def _exceptions(invoice: invoice_pb2.Invoice) -> set[str]:
    return {invoice_pb2.InvoiceException.Name(e).removeprefix("INVOICE_EXCEPTION_") for e in invoice.exceptions}


def live_status(invoice: invoice_pb2.Invoice) -> LiveStatus:  # noqa: PLR0911 - one return per state shown
    """The customer's view of the invoice's status and exception flags."""
    status = _status_name(invoice)
    flags = _exceptions(invoice)
    paid, amount, asset = invoice.amount_paid, invoice.amount, invoice.asset
    if status == "OPEN":
        return LiveStatus(
            status, "awaiting", "Awaiting payment", f"Send exactly {amount} {asset} to the address below.", paid, False
        )
    if status == "PROCESSING":
        return LiveStatus(
            status,
            "confirming",
            "Payment seen, confirming",
            "Your payment is on chain; it counts once its block is final (a few seconds).",
            paid,
            False,
        )
    if status == "PAID" and "OVERPAID" in flags:
        return LiveStatus(
            status,
            "overpaid",
            "Paid (overpaid)",
            f"Received {paid} {asset} for {amount} {asset}; the merchant can refund the difference.",
            paid,
            True,
        )
    if status == "PAID" and "UNDERPAID" in flags:
        return LiveStatus(
            status,
            "paid",
            "Paid",
            f"Received {paid} {asset}, within the merchant's tolerance of {amount} {asset}.",
            paid,
            True,
        )
    if status == "PAID":
        return LiveStatus(status, "paid", "Paid", f"Received {paid} {asset}. Thank you.", paid, True)
    if status == "EXPIRED" and "UNDERPAID" in flags:
        return LiveStatus(
            status,
            "underpaid",
            "Underpaid",
            f"Received {paid} of {amount} {asset} before the invoice expired; contact the merchant.",
            paid,
            True,
        )
    if status == "EXPIRED":
        return LiveStatus(
            status, "expired", "Expired", "This invoice expired before it was paid. Do not send funds.", paid, True
        )
    if status == "CANCELED":
        return LiveStatus(
            status, "canceled", "Canceled", "The merchant canceled this invoice. Do not send funds.", paid, True
        )
    return LiveStatus(status, "unknown", "Unknown", "The invoice's status is not known.", paid, False)


def qr_svg(payment_uri: str) -> str:
    """The payment URI as a QR code: an inline <svg> element (medium error correction, scalable)."""
    code = segno.make(payment_uri, error="m", micro=False)
    out = io.BytesIO()
    code.save(
        out,
        kind="svg",
        xmldecl=False,
        svgns=True,
        nl=False,
        omitsize=True,
        border=4,
        dark="#111",
        light="#fff",
        svgclass="qr",
        title="Payment QR code",
    )
    return out.getvalue().decode()


def refund_section(invoice: invoice_pb2.Invoice, form_url: str, error: str = "") -> str:
    """The refund address: shown when set (it cannot be changed here), else a form to set it once."""
    e = html.escape
    if invoice.refund_address:
        return f"""<section class="refund" id="refund">
<p class="label">Refund address</p>
<code class="address" id="refund-address">{e(invoice.refund_address)}</code>
<p class="hint">Refunds go to this address. It cannot be changed here; contact the merchant.</p>
</section>"""
    problem = f'<p class="error" id="refund-error" role="alert">{e(error)}</p>' if error else ""
    return f"""<section class="refund refund-open" id="refund">
<form method="post" action="{e(form_url)}" id="refund-form">
<label class="label" for="refund-input">Refund address (optional; can be set once)</label>
<div class="address-row">
<input class="address" id="refund-input" name="refund_address" required maxlength="42" autocomplete="off"
 spellcheck="false" placeholder="0x…">
<button type="submit" class="copy" id="refund-save">Save</button>
</div>
{problem}
</form>
</section>"""


def render(invoice: invoice_pb2.Invoice, events_url: str, *, refund_url: str = "", refund_error: str = "") -> str:
    """The checkout page of an invoice (with the refund-address form when `refund_url` is given)."""
    e = html.escape
    live = live_status(invoice)
    refund = refund_section(invoice, refund_url, refund_error) if refund_url else ""
    expire = invoice.expire_time.ToDatetime().strftime("%Y-%m-%dT%H:%M:%SZ") if invoice.HasField("expire_time") else ""
    description = f'<p class="description">{e(invoice.description)}</p>' if invoice.description else ""
    redirect = (
        f'<a class="back" id="back" href="{e(invoice.redirect_url)}">Return to the merchant</a>'
        if invoice.redirect_url
        else ""
    )
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>Pay {e(invoice.amount)} {e(invoice.asset)}</title>
<link rel="icon" href="{STATIC_PREFIX}favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="{STATIC_PREFIX}checkout.css?v={ASSET_VERSION}">
<script src="{STATIC_PREFIX}checkout.js?v={ASSET_VERSION}" defer></script>
</head>
<body>
<main class="card" id="checkout" data-state="{e(live.state)}" data-final="{str(live.final).lower()}"
 data-events="{e(events_url)}" data-expire="{e(expire)}">
<header>
<p class="label">Amount due</p>
<p class="amount" id="amount"><span id="amount-value">{e(invoice.amount)}</span>
 <span class="asset">{e(invoice.asset)}</span></p>
<p class="network">{e(invoice.asset)} (BEP20) on chain {invoice.chain_id}</p>
{description}
</header>
<section class="status" id="status" role="status" aria-live="polite">
<p class="status-title" id="status-title">{e(live.title)}</p>
<p class="status-detail" id="status-detail">{e(live.detail)}</p>
</section>
<section class="pay" id="pay">
<div class="qr-box" id="qr">{qr_svg(invoice.payment_uri)}</div>
<p class="label">Deposit address</p>
<div class="address-row">
<code class="address" id="address">{e(invoice.deposit_address)}</code>
<button type="button" class="copy" id="copy" data-copy="{e(invoice.deposit_address)}">Copy</button>
</div>
<p class="expiry">Expires in <span id="countdown">{e(expire)}</span></p>
<p class="hint">Send only {e(invoice.asset)} on this network, in one payment, of exactly the amount above.</p>
<a class="wallet" id="wallet" href="{e(invoice.payment_uri)}">Open in wallet</a>
</section>
{refund}
{redirect}
</main>
</body>
</html>
"""


NOT_FOUND_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Not found</title></head><body><h1>Not found</h1></body></html>
"""
"""The answer to any link that does not open an invoice: the same bytes whatever was wrong."""

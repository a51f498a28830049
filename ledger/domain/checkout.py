"""Checkout links: the hosted page's URL carries the invoice id and a token only the ledger can make.

The token is an HMAC-SHA256 of the invoice id under a secret key, cut to 128 bits and written in URL-safe
base64 (22 characters). Nothing is stored: the ledger recomputes it to check a link, so every replica that has
the key agrees, and knowing one invoice's link tells nothing about another's.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass, field

TOKEN_BYTES = 16
"""128 bits: unguessable, and short enough for a QR code or a chat message."""
KEY_LABEL = b"stablegate checkout link key v1"
"""Domain separation when the key is derived from another configured secret (see `derive_key`)."""


def derive_key(secret: bytes) -> bytes:
    """A checkout-link key derived from another secret of the ledger's (never the secret itself)."""
    return hmac.new(secret, KEY_LABEL, hashlib.sha256).digest()


@dataclass(frozen=True)
class CheckoutLinks:
    """Makes and checks the checkout URL of an invoice: `<base url><invoice id>/<token>`."""

    key: bytes = field(repr=False)
    base_url: str

    def token(self, invoice_id: str) -> str:
        """The invoice's link token (URL-safe base64 without padding)."""
        digest = hmac.new(self.key, b"checkout:" + invoice_id.encode(), hashlib.sha256).digest()[:TOKEN_BYTES]
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def url(self, invoice_id: str) -> str:
        """The hosted checkout page of the invoice."""
        return f"{self.base_url}{invoice_id}/{self.token(invoice_id)}"

    def opens(self, invoice_id: str, token: str) -> bool:
        """True when `token` is the invoice's (compared in constant time)."""
        return hmac.compare_digest(self.token(invoice_id).encode(), token.encode())

"""The ledger's records as plain data (what the store returns and the API renders)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Merchant:
    """A merchant account."""

    id: str
    name: str
    status: str
    contact_email: str
    payout_address: str
    default_expiry_seconds: int
    default_tolerance: int
    suspend_reason: str
    create_time: dt.datetime
    update_time: dt.datetime
    suspend_time: dt.datetime | None


@dataclass(frozen=True)
class ApiKeyRecord:
    """A stored merchant API key (never the plaintext)."""

    id: str
    merchant_id: str
    name: str
    prefix: str
    mode: str
    scopes: tuple[str, ...]
    create_time: dt.datetime
    expire_time: dt.datetime | None
    revoke_time: dt.datetime | None
    last_used_time: dt.datetime | None
    allowed_ip_ranges: tuple[str, ...] = ()
    owner_address: str = ""
    """The key holder's own Ethereum address (the initiator of what the key asks for); empty: not given."""
    """Client networks (CIDR) the key may be used from; empty: any."""

    def status(self, now: dt.datetime) -> str:
        """ACTIVE, REVOKED or EXPIRED."""
        if self.revoke_time is not None:
            return "REVOKED"
        if self.expire_time is not None and self.expire_time <= now:
            return "EXPIRED"
        return "ACTIVE"


@dataclass(frozen=True)
class PaymentRecord:
    """A token transfer seen at an invoice's deposit address."""

    id: str
    tx_hash: str
    log_index: int
    block_number: int
    block_hash: str
    from_address: str
    amount: int
    status: str
    observe_time: dt.datetime
    final_time: dt.datetime | None


@dataclass(frozen=True)
class Invoice:
    """An invoice with its payments."""

    id: str
    merchant_id: str
    status: str
    exceptions: tuple[str, ...]
    asset: str
    chain_id: int
    token_contract: str
    token_decimals: int
    amount: int
    amount_paid: int
    tolerance: int
    deposit_address: str
    description: str
    metadata: dict[str, str]
    order_id: str | None
    customer_reference: str
    redirect_url: str
    expire_time: dt.datetime
    monitor_until: dt.datetime
    create_time: dt.datetime
    update_time: dt.datetime
    paid_time: dt.datetime | None
    cancel_time: dt.datetime | None
    payments: tuple[PaymentRecord, ...] = field(default_factory=tuple)
    fee_bps: int = 0
    """The platform fee plan the invoice was created under (ledger/domain/fees.py): basis points…"""
    fee_fixed: int = 0
    """…its fixed part (base units)…"""
    fee_minimum: int = 0
    """…and its minimum (base units)."""
    fee_charged: int = 0
    """The platform fee charged so far: fee(amount_paid) under the invoice's plan."""
    refund_address: str = ""
    """Where an overpayment's excess is refunded automatically (when the merchant opted in); empty: nowhere."""

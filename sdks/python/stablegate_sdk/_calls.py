"""What each hand-written method sends, built on the generated operations (shared by the sync and async clients).

Each function returns a `Call`: the request the generated module describes (path, query, body, headers), how to
read a 200 answer into a generated model, and whether a retry is safe. The clients only send calls.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from .errors import ApiError
from .generated.api.balance_service import balance_service_get_balance as _get_balance
from .generated.api.invoice_service import (
    invoice_service_cancel_invoice as _cancel_invoice,
)
from .generated.api.invoice_service import (
    invoice_service_create_invoice as _create_invoice,
)
from .generated.api.invoice_service import (
    invoice_service_get_invoice as _get_invoice,
)
from .generated.api.invoice_service import (
    invoice_service_list_invoices as _list_invoices,
)
from .generated.api.payout_service import payout_service_get_payout_quote as _payout_quote
from .generated.api.webhook_endpoint_service import (
    webhook_endpoint_service_create_webhook_endpoint as _create_endpoint,
)
from .generated.api.webhook_endpoint_service import (
    webhook_endpoint_service_delete_webhook_endpoint as _delete_endpoint,
)
from .generated.api.webhook_endpoint_service import (
    webhook_endpoint_service_get_webhook_endpoint as _get_endpoint,
)
from .generated.api.webhook_endpoint_service import (
    webhook_endpoint_service_list_webhook_endpoints as _list_endpoints,
)
from .generated.api.webhook_endpoint_service import (
    webhook_endpoint_service_send_test_webhook as _send_test,
)
from .generated.models import (
    Balance,
    CreateInvoiceRequest,
    CreateWebhookEndpointRequest,
    DeleteWebhookEndpointResponse,
    Invoice,
    InvoiceServiceCancelInvoiceBody,
    InvoiceStatus,
    ListInvoicesResponse,
    ListWebhookEndpointsResponse,
    PayoutQuote,
    PayoutServiceGetPayoutQuoteAsset,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEndpointServiceSendTestWebhookBody,
)
from .generated.types import UNSET, Unset

T = TypeVar("T")
IDEMPOTENCY_HEADER = "Idempotency-Key"


@dataclass(frozen=True)
class Call(Generic[T]):
    """One API request: the generated module's request arguments, the 200 parser, and whether to retry it."""

    kwargs: dict[str, Any]
    """`method`, `url`, and `params`, `json`, `headers` as the generated `_get_kwargs` made them."""
    parse: Callable[[Any], T]
    """The generated model's `from_dict`, applied to the 200 answer's JSON."""
    retry_safe: bool
    """True when sending it twice cannot do a thing twice: a read, or a write with an Idempotency-Key."""


@dataclass(frozen=True)
class RetryPolicy:
    """How failed calls are retried: connection failures and 429/503/504, for retry-safe calls only.

    The delay doubles from `backoff` up to `max_backoff` (with jitter); a `Retry-After` header wins, up to
    `max_retry_after` seconds.
    """

    max_retries: int = 2
    """Retries after the first attempt (0 turns retrying off)."""
    backoff: float = 0.5
    """The first retry's delay, seconds."""
    max_backoff: float = 8.0
    """The longest computed delay, seconds."""
    max_retry_after: float = 60.0
    """The longest `Retry-After` honoured, seconds."""

    def delay(self, attempt: int, error: ApiError | None) -> float:
        """Seconds to wait before retry number `attempt` (0-based) after `error` (None: a connection failure)."""
        if error is not None and error.retry_after is not None:
            return min(error.retry_after, self.max_retry_after)
        computed: float = min(self.max_backoff, self.backoff * 2**attempt)
        return computed * (0.5 + random.random() / 2)  # noqa: S311 - jitter


def new_idempotency_key() -> str:
    """A fresh Idempotency-Key, made once per create call and sent on every retry of it."""
    return f"sdk_{uuid.uuid4().hex}"


def _opt(value: T | None) -> T | Unset:
    return UNSET if value is None else value


def create_invoice(amount: str, idempotency_key: str | None, fields: dict[str, Any]) -> Call[Invoice]:
    """`POST /v1/invoices`: `fields` are the body's other JSON fields (`order_id`, `ttl`, `metadata`, ...)."""
    body = CreateInvoiceRequest.from_dict({**fields, "amount": amount})
    kwargs = _create_invoice._get_kwargs(body=body, idempotency_key=idempotency_key or new_idempotency_key())
    return Call(kwargs, Invoice.from_dict, retry_safe=True)


def get_invoice(invoice_id: str) -> Call[Invoice]:
    """`GET /v1/invoices/{id}`."""
    return Call(_get_invoice._get_kwargs(invoice_id), Invoice.from_dict, retry_safe=True)


def list_invoices(  # noqa: PLR0917 - internal, called by the clients only
    page_token: str | None,
    page_size: int | None,
    status: InvoiceStatus | str | None,
    order_id: str | None,
    create_time_start: Any = None,
    create_time_end: Any = None,
) -> Call[ListInvoicesResponse]:
    """`GET /v1/invoices`: one page."""
    kwargs = _list_invoices._get_kwargs(
        page_size=_opt(page_size),
        page_token=_opt(page_token),
        status=UNSET if status is None else InvoiceStatus(status),
        order_id=_opt(order_id),
        create_time_start=_opt(create_time_start),
        create_time_end=_opt(create_time_end),
    )
    return Call(kwargs, ListInvoicesResponse.from_dict, retry_safe=True)


def cancel_invoice(invoice_id: str, reason: str | None) -> Call[Invoice]:
    """`POST /v1/invoices/{id}:cancel`: canceling a canceled invoice is a no-op, so a retry is safe."""
    body = InvoiceServiceCancelInvoiceBody(reason=_opt(reason))
    return Call(_cancel_invoice._get_kwargs(invoice_id, body=body), Invoice.from_dict, retry_safe=True)


def payout_quote(amount: str | None, asset: str | None) -> Call[PayoutQuote]:
    """`GET /v1/payouts:quote`: what a payout of `amount` would cost and whether the balance covers it."""
    kwargs = _payout_quote._get_kwargs(
        amount=_opt(amount), asset=UNSET if asset is None else PayoutServiceGetPayoutQuoteAsset(asset)
    )
    return Call(kwargs, PayoutQuote.from_dict, retry_safe=True)


def get_balance() -> Call[Balance]:
    """`GET /v1/balance`."""
    return Call(_get_balance._get_kwargs(), Balance.from_dict, retry_safe=True)


def create_webhook_endpoint(url: str, idempotency_key: str | None, fields: dict[str, Any]) -> Call[WebhookEndpoint]:
    """`POST /v1/webhook_endpoints`: the answer shows the `whsec_...` secret once."""
    body = CreateWebhookEndpointRequest.from_dict({**fields, "url": url})
    kwargs = _create_endpoint._get_kwargs(body=body, idempotency_key=idempotency_key or new_idempotency_key())
    return Call(kwargs, WebhookEndpoint.from_dict, retry_safe=True)


def get_webhook_endpoint(endpoint_id: str) -> Call[WebhookEndpoint]:
    """`GET /v1/webhook_endpoints/{id}`."""
    return Call(_get_endpoint._get_kwargs(endpoint_id), WebhookEndpoint.from_dict, retry_safe=True)


def list_webhook_endpoints(page_token: str | None, page_size: int | None) -> Call[ListWebhookEndpointsResponse]:
    """`GET /v1/webhook_endpoints`: one page."""
    kwargs = _list_endpoints._get_kwargs(page_size=_opt(page_size), page_token=_opt(page_token))
    return Call(kwargs, ListWebhookEndpointsResponse.from_dict, retry_safe=True)


def delete_webhook_endpoint(endpoint_id: str) -> Call[DeleteWebhookEndpointResponse]:
    """`DELETE /v1/webhook_endpoints/{id}`."""
    kwargs = _delete_endpoint._get_kwargs(endpoint_id)
    return Call(kwargs, DeleteWebhookEndpointResponse.from_dict, retry_safe=True)


def send_test_webhook(endpoint_id: str, event_type: str | None) -> Call[WebhookDelivery]:
    """`POST /v1/webhook_endpoints/{id}:send_test`: a `webhook.test` event (or a simulated `event_type`)."""
    body = WebhookEndpointServiceSendTestWebhookBody.from_dict({} if event_type is None else {"event_type": event_type})
    kwargs = _send_test._get_kwargs(endpoint_id, body=body, idempotency_key=new_idempotency_key())
    return Call(kwargs, WebhookDelivery.from_dict, retry_safe=True)


def page_items(page: ListInvoicesResponse | ListWebhookEndpointsResponse) -> tuple[list[Any], str | None]:
    """A list page's items and its next page token (None at the end)."""
    items = page.invoices if isinstance(page, ListInvoicesResponse) else page.webhook_endpoints
    token = page.next_page_token
    return (list(items) if isinstance(items, list) else []), (token if isinstance(token, str) and token else None)

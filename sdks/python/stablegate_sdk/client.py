"""The synchronous client: `Stablegate(api_key, base_url=...)`.

Resources `invoices`, `payouts`, `balance` and `webhook_endpoints`, retries that keep the Idempotency-Key, pagination
iterators and typed errors.

Every operation of the API is also reachable through the generated code with `client.raw` (an
`AuthenticatedClient`) and the modules under `stablegate_sdk.generated.api`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import httpx

from . import _calls
from ._calls import Call, RetryPolicy
from ._version import __version__
from .errors import ApiConnectionError, ApiError, error_from_response
from .generated.client import AuthenticatedClient
from .generated.models import (
    Balance,
    DeleteWebhookEndpointResponse,
    Invoice,
    InvoiceStatus,
    ListInvoicesResponse,
    PayoutQuote,
    WebhookDelivery,
    WebhookEndpoint,
)

T = TypeVar("T")
USER_AGENT = f"stablegate-sdk-python/{__version__}"


def make_raw_client(api_key: str, base_url: str, timeout: float, **httpx_args: Any) -> AuthenticatedClient:
    """The generated client with the key as a bearer token; refuses an empty key or base URL."""
    if not api_key or not api_key.strip():
        raise ValueError("api_key is empty: pass the merchant's API key (sk_test_... or sk_live_...)")
    if not base_url.startswith(("http://", "https://")):
        raise ValueError(f"base_url must start with http:// or https://, got {base_url!r}")
    return AuthenticatedClient(
        base_url=base_url.rstrip("/"),
        token=api_key.strip(),
        timeout=httpx.Timeout(timeout),
        headers={"User-Agent": USER_AGENT},
        httpx_args=httpx_args,
    )


class Stablegate:
    """A synchronous client of the stablegate REST API for one merchant key."""

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        **httpx_args: Any,
    ) -> None:
        self.raw = make_raw_client(api_key, base_url, timeout, **httpx_args)
        """The generated client (every operation, through `stablegate_sdk.generated.api`)."""
        self.retry = retry or RetryPolicy()
        """How failed calls are retried."""
        self._sleep = sleep
        self.invoices = Invoices(self)
        """Create, get, list, cancel invoices."""
        self.payouts = Payouts(self)
        """Payout quotes."""
        self.balance = BalanceResource(self)
        """The merchant's balance."""
        self.webhook_endpoints = WebhookEndpoints(self)
        """Webhook endpoints: create, get, list, delete, send a test event."""

    def send(self, call: Call[T]) -> T:
        """Send one call: the parsed 200 answer, or the typed error.

        Connection failures and 429/503/504 are retried when the call is retry-safe.
        """
        http = self.raw.get_httpx_client()
        attempt = 0
        while True:
            error: ApiError | None = None
            try:
                response = http.request(**call.kwargs)
            except httpx.TransportError as exc:
                if not call.retry_safe or attempt >= self.retry.max_retries:
                    raise ApiConnectionError(f"{call.kwargs['method'].upper()} {call.kwargs['url']}: {exc}") from exc
            else:
                if response.status_code == 200:
                    return call.parse(response.json())
                error = error_from_response(response.status_code, response.headers, response.content)
                if not (call.retry_safe and error.retryable and attempt < self.retry.max_retries):
                    raise error
            self._sleep(self.retry.delay(attempt, error))
            attempt += 1

    def close(self) -> None:
        """Close the connection pool."""
        self.raw.get_httpx_client().close()

    def __enter__(self) -> Stablegate:
        """Use as a context manager: closes the pool at the end."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Close the pool."""
        self.close()


class Invoices:
    """`/v1/invoices`."""

    def __init__(self, client: Stablegate) -> None:
        self._client = client

    def create(self, amount: str, *, idempotency_key: str | None = None, **fields: Any) -> Invoice:
        """Create an invoice for `amount` (a decimal string in token units, e.g. "10.50").

        `fields` are the other body fields in their JSON form (`order_id`, `description`, `metadata`, `ttl`
        like "3600s", ...; docs/api.md). The Idempotency-Key (`idempotency_key`, or a fresh one) is the same on
        every retry, so a retried create never makes a second invoice.
        """
        return self._client.send(_calls.create_invoice(amount, idempotency_key, fields))

    def get(self, invoice_id: str) -> Invoice:
        """The invoice as it is now."""
        return self._client.send(_calls.get_invoice(invoice_id))

    def list_page(
        self,
        *,
        page_token: str | None = None,
        page_size: int | None = None,
        status: InvoiceStatus | str | None = None,
        order_id: str | None = None,
    ) -> ListInvoicesResponse:
        """One page of invoices, newest first (`next_page_token` is unset on the last page)."""
        return self._client.send(_calls.list_invoices(page_token, page_size, status, order_id))

    def list(
        self, *, page_size: int | None = None, status: InvoiceStatus | str | None = None, order_id: str | None = None
    ) -> Iterator[Invoice]:
        """Every invoice matching the filters, newest first, fetching pages of `page_size` as it goes."""
        token: str | None = None
        while True:
            page = self.list_page(page_token=token, page_size=page_size, status=status, order_id=order_id)
            items, token = _calls.page_items(page)
            yield from items
            if token is None:
                return

    def cancel(self, invoice_id: str, *, reason: str | None = None) -> Invoice:
        """Cancel an OPEN invoice; a canceled one again is a no-op.

        Any other status raises `FailedPreconditionError` with reason `INVOICE_NOT_CANCELABLE`.
        """
        return self._client.send(_calls.cancel_invoice(invoice_id, reason))


class Payouts:
    """`/v1/payouts`."""

    def __init__(self, client: Stablegate) -> None:
        self._client = client

    def quote(self, amount: str | None = None, *, asset: str | None = None) -> PayoutQuote:
        """What a payout of `amount` would cost now, and whether the available balance covers it."""
        return self._client.send(_calls.payout_quote(amount, asset))


class BalanceResource:
    """`/v1/balance`."""

    def __init__(self, client: Stablegate) -> None:
        self._client = client

    def get(self) -> Balance:
        """The merchant's balance per asset."""
        return self._client.send(_calls.get_balance())


class WebhookEndpoints:
    """`/v1/webhook_endpoints`."""

    def __init__(self, client: Stablegate) -> None:
        self._client = client

    def create(self, url: str, *, idempotency_key: str | None = None, **fields: Any) -> WebhookEndpoint:
        """Register an endpoint; its `secret` (`whsec_...`) is in this answer only.

        `fields` are the body's other fields in JSON form (`enabled_events`, `signing_algorithms`, `api_version`).
        """
        return self._client.send(_calls.create_webhook_endpoint(url, idempotency_key, fields))

    def get(self, endpoint_id: str) -> WebhookEndpoint:
        """One endpoint (never its secret)."""
        return self._client.send(_calls.get_webhook_endpoint(endpoint_id))

    def list(self, *, page_size: int | None = None) -> Iterator[WebhookEndpoint]:
        """Every endpoint, page by page."""
        token: str | None = None
        while True:
            page = self._client.send(_calls.list_webhook_endpoints(token, page_size))
            items, token = _calls.page_items(page)
            yield from items
            if token is None:
                return

    def delete(self, endpoint_id: str) -> DeleteWebhookEndpointResponse:
        """Remove an endpoint."""
        return self._client.send(_calls.delete_webhook_endpoint(endpoint_id))

    def send_test(self, endpoint_id: str, *, event_type: str | None = None) -> WebhookDelivery:
        """Send a `webhook.test` event (or a simulated `event_type`) to this endpoint now."""
        return self._client.send(_calls.send_test_webhook(endpoint_id, event_type))

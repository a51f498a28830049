"""The asynchronous client: `AsyncStablegate(api_key, base_url=...)`, the twin of `Stablegate`.

On asyncio and httpx: resources `invoices`, `payouts`, `balance` and `webhook_endpoints`, retries that
keep the Idempotency-Key, pagination iterators and typed errors.

Every operation of the API is also reachable through the generated code with `client.raw` (an
`AuthenticatedClient`) and the modules under `stablegate_sdk.generated.api`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import httpx

from . import _calls
from ._calls import Call, RetryPolicy
from .client import USER_AGENT, make_raw_client
from .errors import ApiConnectionError, ApiError, error_from_response
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
__all__ = ["USER_AGENT", "AsyncStablegate"]


class AsyncStablegate:
    """An asynchronous client of the stablegate REST API for one merchant key."""

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        **httpx_args: Any,
    ) -> None:
        self.raw = make_raw_client(api_key, base_url, timeout, **httpx_args)
        """The generated client (every operation, through `stablegate_sdk.generated.api`)."""
        self.retry = retry or RetryPolicy()
        """How failed calls are retried."""
        self._sleep = sleep
        self.invoices = AsyncInvoices(self)
        """Create, get, list, cancel invoices."""
        self.payouts = AsyncPayouts(self)
        """Payout quotes."""
        self.balance = AsyncBalanceResource(self)
        """The merchant's balance."""
        self.webhook_endpoints = AsyncWebhookEndpoints(self)
        """Webhook endpoints: create, get, list, delete, send a test event."""

    async def send(self, call: Call[T]) -> T:
        """Send one call: the parsed 200 answer, or the typed error.

        Connection failures and 429/503/504 are retried when the call is retry-safe.
        """
        http = self.raw.get_async_httpx_client()
        attempt = 0
        while True:
            error: ApiError | None = None
            try:
                response = await http.request(**call.kwargs)
            except httpx.TransportError as exc:
                if not call.retry_safe or attempt >= self.retry.max_retries:
                    raise ApiConnectionError(f"{call.kwargs['method'].upper()} {call.kwargs['url']}: {exc}") from exc
            else:
                if response.status_code == 200:
                    return call.parse(response.json())
                error = error_from_response(response.status_code, response.headers, response.content)
                if not (call.retry_safe and error.retryable and attempt < self.retry.max_retries):
                    raise error
            await self._sleep(self.retry.delay(attempt, error))
            attempt += 1

    async def close(self) -> None:
        """Close the connection pool."""
        await self.raw.get_async_httpx_client().aclose()

    async def __aenter__(self) -> AsyncStablegate:
        """Use as an async context manager: closes the pool at the end."""
        return self

    async def __aexit__(self, *exc: object) -> None:
        """Close the pool."""
        await self.close()


class AsyncInvoices:
    """`/v1/invoices`."""

    def __init__(self, client: AsyncStablegate) -> None:
        self._client = client

    async def create(self, amount: str, *, idempotency_key: str | None = None, **fields: Any) -> Invoice:
        """Create an invoice for `amount` (a decimal string in token units, e.g. "10.50").

        `fields` are the other body fields in their JSON form (`order_id`, `description`, `metadata`, `ttl`
        like "3600s", ...; docs/api.md). The Idempotency-Key (`idempotency_key`, or a fresh one) is the same on
        every retry, so a retried create never makes a second invoice.
        """
        return await self._client.send(_calls.create_invoice(amount, idempotency_key, fields))

    async def get(self, invoice_id: str) -> Invoice:
        """The invoice as it is now."""
        return await self._client.send(_calls.get_invoice(invoice_id))

    async def list_page(
        self,
        *,
        page_token: str | None = None,
        page_size: int | None = None,
        status: InvoiceStatus | str | None = None,
        order_id: str | None = None,
    ) -> ListInvoicesResponse:
        """One page of invoices, newest first (`next_page_token` is unset on the last page)."""
        return await self._client.send(_calls.list_invoices(page_token, page_size, status, order_id))

    async def list(
        self, *, page_size: int | None = None, status: InvoiceStatus | str | None = None, order_id: str | None = None
    ) -> AsyncIterator[Invoice]:
        """Every invoice matching the filters, newest first, fetching pages of `page_size` as it goes."""
        token: str | None = None
        while True:
            page = await self.list_page(page_token=token, page_size=page_size, status=status, order_id=order_id)
            items, token = _calls.page_items(page)
            for item in items:
                yield item
            if token is None:
                return

    async def cancel(self, invoice_id: str, *, reason: str | None = None) -> Invoice:
        """Cancel an OPEN invoice; a canceled one again is a no-op.

        Any other status raises `FailedPreconditionError` with reason `INVOICE_NOT_CANCELABLE`.
        """
        return await self._client.send(_calls.cancel_invoice(invoice_id, reason))


class AsyncPayouts:
    """`/v1/payouts`."""

    def __init__(self, client: AsyncStablegate) -> None:
        self._client = client

    async def quote(self, amount: str | None = None, *, asset: str | None = None) -> PayoutQuote:
        """What a payout of `amount` would cost now, and whether the available balance covers it."""
        return await self._client.send(_calls.payout_quote(amount, asset))


class AsyncBalanceResource:
    """`/v1/balance`."""

    def __init__(self, client: AsyncStablegate) -> None:
        self._client = client

    async def get(self) -> Balance:
        """The merchant's balance per asset."""
        return await self._client.send(_calls.get_balance())


class AsyncWebhookEndpoints:
    """`/v1/webhook_endpoints`."""

    def __init__(self, client: AsyncStablegate) -> None:
        self._client = client

    async def create(self, url: str, *, idempotency_key: str | None = None, **fields: Any) -> WebhookEndpoint:
        """Register an endpoint; its `secret` (`whsec_...`) is in this answer only.

        `fields` are the body's other fields in JSON form (`enabled_events`, `signing_algorithms`, `api_version`).
        """
        return await self._client.send(_calls.create_webhook_endpoint(url, idempotency_key, fields))

    async def get(self, endpoint_id: str) -> WebhookEndpoint:
        """One endpoint (never its secret)."""
        return await self._client.send(_calls.get_webhook_endpoint(endpoint_id))

    async def list(self, *, page_size: int | None = None) -> AsyncIterator[WebhookEndpoint]:
        """Every endpoint, page by page."""
        token: str | None = None
        while True:
            page = await self._client.send(_calls.list_webhook_endpoints(token, page_size))
            items, token = _calls.page_items(page)
            for item in items:
                yield item
            if token is None:
                return

    async def delete(self, endpoint_id: str) -> DeleteWebhookEndpointResponse:
        """Remove an endpoint."""
        return await self._client.send(_calls.delete_webhook_endpoint(endpoint_id))

    async def send_test(self, endpoint_id: str, *, event_type: str | None = None) -> WebhookDelivery:
        """Send a `webhook.test` event (or a simulated `event_type`) to this endpoint now."""
        return await self._client.send(_calls.send_test_webhook(endpoint_id, event_type))

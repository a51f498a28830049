"""Merchant API servicer: webhook endpoints, their secrets, the delivery log, redelivery and test events."""

from __future__ import annotations

import datetime as dt
from typing import Any

from stablegate.merchant.v1 import webhook_pb2 as wpb
from stablegate.merchant.v1 import webhook_service_pb2 as pb
from stablegate.merchant.v1 import webhook_service_pb2_grpc as pb_grpc

from ledger.api.auth import merchant_id
from ledger.api.convert import from_duration, from_timestamp, request_hash, timestamp
from ledger.api.invoices import Context, idempotency_key
from ledger.core import LedgerCore
from ledger.domain import invoices as text_rules
from ledger.domain import webhooks as rules
from ledger.domain.ids import looks_like_id, new_id
from ledger.domain.ssrf import AddressRefused, UrlPolicy, check_url, resolve_checked
from ledger.secretbox import Sealer, open_async, seal_async
from ledger.store import webhooks as store
from ledger.store.webhooks import NewDelivery
from service_runtime.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from service_runtime.pagination import newest_first_next_token, newest_first_position, page_size

HMAC = wpb.WEBHOOK_SIGNING_ALGORITHM_HMAC_SHA256
ED25519 = wpb.WEBHOOK_SIGNING_ALGORITHM_ED25519
_ALGORITHMS = {HMAC: rules.HMAC_SHA256, ED25519: rules.ED25519}
_ALGORITHM_ENUMS = {name: value for value, name in _ALGORITHMS.items()}
MAX_REPLAY = 1000
MAX_REPLAY_AGE = dt.timedelta(days=30)


def _not_found(endpoint_id: str) -> NotFound:
    return NotFound(
        f"no webhook endpoint {endpoint_id[:100]}", reason="WEBHOOK_ENDPOINT_NOT_FOUND", metadata={"field": "id"}
    )


def endpoint_message(endpoint: rules.Endpoint, secret: str = "") -> wpb.WebhookEndpoint:
    """The API's WebhookEndpoint; `secret` only from create and rotate."""
    message = wpb.WebhookEndpoint(
        id=endpoint.id,
        merchant_id=endpoint.merchant_id,
        url=endpoint.url,
        description=endpoint.description,
        enabled_events=list(endpoint.enabled_events),
        disabled=endpoint.disabled,
        disabled_reason=endpoint.disabled_reason,
        signing_algorithms=[_ALGORITHM_ENUMS[a] for a in endpoint.signing_algorithms],
        secret=secret if rules.HMAC_SHA256 in endpoint.signing_algorithms else "",
        signing_public_key=endpoint.signing_public_key,
        create_time=timestamp(endpoint.create_time),
        update_time=timestamp(endpoint.update_time),
        api_version=endpoint.api_version,
    )
    if (expires := timestamp(endpoint.previous_secret_expire_time)) is not None:
        message.previous_secret_expire_time.CopyFrom(expires)
    return message


def delivery_message(delivery: rules.Delivery) -> wpb.WebhookDelivery:
    """The API's WebhookDelivery, with its attempts."""
    message = wpb.WebhookDelivery(
        id=delivery.id,
        endpoint_id=delivery.endpoint_id,
        event_id=delivery.event_id,
        event_type=delivery.event_type,
        status=wpb.WebhookDeliveryStatus.Value(f"WEBHOOK_DELIVERY_STATUS_{delivery.status}"),
        attempt_count=delivery.attempt_count,
        last_response_status=delivery.last_response_status,
        last_error=delivery.last_error,
        last_attempt_time=timestamp(delivery.last_attempt_time),
        next_attempt_time=timestamp(delivery.next_attempt_time),
        test=delivery.test,
        redelivery_of=delivery.redelivery_of or "",
        create_time=timestamp(delivery.create_time),
        attempts=[
            wpb.WebhookDeliveryAttempt(
                attempt_number=a.attempt_number,
                attempt_time=timestamp(a.attempt_time),
                response_status=a.response_status,
                duration_ms=a.duration_ms,
                error=a.error,
                response_excerpt=a.response_excerpt,
            )
            for a in delivery.attempts
        ],
    )
    return message


def _check_algorithms(values: Any) -> tuple[str, ...]:
    """The header versions (`v1`, `v1a`) the requested algorithms sign with; `v1` alone when none is given."""
    found: list[str] = []
    for value in values:
        if value not in _ALGORITHMS:
            raise InvalidArgument(
                "signing_algorithms: use WEBHOOK_SIGNING_ALGORITHM_HMAC_SHA256 (v1) and/or "
                "WEBHOOK_SIGNING_ALGORITHM_ED25519 (v1a)",
                reason="SIGNING_ALGORITHM_UNSUPPORTED",
                metadata={"field": "signing_algorithms"},
            )
        if _ALGORITHMS[value] not in found:
            found.append(_ALGORITHMS[value])
    return tuple(found) or (rules.HMAC_SHA256,)


class WebhookEndpoints(pb_grpc.WebhookEndpointServiceServicer):
    """The calling merchant's webhook endpoints and deliveries."""

    def __init__(self, core: LedgerCore) -> None:
        self.core = core

    def _box(self) -> Sealer:
        box = self.core.secret_box
        if box is None:
            raise FailedPrecondition(
                "webhooks are not configured on this gateway (no webhook secret key)", reason="WEBHOOK_KEY_MISSING"
            )
        return box

    def _policy(self) -> UrlPolicy:
        return self.core.url_policy

    async def _check_url(self, url: str, field: str = "url") -> str:
        """The URL, when its form and every address it resolves to pass the SSRF guard; nothing is stored else."""
        target = check_url(url, self._policy(), field)
        try:
            await resolve_checked(target, self._policy(), self.core.resolver)
        except AddressRefused as exc:
            raise InvalidArgument(
                f"{field} is refused: {exc}; webhooks go to public addresses only",
                reason="URL_ADDRESS_REFUSED",
                metadata={"field": field},
            ) from None
        return url

    async def _owned(self, endpoint_id: str, *, for_update: bool = False, conn: Any = None) -> rules.Endpoint:
        if not looks_like_id(endpoint_id, "we"):
            raise _not_found(endpoint_id)
        found = await store.get_endpoint(conn, merchant_id(), endpoint_id, for_update=for_update)
        if found is None:
            raise _not_found(endpoint_id)
        return found

    async def CreateWebhookEndpoint(
        self, request: pb.CreateWebhookEndpointRequest, context: Context
    ) -> pb.CreateWebhookEndpointResponse:
        """A new endpoint with a new `whsec_` secret, shown in this response only; idempotent by request_id."""
        owner = merchant_id()
        box = self._box()
        request_id = text_rules.check_text(
            request.request_id or idempotency_key(context) or new_id("req"), "request_id", 200
        )
        digest = request_hash(request)
        description = text_rules.check_text(request.description, "description", 500)
        filters = rules.check_event_filters(list(request.enabled_events))
        version = rules.check_api_version(request.api_version)
        algorithms = _check_algorithms(request.signing_algorithms)
        url = await self._check_url(request.url)
        now = self.core.now()
        endpoint_id = new_id("we")
        secret = rules.new_secret()
        signing_key, public_key = rules.new_signing_key() if rules.ED25519 in algorithms else ("", "")
        # Sealed before a connection is taken: a token that answers slowly holds no database connection.
        secret_sealed = await seal_async(box, secret, endpoint_id)
        signing_key_sealed = await seal_async(box, signing_key, endpoint_id) if signing_key else None
        async with self.core.pool.acquire() as conn:
            replay = await store.find_by_request(conn, owner, request_id)
            if replay is None:
                stored = await store.insert_endpoint(
                    conn,
                    rules.Endpoint(
                        id=endpoint_id,
                        merchant_id=owner,
                        url=url,
                        description=description,
                        enabled_events=filters,
                        api_version=version,
                        disabled=False,
                        disabled_reason="",
                        secret_sealed=secret_sealed,
                        previous_secret_sealed=None,
                        previous_secret_expire_time=None,
                        failing_since=None,
                        create_time=now,
                        update_time=now,
                        signing_algorithms=algorithms,
                        signing_key_sealed=signing_key_sealed,
                        signing_public_key=public_key,
                    ),
                    request_id=request_id,
                    request_hash=digest,
                )
                if stored is not None:
                    return pb.CreateWebhookEndpointResponse(webhook_endpoint=endpoint_message(stored, secret))
                replay = await store.find_by_request(conn, owner, request_id)
            assert replay is not None
            endpoint, stored_digest = replay
            if stored_digest != digest:
                raise AlreadyExists(
                    "request_id was already used with a different request",
                    reason="REQUEST_ID_REUSED",
                    metadata={"field": "request_id"},
                )
            # The same request again (a lost response): the same endpoint and its current secret.
            return pb.CreateWebhookEndpointResponse(
                webhook_endpoint=endpoint_message(endpoint, await open_async(box, endpoint.secret_sealed, endpoint.id))
            )

    async def GetWebhookEndpoint(
        self, request: pb.GetWebhookEndpointRequest, context: Context
    ) -> pb.GetWebhookEndpointResponse:
        """One of the caller's endpoints, without its secret."""
        async with self.core.pool.acquire() as conn:
            endpoint = await self._owned(request.id, conn=conn)
        return pb.GetWebhookEndpointResponse(webhook_endpoint=endpoint_message(endpoint))

    async def ListWebhookEndpoints(
        self, request: pb.ListWebhookEndpointsRequest, context: Context
    ) -> pb.ListWebhookEndpointsResponse:
        """The caller's endpoints, newest first, without secrets."""
        owner = merchant_id()
        limit = page_size(request.page_size)
        query = f"webhook_endpoints|{owner}"
        after = newest_first_position(request.page_token, query)
        async with self.core.pool.acquire() as conn:
            rows = await store.list_endpoints(conn, owner, after=after, limit=limit)
        return pb.ListWebhookEndpointsResponse(
            webhook_endpoints=[endpoint_message(e) for e in rows],
            next_page_token=newest_first_next_token(rows, limit, query),
        )

    async def UpdateWebhookEndpoint(
        self, request: pb.UpdateWebhookEndpointRequest, context: Context
    ) -> pb.UpdateWebhookEndpointResponse:
        """Change url, description, enabled_events, disabled or api_version; re-enabling clears the reason."""
        given = request.webhook_endpoint
        paths = list(request.update_mask.paths)
        if not paths:
            defaults = wpb.WebhookEndpoint()
            paths = [name for name in store.UPDATABLE if getattr(given, name) != getattr(defaults, name)]
        changes: dict[str, Any] = {}
        for path in paths:
            if path not in store.UPDATABLE:
                raise InvalidArgument(
                    f"update_mask: {path[:100]!r} cannot be updated; use {', '.join(store.UPDATABLE)}",
                    reason="UPDATE_MASK_INVALID",
                    metadata={"field": "update_mask"},
                )
            if path == "url":
                changes["url"] = await self._check_url(given.url, "webhook_endpoint.url")
            elif path == "description":
                changes["description"] = text_rules.check_text(given.description, "webhook_endpoint.description", 500)
            elif path == "enabled_events":
                changes["enabled_events"] = rules.check_event_filters(list(given.enabled_events))
            elif path == "api_version":
                changes["api_version"] = rules.check_api_version(given.api_version)
            else:
                changes["disabled"] = given.disabled
        async with self.core.pool.acquire() as conn, conn.transaction():
            endpoint = await self._owned(request.id, for_update=True, conn=conn)
            if changes:
                endpoint = await store.update_endpoint(conn, endpoint.id, changes, self.core.now())
        return pb.UpdateWebhookEndpointResponse(webhook_endpoint=endpoint_message(endpoint))

    async def DeleteWebhookEndpoint(
        self, request: pb.DeleteWebhookEndpointRequest, context: Context
    ) -> pb.DeleteWebhookEndpointResponse:
        """Delete an endpoint; its open deliveries fail."""
        async with self.core.pool.acquire() as conn, conn.transaction():
            endpoint = await self._owned(request.id, for_update=True, conn=conn)
            await store.delete_endpoint(conn, endpoint.id, self.core.now())
        return pb.DeleteWebhookEndpointResponse()

    async def RotateWebhookSecret(
        self, request: pb.RotateWebhookSecretRequest, context: Context
    ) -> pb.RotateWebhookSecretResponse:
        """A new secret, shown once; the old one keeps signing beside it for `overlap` (24 h by default)."""
        box = self._box()
        overlap = rules.check_overlap(
            from_duration(request.overlap, "overlap") if request.HasField("overlap") else None
        )
        request_id = text_rules.check_text(request.request_id or idempotency_key(context), "request_id", 200) or None
        now = self.core.now()
        async with self.core.pool.acquire() as conn, conn.transaction():
            endpoint = await self._owned(request.id, for_update=True, conn=conn)
            if request_id is not None and await store.rotate_request_id(conn, endpoint.id) == request_id:
                current = await open_async(box, endpoint.secret_sealed, endpoint.id)
                return pb.RotateWebhookSecretResponse(webhook_endpoint=endpoint_message(endpoint, current))
            secret = rules.new_secret()
            ed25519 = rules.ED25519 in endpoint.signing_algorithms
            signing_key, public_key = rules.new_signing_key() if ed25519 else ("", "")
            rotated = await store.rotate(
                conn,
                endpoint.id,
                secret_sealed=await seal_async(box, secret, endpoint.id),
                previous_sealed=endpoint.secret_sealed,
                previous_expire_time=now + overlap,
                request_id=request_id,
                now=now,
                signing_key_sealed=await seal_async(box, signing_key, endpoint.id) if ed25519 else None,
                signing_public_key=public_key,
                previous_signing_key_sealed=endpoint.signing_key_sealed if ed25519 else None,
            )
        return pb.RotateWebhookSecretResponse(webhook_endpoint=endpoint_message(rotated, secret))

    async def ListWebhookDeliveries(
        self, request: pb.ListWebhookDeliveriesRequest, context: Context
    ) -> pb.ListWebhookDeliveriesResponse:
        """An endpoint's deliveries with their attempts, newest first."""
        limit = page_size(request.page_size)
        status = (
            wpb.WebhookDeliveryStatus.Name(request.status).removeprefix("WEBHOOK_DELIVERY_STATUS_")
            if request.status
            else None
        )
        event_type = text_rules.check_text(request.event_type, "event_type", 100) or None
        invoice_id = text_rules.check_text(request.invoice_id, "invoice_id", 100) or None
        query = f"webhook_deliveries|{request.id}|{status}|{event_type}|{invoice_id}"
        after = newest_first_position(request.page_token, query)
        async with self.core.pool.acquire() as conn:
            endpoint = await self._owned(request.id, conn=conn)
            rows = await store.list_deliveries(
                conn, endpoint.id, status=status, event_type=event_type, after=after, limit=limit, invoice_id=invoice_id
            )
        return pb.ListWebhookDeliveriesResponse(
            deliveries=[delivery_message(d) for d in rows], next_page_token=newest_first_next_token(rows, limit, query)
        )

    async def _resend(
        self, conn: Any, endpoint: rules.Endpoint, original: rules.Delivery, request_id: str | None
    ) -> NewDelivery:
        now = self.core.now()
        return NewDelivery(
            id=new_id("wd"),
            endpoint_id=endpoint.id,
            merchant_id=endpoint.merchant_id,
            event_id=original.event_id,
            event_type=original.event_type,
            order_key=None,
            body=original.body,
            event_time=now,
            next_attempt_time=now,
            create_time=now,
            test=original.test,
            redelivery_of=original.id,
            request_id=request_id,
        )

    async def RedeliverWebhook(
        self, request: pb.RedeliverWebhookRequest, context: Context
    ) -> pb.RedeliverWebhookResponse:
        """Send a delivery's event again now, as a new delivery with the same event id (webhook-id)."""
        request_id = text_rules.check_text(request.request_id or idempotency_key(context), "request_id", 200) or None
        async with self.core.pool.acquire() as conn, conn.transaction():
            endpoint = await self._owned(request.id, conn=conn)
            self._check_enabled(endpoint)
            if request_id is not None and (done := await store.find_delivery_by_request(conn, endpoint.id, request_id)):
                return pb.RedeliverWebhookResponse(delivery=delivery_message(done))
            original = (
                await store.get_delivery(conn, endpoint.id, request.delivery_id)
                if looks_like_id(request.delivery_id, "wd")
                else None
            )
            if original is None:
                raise NotFound(
                    f"no delivery {request.delivery_id[:100]} to this endpoint",
                    reason="WEBHOOK_DELIVERY_NOT_FOUND",
                    metadata={"field": "delivery_id"},
                )
            new = await self._resend(conn, endpoint, original, request_id)
            await store.insert_deliveries(conn, [new])
            made = await store.get_delivery(conn, endpoint.id, new.id)
        assert made is not None
        return pb.RedeliverWebhookResponse(delivery=delivery_message(made))

    def _check_enabled(self, endpoint: rules.Endpoint) -> None:
        if endpoint.disabled:
            raise FailedPrecondition(
                "the endpoint is disabled; enable it first",
                reason="WEBHOOK_ENDPOINT_DISABLED",
                metadata={"field": "id"},
            )

    async def ReplayFailedWebhooks(
        self, request: pb.ReplayFailedWebhooksRequest, context: Context
    ) -> pb.ReplayFailedWebhooksResponse:
        """Redeliver every failed delivery to the endpoint created since start_time (up to 1000 a call)."""
        if not request.HasField("start_time"):
            raise InvalidArgument("start_time is required", reason="FIELD_REQUIRED", metadata={"field": "start_time"})
        since = from_timestamp(request.start_time, "start_time")
        now = self.core.now()
        if since < now - MAX_REPLAY_AGE or since > now:
            raise InvalidArgument(
                "start_time must be within the last 30 days",
                reason="TIME_OUT_OF_RANGE",
                metadata={"field": "start_time"},
            )
        async with self.core.pool.acquire() as conn, conn.transaction():
            endpoint = await self._owned(request.id, conn=conn)
            self._check_enabled(endpoint)
            failed = await store.failed_since(conn, endpoint.id, since, MAX_REPLAY)
            new = [await self._resend(conn, endpoint, d, None) for d in failed]
            count = await store.insert_deliveries(conn, new)
        return pb.ReplayFailedWebhooksResponse(replayed_count=count)

    async def SendTestWebhook(self, request: pb.SendTestWebhookRequest, context: Context) -> pb.SendTestWebhookResponse:
        """Send a `webhook.test` event (or a simulated type) to the endpoint, marked test in its data."""
        event_type = request.event_type or "webhook.test"
        if event_type not in rules.EVENT_TYPES:
            raise InvalidArgument(
                f"event_type {event_type[:100]!r} is no event type",
                reason="EVENT_TYPE_UNKNOWN",
                metadata={"field": "event_type"},
            )
        request_id = text_rules.check_text(request.request_id or idempotency_key(context), "request_id", 200) or None
        now = self.core.now()
        async with self.core.pool.acquire() as conn, conn.transaction():
            endpoint = await self._owned(request.id, conn=conn)
            self._check_enabled(endpoint)
            if request_id is not None and (done := await store.find_delivery_by_request(conn, endpoint.id, request_id)):
                return pb.SendTestWebhookResponse(delivery=delivery_message(done))
            event_id = new_id("evt")
            body = rules.render_body(
                event_id=event_id,
                event_type=event_type,
                created=now,
                api_version=endpoint.api_version,
                data={"test": True, "endpoint_id": endpoint.id},
            )
            new = NewDelivery(
                id=new_id("wd"),
                endpoint_id=endpoint.id,
                merchant_id=endpoint.merchant_id,
                event_id=event_id,
                event_type=event_type,
                order_key=None,
                body=body,
                event_time=now,
                next_attempt_time=now,
                create_time=now,
                test=True,
                request_id=request_id,
            )
            await store.insert_deliveries(conn, [new])
            made = await store.get_delivery(conn, endpoint.id, new.id)
        assert made is not None
        return pb.SendTestWebhookResponse(delivery=delivery_message(made))

"""Wiring of the checkout service: the page's HTTPS listener (for Envoy only), its ledger channel and Redis.

The service runs under the shared runtime like every other: its gRPC port serves health (for the process runner
and probes) and nothing else. The page itself is HTTP/1.1 on `http_port`, over mutual TLS: only a peer whose
mesh certificate names the `edge` role (Envoy) is answered. Routes, all under `/checkout/`:

- `GET /checkout/<invoice id>/<token>`: the page (404, the same bytes whatever was wrong, for any other link);
- `GET /checkout/<invoice id>/<token>/events`: the invoice's live status as server-sent events;
- `POST /checkout/<invoice id>/<token>/refund-address`: the customer's refund address (a form), set once;
- `GET /checkout/static/checkout.js|checkout.css|favicon.svg`: the page's script, stylesheet and icon.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import redis.asyncio as redis
from aiohttp import web
from stablegate.ledger.v1 import checkout_service_pb2 as pb
from stablegate.ledger.v1 import checkout_service_pb2_grpc as pb_grpc
from stablegate.merchant.v1 import invoice_pb2

from checkout.config import CheckoutSettings
from checkout.live import StatusFeed, channel, encode
from checkout.page import NOT_FOUND_PAGE, LiveStatus, live_status, render
from service_runtime import mesh
from service_runtime.mesh import MethodRoles, Role, https_listener_ssl, peer_cert_has_role
from service_runtime.redis_client import async_redis
from service_runtime.server import ServiceDefinition

log = logging.getLogger("stablegate.checkout")

SERVED: tuple[str, ...] = ()
"""No proto service: the gRPC port serves health only (any mesh role, like every service)."""
ROLES: MethodRoles = {}
STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC_TYPES = {
    "checkout.js": "text/javascript; charset=utf-8",
    "checkout.css": "text/css; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
ID = r"inv_[A-Za-z0-9]{1,64}"
TOKEN = r"[A-Za-z0-9_-]{1,64}"  # noqa: S105 - a route pattern, not a secret
LEDGER_TIMEOUT = 5.0


class LedgerUnavailable(RuntimeError):
    """The ledger could not answer (the page says so with 503; nothing about the invoice is revealed)."""


@dataclass
class Clients:
    """The ledger stub and Redis, made inside the server's event loop at startup."""

    ledger: grpc.aio.Channel | None = None
    stub: pb_grpc.CheckoutServiceAsyncStub | None = None
    cache: redis.Redis | None = field(default=None, repr=False)

    async def invoice(self, invoice_id: str, token: str) -> invoice_pb2.Invoice | None:
        """The invoice the link names, or None when the ledger says there is none for it."""
        assert self.stub is not None
        try:
            reply = await self.stub.GetCheckoutInvoice(
                pb.GetCheckoutInvoiceRequest(invoice_id=invoice_id, token=token), timeout=LEDGER_TIMEOUT
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise LedgerUnavailable(f"ledger answered {exc.code().name}") from exc
        found: invoice_pb2.Invoice = reply.invoice
        return found

    async def set_refund_address(self, invoice_id: str, token: str, address: str) -> tuple[int, str]:
        """Ask the ledger to set the refund address: (HTTP status, message for the customer; empty on success)."""
        assert self.stub is not None
        try:
            await self.stub.SetCheckoutRefundAddress(
                pb.SetCheckoutRefundAddressRequest(invoice_id=invoice_id, token=token, refund_address=address),
                timeout=LEDGER_TIMEOUT,
            )
        except grpc.aio.AioRpcError as exc:
            refusals = {
                grpc.StatusCode.NOT_FOUND: 404,
                grpc.StatusCode.INVALID_ARGUMENT: 400,
                grpc.StatusCode.FAILED_PRECONDITION: 409,
            }
            if exc.code() in refusals:
                return refusals[exc.code()], str(exc.details() or "")
            raise LedgerUnavailable(f"ledger answered {exc.code().name}") from exc
        return 303, ""

    async def status(self, invoice_id: str, token: str) -> LiveStatus | None:
        """The customer's view of the invoice's status (the live feed's reader)."""
        invoice = await self.invoice(invoice_id, token)
        return live_status(invoice) if invoice is not None else None


def peer_is_edge(request: web.Request, trust_domain: str) -> bool:
    """True when the TLS peer's verified certificate names the `edge` mesh role (Envoy)."""
    transport = request.transport
    cert = transport.get_extra_info("peercert") if transport is not None else None
    return peer_cert_has_role(cert, trust_domain, Role.EDGE)


def server_ssl(settings: CheckoutSettings) -> ssl.SSLContext:
    """Mutual TLS for the page's listener (service_runtime.mesh.https_listener_ssl)."""
    return https_listener_ssl(settings.tls)


def _not_found() -> web.Response:
    return web.Response(status=404, text=NOT_FOUND_PAGE, content_type="text/html", charset="utf-8")


def _unavailable() -> web.Response:
    return web.Response(
        status=503, text="The checkout is unavailable; try again shortly.", headers={"retry-after": "5"}
    )


def make_app(settings: CheckoutSettings, clients: Clients, feed: StatusFeed) -> web.Application:  # noqa: PLR0915
    """The page's aiohttp application."""
    trust_domain = settings.tls.trust_domain
    static = {name: (STATIC_DIR / name).read_bytes() for name in STATIC_TYPES}

    @web.middleware
    async def only_edge(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        # Mutual TLS already required a mesh certificate; only Envoy's role may be answered.
        if not peer_is_edge(request, trust_domain):
            return web.Response(status=403, text="only the edge may call the checkout page")
        return await handler(request)

    async def page(request: web.Request) -> web.StreamResponse:
        invoice_id, token = request.match_info["invoice_id"], request.match_info["token"]
        try:
            invoice = await clients.invoice(invoice_id, token)
        except LedgerUnavailable:
            log.warning("ledger unavailable for a checkout page", exc_info=True)
            return _unavailable()
        if invoice is None:
            return _not_found()
        link = f"/checkout/{invoice_id}/{token}"
        body = render(invoice, f"{link}/events", refund_url=f"{link}/refund-address")
        return web.Response(text=body, content_type="text/html", charset="utf-8")

    async def refund_address(request: web.Request) -> web.StreamResponse:
        invoice_id, token = request.match_info["invoice_id"], request.match_info["token"]
        link = f"/checkout/{invoice_id}/{token}"
        form = await request.post()
        address = form.get("refund_address", "")
        try:
            status, problem = await clients.set_refund_address(
                invoice_id, token, address.strip() if isinstance(address, str) else ""
            )
            if status == 303:
                # Post/redirect/get: a reload does not send the form again.
                raise web.HTTPSeeOther(location=link)
            invoice = await clients.invoice(invoice_id, token) if status != 404 else None
        except LedgerUnavailable:
            return _unavailable()
        if invoice is None:
            return _not_found()
        body = render(invoice, f"{link}/events", refund_url=f"{link}/refund-address", refund_error=problem)
        return web.Response(status=status, text=body, content_type="text/html", charset="utf-8")

    async def events(request: web.Request) -> web.StreamResponse:
        invoice_id, token = request.match_info["invoice_id"], request.match_info["token"]
        try:
            found = await clients.invoice(invoice_id, token)
        except LedgerUnavailable:
            return _unavailable()
        if found is None:
            return _not_found()
        assert clients.cache is not None
        response = web.StreamResponse(headers={"content-type": "text/event-stream", "x-accel-buffering": "no"})
        await response.prepare(request)
        pubsub = clients.cache.pubsub()
        try:
            await pubsub.subscribe(channel(invoice_id))
            # Read again after subscribing: a change published in between is in this read or on the channel.
            current = await clients.status(invoice_id, token) or live_status(found)
            last = encode(current)
            await response.write(f"retry: 2000\nevent: status\ndata: {last}\n\n".encode())
            async with feed.watching(invoice_id, token):
                while True:
                    message = await pubsub.get_message(
                        ignore_subscribe_messages=True, timeout=settings.keepalive_seconds
                    )
                    if message is None:
                        await response.write(b": keepalive\n\n")
                        continue
                    data = message["data"].decode()
                    if data != last:
                        last = data
                        await response.write(f"event: status\ndata: {data}\n\n".encode())
        except (ConnectionResetError, LedgerUnavailable):
            # The customer left (or the ledger went away): the browser's EventSource reconnects on its own.
            pass
        finally:
            with contextlib.suppress(Exception):
                await pubsub.unsubscribe()
                await pubsub.aclose()  # type: ignore[no-untyped-call]
        return response

    async def asset(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in static:
            return _not_found()
        return web.Response(body=static[name], headers={"content-type": STATIC_TYPES[name]})

    async def not_routed(request: web.Request) -> web.StreamResponse:
        # Any other path gets the same not-found page as a wrong link: the answer tells nothing apart.
        return _not_found()

    app = web.Application(middlewares=[only_edge], client_max_size=4096)
    app.router.add_get("/checkout/static/{name}", asset)
    app.router.add_get(f"/checkout/{{invoice_id:{ID}}}/{{token:{TOKEN}}}", page)
    app.router.add_get(f"/checkout/{{invoice_id:{ID}}}/{{token:{TOKEN}}}/events", events)
    app.router.add_post(f"/checkout/{{invoice_id:{ID}}}/{{token:{TOKEN}}}/refund-address", refund_address)
    app.router.add_get("/{tail:.*}", not_routed)
    return app


def definition(settings: CheckoutSettings) -> ServiceDefinition:
    """The checkout service: the page's HTTPS listener started and stopped with the runtime's gRPC server."""
    clients = Clients()
    running: list[web.AppRunner] = []
    tasks: list[asyncio.Task[None]] = []

    async def startup() -> None:
        clients.ledger = mesh.channel(settings.ledger_target, settings.tls)
        clients.stub = pb_grpc.CheckoutServiceStub(clients.ledger)
        clients.cache = async_redis(settings.redis_url)
        feed = StatusFeed(clients.cache, clients.status, settings.poll_interval_seconds)
        runner = web.AppRunner(make_app(settings, clients, feed), access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, settings.host, settings.http_port, ssl_context=server_ssl(settings))
        await site.start()
        running.append(runner)
        tasks.append(asyncio.create_task(feed.poll_forever(lambda exc: log.warning("status poll failed: %s", exc))))
        log.info("checkout page listening", extra={"http_port": settings.http_port})

    def register(server: grpc.aio.Server) -> None:
        """Nothing but health on the gRPC port."""

    async def shutdown() -> None:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for runner in running:
            await runner.cleanup()
        if clients.ledger is not None:
            await clients.ledger.close(None)
        if clients.cache is not None:
            await clients.cache.aclose()

    return ServiceDefinition("checkout", register, SERVED, startup=startup, shutdown=shutdown, roles=ROLES)

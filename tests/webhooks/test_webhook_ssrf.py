"""The SSRF guard under the prod profile: refused at creation and at every send, with no connection made."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from stablegate.merchant.v1 import webhook_pb2 as wpb

from tests.conftest import error_info
from tests.webhooks.conftest import listening, webhook_ledger

PUBLIC = "93.184.216.34"


async def test_private_loopback_link_local_and_metadata_urls_are_refused_at_creation(ledger_db: str) -> None:
    async with webhook_ledger(ledger_db, prod=True) as wl:
        wl.resolver.table["internal.example"] = ["10.1.2.3"]
        wl.resolver.table["mixed.example"] = [PUBLIC, "192.168.1.1"]
        for url in (
            "https://127.0.0.1/hook",
            "https://10.0.0.1/hook",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]/hook",
            "https://[::ffff:127.0.0.1]/hook",
            "https://internal.example/hook",
            "https://mixed.example/hook",
        ):
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await wl.create(url)
            info = error_info(caught.value)
            assert (caught.value.code(), info.reason, info.metadata["field"]) == (
                grpc.StatusCode.INVALID_ARGUMENT,
                "URL_ADDRESS_REFUSED",
                "url",
            ), url
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await wl.create(f"http://{PUBLIC}/hook")
        assert error_info(caught.value).reason == "URL_NOT_HTTPS"
        assert await wl.ledger.value("SELECT count(*) FROM ledger.webhook_endpoints") == 0


async def test_a_host_that_rebinds_to_a_private_address_is_refused_at_send_with_no_connection(ledger_db: str) -> None:
    async with webhook_ledger(ledger_db, prod=True) as wl, listening() as trap:
        wl.resolver.table["hooks.example"] = [PUBLIC]
        endpoint = await wl.create(f"https://hooks.example:{trap.port}/hook")
        for literal in ("127.0.0.1", "10.0.0.1", "169.254.169.254", "[::1]"):
            # A stored URL naming an address directly (as if saved before a policy change) is checked again too.
            other = await wl.create(f"https://hooks.example:{trap.port}/{literal}")
            await wl.ledger.fetch(
                "UPDATE ledger.webhook_endpoints SET url = $2 WHERE id = $1",
                other.id,
                f"https://{literal}:{trap.port}/h",
            )
        # After creation, DNS answers with loopback, where a listener counts every connection.
        wl.resolver.table["hooks.example"] = ["127.0.0.1"]
        await wl.invoice()

        async def all_refused() -> bool:
            rows = await wl.ledger.fetch("SELECT last_error FROM ledger.webhook_deliveries")
            return len(rows) == 5 and all(r["last_error"].startswith("refused:") for r in rows)

        async def poll() -> None:
            while not await all_refused():  # noqa: ASYNC110 - rows change in Postgres: no event to await
                await asyncio.sleep(0.05)

        await asyncio.wait_for(poll(), 15)
        (d,) = await wl.deliveries(endpoint.id)
        assert d.status == wpb.WEBHOOK_DELIVERY_STATUS_RETRYING
        assert "127.0.0.1" in d.last_error and "loopback" in d.last_error
        errors = sorted(
            r["last_error"] for r in await wl.ledger.fetch("SELECT last_error FROM ledger.webhook_deliveries")
        )
        assert any("169.254.169.254" in e and "metadata" in e for e in errors), errors
        assert any("10.0.0.1" in e and "private" in e for e in errors), errors
        assert any("::1" in e and "loopback" in e for e in errors), errors
        assert trap.connections == 0

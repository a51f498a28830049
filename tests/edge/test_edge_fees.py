"""The public fee estimate: GET /v1/fees:estimate through Envoy to settlement, which reads the session's anvil.

A merchant key with `payouts:read` gets what a one-line payout would cost the platform now in BNB gas; without the
scope it is 403; bad query parameters are 400 naming the field. Settlement trusts the caller identity only from
the edge role (Envoy strips forged identity headers; another mesh role's are ignored).
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import grpc
import pytest
from stablegate.merchant.v1 import fee_service_pb2 as pb
from stablegate.merchant.v1 import fee_service_pb2_grpc as pb_grpc

from gateway import parts
from service_runtime import mesh
from service_runtime.config import ConfigError, load_settings
from service_runtime.devcerts import DevMesh
from service_runtime.mesh import Role
from service_runtime.server import ServiceRuntime
from settlement.app import definition
from settlement.config import SettlementSettings
from settlement.fee_service import ONE_LINE_PAYOUT_GAS, format_units
from tests.conftest import AnvilNode, error_info
from tests.edge.conftest import Stack

FLOOR = 50_000_000  # settlement's default floor: BSC's 0.05 gwei


def test_a_payouts_reader_gets_the_network_fee_of_a_one_line_payout_now(stack: Stack, anvil: AnvilNode) -> None:
    _, key = stack.merchant_key(("payouts:read",))
    before = dt.datetime.now(dt.UTC)
    for _ in range(5):
        head = parts.json_rpc(anvil.url, "eth_blockNumber", timeout=5.0)
        reply = stack.call("GET", "/v1/fees:estimate?amount=250.00&destination_address=" + "0x" + "a" * 40, key=key)
        assert reply.status == 200, reply.body
        quote = reply.json()
        # The next block's base fee, as the node itself reports it, for the same head.
        history = parts.json_rpc(anvil.url, "eth_feeHistory", ["0x1", "latest", []], timeout=5.0)
        assert isinstance(history, dict)
        if parts.json_rpc(anvil.url, "eth_blockNumber", timeout=5.0) == head:
            break  # no block in between: the quote and the node speak of the same next block
    else:
        pytest.fail("the session's anvil kept mining; the quote could not be compared with one head")
    assert int(quote["base_fee_wei"]) == int(history["baseFeePerGas"][-1], 16)
    gas_price = int(quote["gas_price_wei"])
    assert gas_price == int(quote["base_fee_wei"]) + int(quote["priority_fee_wei"])
    assert gas_price >= FLOOR
    assert quote["gas_limit"] == str(ONE_LINE_PAYOUT_GAS)
    assert quote["network_fee_wei"] == str(ONE_LINE_PAYOUT_GAS * gas_price)
    assert quote["network_fee"] == format_units(ONE_LINE_PAYOUT_GAS * gas_price, 18)
    assert quote["network_fee_asset"] == "BNB"
    assert int(quote["max_network_fee_wei"]) >= int(quote["network_fee_wei"])
    assert (quote["operation"], quote["asset"], quote["fee"], quote["fee_base_units"]) == (
        "FEE_OPERATION_PAYOUT",
        "USDT",
        "0",
        "0",
    )
    assert dt.datetime.fromisoformat(quote["expire_time"]) > before


def test_the_fee_estimate_needs_the_payouts_read_scope_and_valid_parameters(stack: Stack) -> None:
    _, invoices_only = stack.merchant_key(("invoices:read",))
    refused = stack.call("GET", "/v1/fees:estimate", key=invoices_only)
    assert refused.status == 403, refused.body
    assert refused.json()["details"][0]["reason"] == "SCOPE_MISSING"
    assert refused.json()["details"][0]["metadata"]["requiredScope"] == "payouts:read"
    assert stack.call("GET", "/v1/fees:estimate").status == 401

    _, key = stack.merchant_key(("payouts:read",))
    for query, field in (
        ("amount=1.2.3", "amount"),
        ("amount=-5", "amount"),
        ("amount=0", "amount"),
        ("amount=1." + "1" * 19, "amount"),
        ("asset=BTC", "asset"),
        ("destination_address=0x12", "destination_address"),
        ("destination_address=0x" + "aB" * 20, "destination_address"),  # mixed case, wrong checksum
    ):
        bad = stack.call("GET", f"/v1/fees:estimate?{query}", key=key)
        assert bad.status == 400, (query, bad.body)
        assert bad.json()["details"][0]["metadata"]["field"] == field, query


def test_network_fees_are_exact_decimals_of_bnb() -> None:
    assert format_units(ONE_LINE_PAYOUT_GAS * 50_000_000, 18) == "0.0000045"  # at BSC's floor
    assert format_units(4_181_400_000_000, 18) == "0.0000041814"
    assert format_units(3 * 10**18, 18) == "3"
    assert format_units(0, 18) == "0"


@asynccontextmanager
async def running_settlement(rpc_url: str) -> AsyncIterator[tuple[DevMesh, int]]:
    """Settlement in-process (test profile) reading the node at `rpc_url`: its mesh and gRPC port."""
    pki = DevMesh(Path(tempfile.mkdtemp(prefix="settlement-pki-")))
    settings = load_settings(
        SettlementSettings,
        profile="test",
        grpc_port=0,
        metrics_port=None,
        drain_delay_seconds=0,
        rpc_urls=[rpc_url],
        tls=pki.files(Role.SETTLEMENT).settings(),
    )
    runtime = ServiceRuntime(settings, definition(settings))
    ports = await runtime.start()
    try:
        yield pki, ports.grpc_port
    finally:
        runtime.request_stop()
        await runtime.wait_and_drain()
        shutil.rmtree(pki.ca.directory, ignore_errors=True)


@pytest.fixture
async def settlement(anvil: AnvilNode) -> AsyncIterator[tuple[DevMesh, int]]:
    """Settlement in-process on the session's anvil."""
    async with running_settlement(anvil.url) as running:
        yield running


FORGED = (("x-stablegate-merchant-id", "mer_forged"), ("x-stablegate-scopes", "payouts:read"))


async def test_an_unreadable_chain_is_unavailable_not_a_guess() -> None:
    async with (
        running_settlement(f"http://127.0.0.1:{parts.free_port()}") as (pki, port),
        mesh.channel(f"127.0.0.1:{port}", pki.files(Role.EDGE)) as channel,
    ):
        with pytest.raises(grpc.aio.AioRpcError) as down:
            await pb_grpc.FeeServiceStub(channel).EstimateFee(pb.EstimateFeeRequest(), metadata=FORGED, timeout=30)
    assert down.value.code() == grpc.StatusCode.UNAVAILABLE
    assert error_info(down.value).reason == "FEE_ESTIMATE_UNAVAILABLE"


async def test_settlement_trusts_identity_headers_only_from_the_edge(settlement: tuple[DevMesh, int]) -> None:
    pki, port = settlement
    forged = FORGED
    async with mesh.channel(f"127.0.0.1:{port}", pki.files(Role.DASHBOARD)) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await pb_grpc.FeeServiceStub(channel).EstimateFee(pb.EstimateFeeRequest(), metadata=forged)
    # The dashboard's certificate may not call the method at all (settlement/app.py DASHBOARD_METHODS).
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    async with mesh.channel(f"127.0.0.1:{port}", pki.files(Role.EDGE)) as channel:
        stub = pb_grpc.FeeServiceStub(channel)
        reply = await stub.EstimateFee(pb.EstimateFeeRequest(), metadata=forged)
        assert reply.fee_estimate.gas_limit == ONE_LINE_PAYOUT_GAS
        with pytest.raises(grpc.aio.AioRpcError) as anonymous:
            await stub.EstimateFee(pb.EstimateFeeRequest())
        assert error_info(anonymous.value).reason == "MERCHANT_IDENTITY_MISSING"
    async with mesh.channel(f"127.0.0.1:{port}", pki.files(Role.WATCHER)) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as watcher:
            await pb_grpc.FeeServiceStub(channel).EstimateFee(pb.EstimateFeeRequest(), metadata=forged)
        assert watcher.value.code() == grpc.StatusCode.PERMISSION_DENIED  # not a role public methods admit


def test_settlement_refuses_a_fee_cap_below_the_floor(tmp_path: Path) -> None:
    pki = DevMesh(tmp_path / "pki")
    with pytest.raises(ConfigError, match=r"(?i)fee_(max|floor)_gas_price_wei"):
        load_settings(
            SettlementSettings,
            profile="test",
            tls=pki.files(Role.SETTLEMENT).settings(),
            fee_floor_gas_price_wei=10,
            fee_max_gas_price_wei=5,
        )

"""A public request whose body is not valid protobuf is INVALID_ARGUMENT (REQUEST_MALFORMED), never UNKNOWN."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest

from tests.conftest import error_info
from tests.ledger.ledger_harness import Ledger, running_ledger


@pytest.fixture
async def ledger(ledger_db: str) -> AsyncIterator[Ledger]:
    async with running_ledger(ledger_db) as running:
        yield running


async def test_a_corrupt_request_body_is_invalid_argument_and_creates_nothing(ledger: Ledger) -> None:
    _merchant, key = await ledger.merchant_with_key()
    create = ledger.channel.unary_unary(
        "/stablegate.merchant.v1.InvoiceService/CreateInvoice",
        request_serializer=lambda raw: raw,
        response_deserializer=lambda raw: raw,
    )
    # Field 19 (metadata), length-delimited, whose length runs past the end of the body.
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await create(b"\x9a\x01\x05\x0a", metadata=ledger.auth(key))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_info(refused.value).reason == "REQUEST_MALFORMED"
    assert await ledger.value("SELECT count(*) FROM ledger.invoices") == 0
    # Without a valid key the caller learns nothing about the body: the key is checked first.
    with pytest.raises(grpc.aio.AioRpcError) as anonymous:
        await create(b"\x9a\x01\x05\x0a")
    assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED

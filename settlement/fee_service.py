"""Public FeeService: what a payout would cost the platform now in BNB gas, for merchants through the edge.

The quote is the gas of a one-line `Treasury.payoutBatch` to a recipient that holds none of the token yet (the
dearer case: its balance slot goes from zero to non-zero) times the gas price `chain.fees.estimate_fees` finds now
under settlement's fee caps. The merchant's own payout fee comes with payout plans (the payouts issue); until
then `fee` is "0".

Who may ask: merchants, through Envoy. The edge's ext_authz has verified the key and set the caller's identity
headers (Envoy strips any a client sends), so settlement trusts them from a caller holding the `edge` mesh role
only (DECISIONS, "API keys are verified by the ledger"); the key needs the `payouts:read` scope.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import grpc
from google.protobuf import timestamp_pb2
from stablegate.merchant.v1 import fee_service_pb2 as pb
from stablegate.merchant.v1 import fee_service_pb2_grpc as pb_grpc

from chain.abi import to_checksum_address
from chain.client import ChainClient
from chain.fees import FeeCaps, FeeEstimateError, estimate_fees
from service_runtime.errors import InvalidArgument, PermissionDenied, Unauthenticated, Unavailable
from service_runtime.mesh import Role, peer_role

Context = grpc.aio.ServicerContext[Any, Any]

ONE_LINE_PAYOUT_GAS = 90_000
"""Gas of `payoutBatch` with one line to a fresh recipient: 83,628 measured on anvil with our treasury and test token
(`tests/chain/test_payout_gas.py` keeps this bound within 10% above the measurement)."""
QUOTE_SECONDS = 30
"""How long a quote stands: fees move block by block."""
PAYOUT_ASSET = "USDT"
TOKEN_DECIMALS = 18
"""BSC-USD (USDT on BSC) has 18 decimals."""
NATIVE_ASSET = "BNB"
NATIVE_DECIMALS = 18
SCOPE = "payouts:read"
MERCHANT_HEADER = "x-stablegate-merchant-id"
SCOPES_HEADER = "x-stablegate-scopes"
_AMOUNT = re.compile(r"(0|[1-9][0-9]*)(\.([0-9]+))?")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


def format_units(base_units: int, decimals: int) -> str:
    """Base units as a decimal string without trailing zeros: 4181400000000 wei → "0.0000041814"."""
    whole, fraction = divmod(base_units, 10**decimals)
    digits = str(fraction).rjust(decimals, "0").rstrip("0")
    return f"{whole}.{digits}" if digits else str(whole)


def check_request(request: pb.EstimateFeeRequest) -> None:
    """INVALID_ARGUMENT naming the field for an operation, asset, amount or address the quote cannot take."""
    if request.operation not in (pb.FEE_OPERATION_UNSPECIFIED, pb.FEE_OPERATION_PAYOUT):
        raise InvalidArgument(
            "operation must be PAYOUT", reason="OPERATION_UNSUPPORTED", metadata={"field": "operation"}
        )
    if request.asset not in ("", PAYOUT_ASSET):
        raise InvalidArgument(f"asset must be {PAYOUT_ASSET}", reason="ASSET_UNSUPPORTED", metadata={"field": "asset"})
    if request.amount:
        match = _AMOUNT.fullmatch(request.amount) if len(request.amount) <= 100 else None
        if match is None:
            raise InvalidArgument(
                "amount must be a decimal string in token units like 250.00: digits, at most one point, no sign",
                reason="AMOUNT_INVALID",
                metadata={"field": "amount"},
            )
        if len(match[3] or "") > TOKEN_DECIMALS:
            raise InvalidArgument(
                f"amount has more than {TOKEN_DECIMALS} decimals; it is never rounded",
                reason="AMOUNT_TOO_PRECISE",
                metadata={"field": "amount"},
            )
        if not any(c in "123456789" for c in request.amount):
            raise InvalidArgument(
                "amount must be above zero", reason="AMOUNT_NOT_POSITIVE", metadata={"field": "amount"}
            )
    address = request.destination_address
    if address:
        body = address[2:]
        if not _ADDRESS.fullmatch(address) or (
            body not in (body.lower(), body.upper()) and to_checksum_address(address) != address
        ):
            raise InvalidArgument(
                "destination_address must be 0x and 40 hex digits (mixed case must match its EIP-55 checksum)",
                reason="ADDRESS_INVALID",
                metadata={"field": "destination_address"},
            )


def require_payouts_reader(context: Context, trust_domain: str) -> str:
    """The merchant the edge vouches for, if it holds `payouts:read`; UNAUTHENTICATED / PERMISSION_DENIED if not."""
    headers = {key: value for key, value in context.invocation_metadata() or () if isinstance(value, str)}
    merchant = headers.get(MERCHANT_HEADER, "")
    if peer_role(context, trust_domain) != Role.EDGE or not merchant:
        # Identity headers count only from the edge, which verified the key (Envoy strips forged ones).
        raise Unauthenticated(
            "call the fee estimate through the edge with a merchant API key",
            reason="MERCHANT_IDENTITY_MISSING",
            metadata={},
        )
    scopes = {s.strip() for s in headers.get(SCOPES_HEADER, "").split(",")}
    if SCOPE not in scopes:
        raise PermissionDenied(
            f"the API key lacks the scope {SCOPE}", reason="SCOPE_MISSING", metadata={"requiredScope": SCOPE}
        )
    return merchant


class FeeEstimates(pb_grpc.FeeServiceServicer):
    """EstimateFee: a one-line payout's network fee now, in BNB."""

    def __init__(
        self,
        client: Callable[[], ChainClient],
        caps: FeeCaps,
        *,
        trust_domain: str,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        """Quote with the chain client `client()` returns (made at start-up) under `caps`; `now` for expiry."""
        self._client = client
        self._caps = caps
        self._trust_domain = trust_domain
        self._now = now

    async def EstimateFee(self, request: pb.EstimateFeeRequest, context: Context) -> pb.EstimateFeeResponse:
        """The network fee of a one-line payout at the gas price the chain asks now."""
        require_payouts_reader(context, self._trust_domain)
        check_request(request)
        try:
            quote = await estimate_fees(self._client(), self._caps)
        except FeeEstimateError as exc:
            raise Unavailable(
                "cannot read the chain's fees right now; retry shortly",
                reason="FEE_ESTIMATE_UNAVAILABLE",
                metadata={"error": str(exc)[:200]},
            ) from exc
        network_fee = ONE_LINE_PAYOUT_GAS * quote.gas_price_wei
        expire = timestamp_pb2.Timestamp()
        expire.FromDatetime(self._now() + dt.timedelta(seconds=QUOTE_SECONDS))
        return pb.EstimateFeeResponse(
            fee_estimate=pb.FeeEstimate(
                operation=pb.FEE_OPERATION_PAYOUT,
                asset=PAYOUT_ASSET,
                fee="0",
                fee_base_units="0",
                gas_limit=ONE_LINE_PAYOUT_GAS,
                gas_price_wei=str(quote.gas_price_wei),
                network_fee_wei=str(network_fee),
                expire_time=expire,
                network_fee_asset=NATIVE_ASSET,
                network_fee=format_units(network_fee, NATIVE_DECIMALS),
                max_network_fee_wei=str(ONE_LINE_PAYOUT_GAS * quote.max_fee_per_gas_wei),
                base_fee_wei=str(quote.base_fee_wei),
                priority_fee_wei=str(quote.max_priority_fee_per_gas_wei),
            )
        )

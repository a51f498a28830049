"""SettlementStatusService: settlement's chain providers' breakers and the hot/cold balances, read-only.

For operators and the dashboard's health page (docs/dashboard.md, "Health"). The balances are read now from the
chain at the finalized block (the block the hot/cold loop itself decides on), with the thresholds from settings.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from stablegate.settlement.v1 import settlement_status_service_pb2 as pb
from stablegate.settlement.v1 import settlement_status_service_pb2_grpc as pb_grpc

from chain.client import ChainClient, ChainError
from settlement.chain_io import finalized_block, token_balance
from settlement.config import SettlementSettings

log = logging.getLogger("stablegate.settlement.status")

BREAKER_STATES = {
    "closed": pb.BREAKER_STATE_CLOSED,
    "half-open": pb.BREAKER_STATE_HALF_OPEN,
    "open": pb.BREAKER_STATE_OPEN,
}
"""pybreaker's state names as the API's BreakerState."""


class SettlementStatus(pb_grpc.SettlementStatusServiceServicer):
    """GetSettlementStatus over the process's one chain client."""

    def __init__(self, settings: SettlementSettings, chain: Callable[[], ChainClient]) -> None:
        self.settings = settings
        self.chain = chain

    async def GetSettlementStatus(
        self, request: pb.GetSettlementStatusRequest, context: Any
    ) -> pb.GetSettlementStatusResponse:
        """Breakers as they stand; balances read at the finalized block (an error string when the chain fails)."""
        client = self.chain()
        reply = pb.GetSettlementStatusResponse()
        for provider in client.providers:
            reply.breakers.add(
                name=provider.name,
                state=BREAKER_STATES.get(provider.breaker.current_state, pb.BREAKER_STATE_UNSPECIFIED),
                consecutive_failures=provider.breaker.fail_counter,
            )
        s = self.settings
        if not (s.hot_cold_enabled and s.token_contract and s.treasury_address):
            return reply
        balances = reply.hot_cold
        balances.treasury_ceiling_base_units = str(s.treasury_ceiling_base_units)
        balances.treasury_target_base_units = str(s.treasury_target_base_units)
        balances.treasury_floor_base_units = str(s.treasury_floor_base_units)
        try:
            block, _ = await finalized_block(client)
            balances.block_number = block
            balances.treasury_base_units = str(await token_balance(client, s.token_contract, s.treasury_address, block))
            if s.cold_safe_address:
                balances.cold_base_units = str(
                    await token_balance(client, s.token_contract, s.cold_safe_address, block)
                )
        except ChainError as exc:
            log.warning("status: balances unavailable", extra={"error": type(exc).__name__})
            balances.error = f"the chain could not be read: {type(exc).__name__}"
        return reply

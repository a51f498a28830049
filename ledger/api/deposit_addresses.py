"""Internal DepositAddressService: the watcher learns which deposit addresses to watch."""

from __future__ import annotations

from typing import Any

import grpc
from stablegate.ledger.v1 import deposit_address_service_pb2 as pb
from stablegate.ledger.v1 import deposit_address_service_pb2_grpc as pb_grpc

from ledger.api.convert import timestamp
from ledger.core import LedgerCore
from ledger.domain.addresses import invoice_salt
from ledger.domain.invoices import ChainTerms
from ledger.store import invoices as invoice_store
from service_runtime.errors import InvalidArgument, Unimplemented
from service_runtime.pagination import decode_token, encode_token, page_size

Context = grpc.aio.ServicerContext[Any, Any]


class DepositAddresses(pb_grpc.DepositAddressServiceServicer):
    """List the deposit addresses still watched (invoices inside their monitoring window)."""

    def __init__(self, core: LedgerCore) -> None:
        self.core = core

    def _terms_for(self, chain_id: int) -> ChainTerms:
        """The ledger's chain terms, INVALID_ARGUMENT when the request names another chain."""
        terms = self.core.terms
        if chain_id != terms.chain_id:
            raise InvalidArgument(
                f"chain_id must be {terms.chain_id}", reason="CHAIN_MISMATCH", metadata={"field": "chain_id"}
            )
        return terms

    async def RegisterDepositAddress(
        self, request: pb.RegisterDepositAddressRequest, context: Context
    ) -> pb.RegisterDepositAddressResponse:
        """Not built: every address today is derived from its invoice at creation."""
        raise Unimplemented(
            "deposit addresses are derived from invoices at creation; registering others is not built yet",
            reason="NOT_IMPLEMENTED",
            metadata={"method": "stablegate.ledger.v1.DepositAddressService.RegisterDepositAddress"},
        )

    async def ListDepositAddresses(
        self, request: pb.ListDepositAddressesRequest, context: Context
    ) -> pb.ListDepositAddressesResponse:
        """Addresses ordered by address: active ones by default, retired ones when asked for.

        Active ones, with the `invoice.created` outbox events, are the watcher's feed; settlement's reconciliation
        reads both.
        """
        terms = self._terms_for(request.chain_id)
        retired = request.state == pb.DEPOSIT_ADDRESS_STATE_RETIRED
        if request.state not in (pb.DEPOSIT_ADDRESS_STATE_UNSPECIFIED, pb.DEPOSIT_ADDRESS_STATE_ACTIVE) and not retired:
            raise InvalidArgument(
                "state must be DEPOSIT_ADDRESS_STATE_ACTIVE or DEPOSIT_ADDRESS_STATE_RETIRED",
                reason="STATE_INVALID",
                metadata={"field": "state"},
            )
        state = pb.DEPOSIT_ADDRESS_STATE_RETIRED if retired else pb.DEPOSIT_ADDRESS_STATE_ACTIVE
        limit = page_size(request.page_size, default=500, maximum=5000)
        scope = f"{'retired' if retired else 'active'}|{terms.chain_id}"
        position = decode_token(request.page_token, scope)
        after = str(position["a"]) if position else None
        listing = invoice_store.retired_addresses if retired else invoice_store.active_addresses
        async with self.core.pool.acquire() as conn:
            rows = await listing(conn, self.core.now(), after=after, limit=limit)
        addresses = [
            pb.DepositAddress(
                address=address,
                chain_id=terms.chain_id,
                factory_address=terms.forwarder_factory,
                salt="0x" + invoice_salt(invoice_id).hex(),
                invoice_id=invoice_id,
                state=state,
                monitor_until_time=timestamp(monitor_until),
            )
            for address, invoice_id, monitor_until in rows
        ]
        token = encode_token({"a": rows[-1][0]}, scope) if len(rows) == limit else ""
        return pb.ListDepositAddressesResponse(deposit_addresses=addresses, next_page_token=token)

    async def ListDepositAddressChanges(
        self, request: pb.ListDepositAddressChangesRequest, context: Context
    ) -> pb.ListDepositAddressChangesResponse:
        """Addresses of invoices created since the cursor, in commit order (the watcher's feed)."""
        terms = self._terms_for(request.chain_id)
        limit = page_size(request.page_size, default=1000, maximum=10000)
        scope = f"feed|{terms.chain_id}"
        position = decode_token(request.cursor, scope, field="cursor") if request.cursor else None
        txid, last_id = (str(position["t"]), int(position["i"])) if position else ("0", 0)
        async with self.core.pool.acquire() as conn:
            rows = await invoice_store.addresses_created_after(conn, txid, last_id, limit)
        addresses = [
            pb.DepositAddress(
                address=address,
                chain_id=terms.chain_id,
                factory_address=terms.forwarder_factory,
                salt="0x" + invoice_salt(invoice_id).hex(),
                invoice_id=invoice_id,
                state=pb.DEPOSIT_ADDRESS_STATE_ACTIVE
                if monitor_until > self.core.now()
                else pb.DEPOSIT_ADDRESS_STATE_RETIRED,
                monitor_until_time=timestamp(monitor_until),
            )
            for _, _, address, invoice_id, monitor_until in rows
        ]
        cursor = encode_token({"t": rows[-1][0], "i": rows[-1][1]}, scope) if rows else request.cursor
        return pb.ListDepositAddressChangesResponse(
            deposit_addresses=addresses, next_cursor=cursor, caught_up=len(rows) < limit
        )

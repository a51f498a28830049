"""Internal JournalService, read side: account balances for settlement (posting stays UNIMPLEMENTED for now)."""

from __future__ import annotations

from typing import Any

import grpc
from stablegate.ledger.v1 import journal_service_pb2 as pb
from stablegate.ledger.v1 import journal_service_pb2_grpc as pb_grpc

from ledger.api.convert import timestamp
from ledger.core import LedgerCore
from ledger.store import balances as balance_store
from service_runtime.errors import InvalidArgument, Unimplemented
from service_runtime.pagination import decode_token, encode_token, page_size

Context = grpc.aio.ServicerContext[Any, Any]

_METHOD = "stablegate.ledger.v1.JournalService."


def _not_built(name: str) -> Unimplemented:
    return Unimplemented(
        f"JournalService.{name} is not built yet: postings are made by the ledger's own flows",
        reason="NOT_IMPLEMENTED",
        metadata={"method": _METHOD + name},
    )


def _message(row: balance_store.BalanceRow, block: int) -> pb.AccountBalance:
    return pb.AccountBalance(
        account=row.code,
        asset=row.asset,
        balance_base_units=str(row.balance),
        debit_total_base_units=str(row.debit_total),
        credit_total_base_units=str(row.credit_total),
        last_transaction_id=str(row.last_transaction_id) if row.last_transaction_id is not None else "",
        update_time=timestamp(row.update_time),
        kind=row.kind,
        merchant_id=row.merchant_id or "",
        as_of_block_number=block,
    )


class Journal(pb_grpc.JournalServiceServicer):
    """Balances by account, kind or asset, now or as of a chain block."""

    def __init__(self, core: LedgerCore) -> None:
        self.core = core

    async def PostTransaction(self, request: pb.PostTransactionRequest, context: Context) -> pb.PostTransactionResponse:
        """Not built yet (the settlement issue's ledger postings come with their own RPCs)."""
        raise _not_built("PostTransaction")

    async def GetTransaction(self, request: pb.GetTransactionRequest, context: Context) -> pb.GetTransactionResponse:
        """Not built yet."""
        raise _not_built("GetTransaction")

    async def ListTransactions(
        self, request: pb.ListTransactionsRequest, context: Context
    ) -> pb.ListTransactionsResponse:
        """Not built yet."""
        raise _not_built("ListTransactions")

    async def GetAccountBalance(
        self, request: pb.GetAccountBalanceRequest, context: Context
    ) -> pb.GetAccountBalanceResponse:
        """One account's balance; zero (with the names asked for) if it has no entries yet."""
        for name, value in (("account", request.account), ("asset", request.asset)):
            if not value:
                raise InvalidArgument(f"{name} is required", reason="FIELD_REQUIRED", metadata={"field": name})
        async with self.core.pool.acquire() as conn:
            rows = await balance_store.list_balances(conn, code=request.account, asset=request.asset, limit=1)
        found = rows[0] if rows else None
        if found is None:
            return pb.GetAccountBalanceResponse(
                balance=pb.AccountBalance(
                    account=request.account,
                    asset=request.asset,
                    balance_base_units="0",
                    debit_total_base_units="0",
                    credit_total_base_units="0",
                )
            )
        return pb.GetAccountBalanceResponse(balance=_message(found, 0))

    async def ListBalances(self, request: pb.ListBalancesRequest, context: Context) -> pb.ListBalancesResponse:
        """Balances by account code, filtered by prefix, kind and asset; as of a chain block when one is given."""
        limit = page_size(request.page_size, default=100, maximum=1000)
        scope = f"balances|{request.account_prefix}|{request.asset}|{request.kind}|{request.block_number}"
        position = decode_token(request.page_token, scope)
        after = str(position["a"]) if position else None
        async with self.core.pool.acquire() as conn:
            rows = await balance_store.list_balances(
                conn,
                prefix=request.account_prefix or None,
                asset=request.asset or None,
                kind=request.kind or None,
                after=after,
                block=request.block_number or None,
                limit=limit,
            )
        token = encode_token({"a": rows[-1].code}, scope) if len(rows) == limit else ""
        return pb.ListBalancesResponse(
            balances=[_message(r, request.block_number) for r in rows], next_page_token=token
        )

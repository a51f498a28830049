"""Merchant API servicer: monthly statements, read from the journal (ledger/store/statements.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg
import grpc
from stablegate.merchant.v1 import statement_service_pb2 as pb
from stablegate.merchant.v1 import statement_service_pb2_grpc as pb_grpc

from ledger.api.auth import merchant_id
from ledger.api.convert import timestamp
from ledger.core import LedgerCore
from ledger.domain.money import format_amount
from ledger.domain.statements import month_bounds
from ledger.store import statements as store

Context = grpc.aio.ServicerContext[Any, Any]


def statement_message(month: str, s: store.Statement, decimals: int) -> pb.Statement:
    """The API's Statement: every amount in token units and in base units."""

    def amounts(name: str, value: int) -> dict[str, str]:
        return {name: format_amount(value, decimals), f"{name}_base_units": str(value)}

    return pb.Statement(
        merchant_id=s.merchant_id,
        month=month,
        asset=s.asset,
        start_time=timestamp(s.start),
        end_time=timestamp(s.end),
        **amounts("opening_balance", s.opening),
        **amounts("payments", s.payments),
        **amounts("fees", s.fees),
        **amounts("payouts", s.payouts),
        **amounts("refunds", s.refunds),
        **amounts("adjustments", s.adjustments),
        **amounts("closing_balance", s.closing),
        lines=[
            pb.StatementLine(
                time=timestamp(line.time),
                category=line.category,
                journal_kind=line.journal_kind,
                transaction_id=str(line.transaction_id),
                reference=line.reference,
                **amounts("gross", line.gross),
                **amounts("fee", line.fee),
                **amounts("net", line.net),
                **amounts("balance", line.balance),
            )
            for line in s.lines
        ],
    )


async def read_statement(
    pool: asyncpg.Pool, merchant: str, asset: str, month: str, now: dt.datetime
) -> store.Statement:
    """A merchant's statement for a "YYYY-MM" month, in one snapshot (shared by the API and the CLI)."""
    start, end = month_bounds(month, now)
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        return await store.statement(conn, merchant, asset, start, end)


class Statements(pb_grpc.StatementServiceServicer):
    """The calling merchant's monthly statements."""

    def __init__(self, core: LedgerCore) -> None:
        self.core = core

    async def GetStatement(self, request: pb.GetStatementRequest, context: Context) -> pb.GetStatementResponse:
        """One month's statement: opening, totals by kind, closing and the lines."""
        owner = merchant_id()
        found = await read_statement(self.core.pool, owner, self.core.terms.asset, request.month, self.core.now())
        return pb.GetStatementResponse(
            statement=statement_message(request.month, found, self.core.terms.token_decimals)
        )

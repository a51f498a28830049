"""`stablegate demo …`: play the customer against a local gateway (`stablegate up`) on its anvil chain.

`demo pay <invoice-id>` looks the invoice up in the local ledger database, mints the test token to one of anvil's
dev accounts and transfers it to the invoice's deposit address, as a wallet would. The watcher credits the
payment at finality like any other; nothing here talks to the ledger's APIs or skips a step.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from decimal import Decimal, InvalidOperation

LOCAL_DATABASE_URL = "postgresql://postgres@127.0.0.1:15432/stablegate"
"""Where `stablegate up` (default ports) keeps the ledger."""
LOCAL_RPC_URL = "http://127.0.0.1:8545"
"""Where `stablegate up` (default ports) serves anvil."""
PAYER_ACCOUNT = 5
"""Which of anvil's dev accounts pays (the first few hold contract roles)."""


class DemoError(Exception):
    """Something the user can fix; the message says what."""


def to_base_units(amount: str, decimals: int) -> int:
    """A decimal token amount ("10.50") in base units; more decimals than the token has is an error, never rounded."""
    try:
        value = Decimal(amount)
    except InvalidOperation:
        raise DemoError(f"--amount {amount!r} is not a decimal number such as 10.50") from None
    if not value.is_finite() or value <= 0:
        raise DemoError(f"--amount {amount!r} must be a positive amount")
    scaled = value.scaleb(decimals)
    if scaled != scaled.to_integral_value():
        raise DemoError(f"--amount {amount!r} has more than the token's {decimals} decimals")
    return int(scaled)


async def _invoice(database_url: str, invoice_id: str) -> dict[str, object]:
    import asyncpg  # noqa: PLC0415

    try:
        conn = await asyncpg.connect(database_url, timeout=10)
    except (OSError, asyncpg.PostgresError) as exc:
        raise DemoError(f"cannot connect to the ledger's database ({exc}): is `stablegate up` running?") from None
    try:
        row = await conn.fetchrow(
            "SELECT deposit_address, token_contract, token_decimals, amount::text, amount_paid::text, "
            "amount_pending::text, status "
            "FROM ledger.invoices WHERE id = $1",
            invoice_id,
        )
    except asyncpg.UndefinedTableError:
        raise DemoError("the ledger schema is missing: is this the database `stablegate up` made?") from None
    finally:
        await conn.close()
    if row is None:
        raise DemoError(f"no invoice {invoice_id!r} in the local ledger")
    return dict(row)


def pay(invoice_id: str, amount: str | None, database_url: str, rpc_url: str) -> tuple[str, int, str]:
    """Pay an invoice from a dev account; (transaction hash, base units paid, deposit address)."""
    from chain.contracts import Chain, ChainError, Contract, load_artifact  # noqa: PLC0415 - keeps --help fast
    from chain.rpc import JsonRpc, RpcError, RpcUnavailable  # noqa: PLC0415

    invoice = asyncio.run(_invoice(database_url, invoice_id))
    decimals = int(str(invoice["token_decimals"]))
    if amount is None:
        remaining = int(str(invoice["amount"])) - int(str(invoice["amount_paid"])) - int(str(invoice["amount_pending"]))
        if remaining <= 0:
            raise DemoError(f"invoice {invoice_id} is {invoice['status']} with nothing left to pay; give --amount")
        units = remaining
    else:
        units = to_base_units(amount, decimals)
    chain = Chain(JsonRpc(rpc_url))
    try:
        accounts = chain.accounts()
        if len(accounts) <= PAYER_ACCOUNT:
            raise DemoError(f"the node at {rpc_url} has no unlocked dev accounts: demo pay needs the local anvil")
        payer = accounts[PAYER_ACCOUNT]
        token = Contract(chain, str(invoice["token_contract"]), load_artifact("StablegateTestToken"))
        token.transact("mint", payer, units, sender=payer)
        receipt = token.transact("transfer", str(invoice["deposit_address"]), units, sender=payer)
    except (RpcUnavailable, OSError) as exc:
        raise DemoError(f"cannot reach the chain at {rpc_url} ({exc}): is `stablegate up` running?") from None
    except (ChainError, RpcError) as exc:
        raise DemoError(f"the payment failed on chain: {exc}") from None
    return receipt.tx_hash, units, str(invoice["deposit_address"])


def cmd_demo_pay(args: argparse.Namespace) -> int:
    """Pay an invoice on the local chain from a funded test account."""
    try:
        tx_hash, units, address = pay(args.invoice_id, args.amount, args.database_url, args.rpc_url)
    except DemoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"paid {units} base units to {address} in {tx_hash}")
    print("the watcher credits it once its block is final; GET /v1/invoices/<id> shows PROCESSING, then PAID")
    return 0


def add_demo_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`stablegate demo …`."""
    demo = sub.add_parser("demo", help="play the customer against the local gateway (`stablegate up`)")
    demo_sub = demo.add_subparsers(dest="demo_command", required=True, metavar="ACTION")
    paying = demo_sub.add_parser("pay", help="pay an invoice on the local chain from a funded test account")
    paying.add_argument("invoice_id", help="the invoice's id (inv_…)")
    paying.add_argument("--amount", default=None, help="token units, e.g. 10.50 (default: what is left to pay)")
    paying.add_argument(
        "--database-url", default=LOCAL_DATABASE_URL, help=f"the local ledger's database (default {LOCAL_DATABASE_URL})"
    )
    paying.add_argument("--rpc-url", default=LOCAL_RPC_URL, help=f"the local chain (default {LOCAL_RPC_URL})")
    paying.set_defaults(func=cmd_demo_pay)

"""`stablegate gas top-up --tx-hash 0x…`: book a BNB top-up of a signing key once the chain shows it final.

It runs in this process with settlement's settings (STABLEGATE_SETTLEMENT_*: providers, ledger target, settlement's
mesh certificate, the signing keys' addresses), checks the transaction on the chain and asks the ledger to book it
(`TreasuryLedgerService.RecordGasTopUp`, as the settlement role). Exit status: 0 booked (or booked before),
1 refused (not a final BNB transfer to a signing key, with the reason), 2 the ledger or chain was unreachable.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

import grpc

from chain.client import ChainClient, ChainError, ClientOptions
from service_runtime import mesh
from service_runtime.config import settings_or_exit
from settlement.config import SettlementSettings
from settlement.ledger_client import GrpcTreasuryLedger
from settlement.top_ups import TopUpRefused, signing_keys, verify_top_up

EXIT_BOOKED = 0
EXIT_REFUSED = 1
EXIT_FAILED = 2


async def _run(tx_hash: str, settings: SettlementSettings) -> tuple[int, dict[str, object]]:
    client = ChainClient(settings.rpc_urls, ClientOptions(timeout_seconds=10, rounds=2))
    channel = mesh.channel(settings.ledger_target, settings.tls)
    keys = signing_keys(settings.signing_key_addresses, settings.hot_address, settings.sweeper_address)
    try:
        try:
            record = await verify_top_up(client, settings.chain_id, tx_hash, keys)
        except TopUpRefused as exc:
            return EXIT_REFUSED, {"error": str(exc), "reason": exc.reason}
        except ChainError as exc:
            return EXIT_FAILED, {"error": f"chain: {exc}", "reason": "CHAIN_UNAVAILABLE"}
        try:
            journal_id, already = await GrpcTreasuryLedger(channel).record_top_up(record)
        except grpc.aio.AioRpcError as exc:
            code = EXIT_FAILED if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED) else 1
            return code, {"error": f"ledger at {settings.ledger_target}: {exc.code().name}: {exc.details()}"}
        return EXIT_BOOKED, {
            "tx_hash": record.tx_hash,
            "key_address": record.key_address,
            "from_address": record.from_address,
            "amount_wei": str(record.amount_wei),
            "block_number": record.block_number,
            "journal_transaction_id": journal_id,
            "already_recorded": already,
        }
    finally:
        await channel.close(None)
        await client.close()


def cmd_gas_top_up(args: argparse.Namespace) -> int:
    """Check a BNB top-up on the chain and book it in the ledger once."""
    settings = settings_or_exit(SettlementSettings)
    code, body = asyncio.run(_run(args.tx_hash, settings))
    if args.json or code != EXIT_BOOKED:
        print(json.dumps(body, indent=2, sort_keys=True), file=sys.stdout if code == EXIT_BOOKED else sys.stderr)
    else:
        state = "already booked" if body["already_recorded"] else "booked"
        print(
            f"top-up {state}: {body['amount_wei']} wei to {body['key_address']} "
            f"(journal transaction {body['journal_transaction_id']})"
        )
    return code

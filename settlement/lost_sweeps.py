"""Sweeps the chain holds and our rows do not: found before a deposit is swept again, booked instead of repeated.

After a restore from a backup (docs/backup.md), the database is older than the chain: a sweep the lost gateway
broadcast after the backup moved deposits into the treasury, but neither settlement's rows nor the ledger know it.
The watcher's rescan credits those deposits again (from the chain), so the ledger lists them as sweepable, and
sweeping them again would flush empty forwarders: gas spent for nothing, and the first sweep never booked (the
treasury on chain then holds more than the ledger says).

So before a deposit is planned, its token balance on chain is compared with what the ledger says it holds. A
deposit short of that is looked up: the newest Transfer of the token from it to the treasury names the sweep
transaction. Once that transaction is final, sent by our sweeper key, succeeded, and every deposit it moved is
sweepable in the ledger (the watcher has credited them all), it is booked with the ledger as a sweep of its own
(`RecordSweep`, sweep id `swp_found_<tx hash>`: the ledger books one transaction once). Until then its deposits
wait. A short deposit without such a transfer is left alone and logged: reconciliation shows the difference.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from chain.client import ChainClient
from chain.types import TRANSFER_TOPIC, TransferLog, address_topic, parse_transfer_logs
from settlement import chain_io
from settlement.domain.receipts import swept_amounts
from settlement.domain.sweeps import Deposit
from settlement.ledger_client import SweepLedger, SweepRecord

log = logging.getLogger("stablegate.settlement.lost_sweeps")
LOOKBACK_BLOCKS = 200_000
"""How far back from the head a lost sweep is looked for (about a day on BSC): older ones are not looked for."""
CHUNK_BLOCKS = 5_000
"""The eth_getLogs range asked at once (providers commonly refuse much more)."""
FOUND_PREFIX = "swp_found_"


@dataclass(frozen=True)
class Finding:
    """What the check decided: deposits to plan as usual, and sweeps found on chain and booked now."""

    to_plan: list[Deposit]
    booked: list[str]


async def newest_sweep_of(client: ChainClient, token: str, deposit: str, treasury: str, head: int) -> str | None:
    """The hash of the newest transaction with a Transfer of `token` from `deposit` to `treasury`, or None."""
    end = head
    floor = max(0, head - LOOKBACK_BLOCKS)
    while end >= floor:
        start = max(floor, end - CHUNK_BLOCKS + 1)
        params = {
            "address": token,
            "fromBlock": hex(start),
            "toBlock": hex(end),
            "topics": [TRANSFER_TOPIC, address_topic(deposit), address_topic(treasury)],
        }
        logs: list[TransferLog] = await client.call("eth_getLogs", [params], parse_transfer_logs)
        live = [entry for entry in logs if not entry.removed]
        if live:
            return max(live, key=lambda e: (e.block_number, e.log_index)).tx_hash.lower()
        end = start - 1
    return None


class LostSweepFinder:
    """The check the sweeper runs on sweepable deposits before it plans them (see the module docstring)."""

    def __init__(
        self, client: ChainClient, ledger: SweepLedger, *, chain_id: int, token: str, sweeper_address: str
    ) -> None:
        self.client = client
        self.ledger = ledger
        self.chain_id = chain_id
        self.token = token.lower()
        self.sweeper_address = sweeper_address.lower()

    async def check(self, deposits: Sequence[Deposit], treasury: str) -> Finding:
        """Split sweepable deposits into those to plan and those a sweep on chain already moved (booked now)."""
        by_address = {d.deposit_address.lower(): d for d in deposits}
        to_plan: list[Deposit] = []
        short: list[Deposit] = []
        balances = await asyncio.gather(
            *(chain_io.token_balance(self.client, self.token, d.deposit_address) for d in deposits)
        )
        for deposit, balance in zip(deposits, balances, strict=True):
            (to_plan if balance >= deposit.amount else short).append(deposit)
        booked: list[str] = []
        seen: set[str] = set()
        if not short:
            return Finding(to_plan, booked)
        head = int(await self.client.call("eth_blockNumber", [], lambda v: int(str(v), 16)))
        for deposit in short:
            tx_hash = await newest_sweep_of(self.client, self.token, deposit.deposit_address, treasury, head)
            if tx_hash is None:
                log.error(
                    "a sweepable deposit holds less than the ledger credited and no sweep moved it; not swept",
                    extra={"deposit_address": deposit.deposit_address, "invoice_id": deposit.invoice_id},
                )
                continue
            if tx_hash in seen:
                continue
            seen.add(tx_hash)
            if await self._book(tx_hash, treasury, by_address):
                booked.append(tx_hash)
        return Finding(to_plan, booked)

    async def _book(self, tx_hash: str, treasury: str, sweepable: dict[str, Deposit]) -> bool:
        found = await chain_io.receipt(self.client, tx_hash)
        if found is None:
            return False
        sender = str(found.get("from", "")).lower()
        if sender != self.sweeper_address or int(found["status"], 16) != 1:
            log.error(
                "a deposit was emptied by a transaction that is not a sweep of our key; not booked",
                extra={"tx_hash": tx_hash, "from": sender},
            )
            return False
        block = int(found["blockNumber"], 16)
        finalized, _ = await chain_io.finalized_block(self.client)
        if block > finalized or await chain_io.canonical_hash(self.client, block) != str(found["blockHash"]).lower():
            return False  # not final yet: look again on a later pass
        moved_from = {
            "0x" + str(entry["topics"][1])[-40:].lower()
            for entry in found.get("logs", [])
            if len(entry.get("topics", [])) == 3 and str(entry["topics"][0]).lower() == TRANSFER_TOPIC
        }
        swept = swept_amounts(found.get("logs", []), self.token, treasury, moved_from)
        waiting = sorted(a for a in swept if a not in sweepable)
        if waiting:
            log.info(
                "a sweep found on chain waits until the ledger has credited every deposit it moved",
                extra={"tx_hash": tx_hash, "waiting_for": waiting[:20]},
            )
            return False
        record = SweepRecord(
            sweep_id=FOUND_PREFIX + tx_hash.removeprefix("0x")[:40],
            chain_id=self.chain_id,
            tx_hash=tx_hash,
            block_number=block,
            block_hash=str(found["blockHash"]).lower(),
            sweeper_address=self.sweeper_address,
            gas_used=int(found["gasUsed"], 16),
            effective_gas_price_wei=int(found.get("effectiveGasPrice") or "0x0", 16),
            swept=swept,
        )
        journal_id, already = await self.ledger.record_sweep(record)
        log.warning(
            "booked a sweep found on chain that our rows did not hold (a restore from an older backup?)",
            extra={"tx_hash": tx_hash, "journal_transaction_id": journal_id, "already_recorded": already,
                   "addresses": len(swept), "total": sum(swept.values())},
        )  # fmt: skip
        return True

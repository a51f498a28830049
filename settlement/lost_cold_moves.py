"""Cold moves the chain holds and our rows do not: found on chain and booked once, never made again.

After a restore from a backup (docs/backup.md), the database is older than the chain: a `moveToCold` the lost gateway
sent after the backup moved tokens from the treasury to the cold Safe (or a move out of cold it relayed moved them
back), but neither settlement's rows nor the ledger know it. The mover reads the treasury's balance on chain, so it
does not move them again; this module books them, so the ledger's treasury and cold storage lines agree with the
chain again.

Every pass of the mover, the token's `Transfer` logs from the treasury to the cold Safe, and from the Safe to the
treasury, are read in final blocks not read yet (`eth_getLogs`, at most `CHUNK_BLOCKS` a call). How far it has read is
stored (`settlement.scan_cursors`, after each range read whole), so a restart goes on from there, and a restore of an
older backup rewinds it with the rows: every block after the backup is read again. With no cursor stored (the first
search), it starts where the stored rows end: a transaction our rows do not hold was signed after the backup, so it
landed after every block any stored row names (a landed sweep, cold move or payout transaction, a payout batch's
planned block, a reconciliation report), less `REORG_MARGIN_BLOCKS`; with no block stored at all, at `scan_from_block`
(the treasury's deployment block; 0: the finalized block of the first pass). A transfer whose transaction settlement
stores (a move of its own, in flight or booked) is skipped. Any other is looked at once its block is final: sent by
our HOT key straight to the treasury (`moveToCold`; out of cold: to the Safe, its `execTransaction`) and successful,
it is booked with the ledger (`RecordColdMove`, move id `cmv_found_<tx hash>`: the ledger books one move id once, and
one transaction once) with its gas, and stored as a `RECORDED` move of that id (what the treasury held before it is
not known, so its `planned_from_balance` is its amount). Anything else (another sender, a transaction that is not such
a call) is logged and left to reconciliation.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cache

import asyncpg
import grpc

from chain.client import ChainClient
from chain.contracts import load_artifact
from chain.safe import safe_artifact
from chain.types import TRANSFER_TOPIC, TransferLog, address_topic, parse_transfer_logs
from settlement import chain_io
from settlement.domain.receipts import swept_amounts
from settlement.ledger_client import ColdMoveRecord, TreasuryLedger

log = logging.getLogger("stablegate.settlement.lost_cold_moves")
FOUND_PREFIX = "cmv_found_"
CHUNK_BLOCKS = 5_000
"""The eth_getLogs range asked at once (providers commonly refuse much more)."""
REORG_MARGIN_BLOCKS = 200
"""How far before the newest stored block the search starts (a stored landed block may since have been reorged)."""

_NEWEST_STORED_BLOCK = """
SELECT GREATEST(
    (SELECT max(block_number) FROM settlement.chain_transactions WHERE chain_id = $1),
    (SELECT max(block_number) FROM settlement.sweeps WHERE chain_id = $1),
    (SELECT max(block_number) FROM settlement.cold_moves WHERE chain_id = $1),
    (SELECT max(planned_block) FROM settlement.payout_batches WHERE chain_id = $1),
    (SELECT max(block_number) FROM settlement.reconciliation_reports WHERE chain_id = $1))
"""
_KNOWN_HASHES = """
SELECT tx_hash FROM settlement.chain_transactions WHERE tx_hash = ANY($1::text[])
UNION SELECT landed_tx_hash FROM settlement.cold_moves WHERE landed_tx_hash = ANY($1::text[])
"""


@dataclass(frozen=True)
class LostColdMoveScope:
    """Whose moves are looked for: the HOT key's moves of one token between one treasury and its cold Safe."""

    chain_id: int
    key_id: str
    hot_address: str
    treasury: str
    token: str
    scan_from_block: int = 0
    """Where the search starts when settlement stores no block at all (0: the finalized block of the first pass)."""


def found_move_id(tx_hash: str) -> str:
    """The move id a move found on chain is booked under (the same for the same transaction, every time)."""
    return FOUND_PREFIX + tx_hash.lower().removeprefix("0x")[:40]


async def newest_stored_block(conn: asyncpg.Connection, chain_id: int) -> int | None:
    """The newest block any settlement row names on this chain (None: no row names one)."""
    value = await conn.fetchval(_NEWEST_STORED_BLOCK, chain_id)
    return None if value is None else int(value)


class LostColdMoveFinder:
    """The search the mover runs every pass (see the module docstring)."""

    def __init__(
        self, client: ChainClient, pool: asyncpg.Pool, ledger: TreasuryLedger, scope: LostColdMoveScope
    ) -> None:
        self.client = client
        self.pool = pool
        self.ledger = ledger
        self.scope = scope
        self._next_block: int | None = None

    def reset(self) -> None:
        """Start again from the stored rows at the next pass (a new leadership)."""
        self._next_block = None

    @property
    def cursor_name(self) -> str:
        """The search's row in `settlement.scan_cursors`."""
        return f"lost_cold_moves:{self.scope.treasury.lower()}:{self.scope.token.lower()}"

    async def _start(self, finalized: int) -> int:
        async with self.pool.acquire() as conn:
            stored = await conn.fetchval(
                "SELECT next_block FROM settlement.scan_cursors WHERE name = $1 AND chain_id = $2",
                self.cursor_name,
                self.scope.chain_id,
            )
            if stored is not None:
                return int(stored)
            newest = await newest_stored_block(conn, self.scope.chain_id)
        if newest is not None:
            return max(self.scope.scan_from_block, newest - REORG_MARGIN_BLOCKS, 0)
        return self.scope.scan_from_block or finalized

    async def book_lost(self, cold_safe: str) -> list[str]:
        """Read the final blocks not read yet and book the lost moves (into and out of cold) they hold; their ids."""
        cold_safe = cold_safe.lower()
        finalized, _ = await chain_io.finalized_block(self.client)
        if self._next_block is None:
            self._next_block = await self._start(finalized)
        booked: list[str] = []
        treasury = self.scope.treasury.lower()
        while self._next_block <= finalized:
            low = self._next_block
            high = min(low + CHUNK_BLOCKS - 1, finalized)
            landed: dict[str, tuple[int, bool]] = {}
            for into_cold, source, target in ((True, treasury, cold_safe), (False, cold_safe, treasury)):
                params = {
                    "address": self.scope.token,
                    "fromBlock": hex(low),
                    "toBlock": hex(high),
                    "topics": [TRANSFER_TOPIC, address_topic(source), address_topic(target)],
                }
                logs: list[TransferLog] = await self.client.call("eth_getLogs", [params], parse_transfer_logs)
                for entry in logs:
                    if not entry.removed:
                        landed.setdefault(entry.tx_hash.lower(), (entry.block_number, into_cold))
            async with self.pool.acquire() as conn:
                known = {str(r["tx_hash"]).lower() for r in await conn.fetch(_KNOWN_HASHES, list(landed))}
            for tx_hash, (block, into_cold) in sorted(landed.items(), key=lambda item: item[1][0]):
                if tx_hash in known:
                    continue
                outcome = await self._book(tx_hash, cold_safe, finalized, into_cold=into_cold)
                if outcome is None:
                    self._next_block = block  # its receipt is not there yet: read from its block again next pass
                    return booked
                if outcome:
                    booked.append(outcome)
            self._next_block = high + 1
            await self._save_cursor(self._next_block)
        return booked

    async def _save_cursor(self, next_block: int) -> None:
        async with self.pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO settlement.scan_cursors (name, chain_id, next_block) VALUES ($1, $2, $3) "
                "ON CONFLICT (name, chain_id) DO UPDATE SET next_block = "
                "GREATEST(settlement.scan_cursors.next_block, EXCLUDED.next_block), updated_at = now()",
                self.cursor_name,
                self.scope.chain_id,
                next_block,
            )

    async def _book(self, tx_hash: str, cold_safe: str, finalized: int, *, into_cold: bool) -> str | None:
        """Book one transaction found on chain: its move id, "" when it is not ours, None when it must wait."""
        scope = self.scope
        treasury = scope.treasury.lower()
        # Into cold: moveToCold, a call of the treasury. Out of cold: the Safe's execTransaction, relayed by HOT.
        called, source, target = (treasury, treasury, cold_safe) if into_cold else (cold_safe, cold_safe, treasury)
        found = await chain_io.receipt(self.client, tx_hash)
        tx = await self.client.call("eth_getTransactionByHash", [tx_hash], lambda v: v)
        if found is None or not isinstance(tx, dict):
            return None  # the provider has not got it: read again
        block = int(found["blockNumber"], 16)
        block_hash = str(found["blockHash"]).lower()
        if block > finalized or await chain_io.canonical_hash(self.client, block) != block_hash:
            return None  # reorged since the logs were read: read again
        sender = str(found.get("from", "")).lower()
        to = str(found.get("to") or "").lower()
        # A call of our HOT key other than a move (a payout batch with a line paying the cold Safe) is no move.
        selector = bytes.fromhex(str(tx.get("input") or "0x")[2:10])
        if (
            sender != scope.hot_address.lower()
            or to != called
            or int(found["status"], 16) != 1
            or selector != _move_selector(into_cold)
        ):
            log.error(
                "tokens moved between the treasury and the cold Safe by a transaction that is not a move of our HOT "
                "key; not booked as one (reconciliation shows it if nothing else books it)",
                extra={"tx_hash": tx_hash, "from": sender, "to": to, "into_cold": into_cold},
            )
            return ""
        moved = swept_amounts(found.get("logs", []), scope.token, target, [source]).get(source, 0)
        if moved <= 0:
            return ""
        move_id = found_move_id(tx_hash)
        record = ColdMoveRecord(
            move_id=move_id,
            chain_id=scope.chain_id,
            into_cold=into_cold,
            tx_hash=tx_hash,
            block_number=block,
            block_hash=block_hash,
            sender_address=sender,
            amount=moved,
            gas_used=int(found["gasUsed"], 16),
            effective_gas_price_wei=int(found.get("effectiveGasPrice") or "0x0", 16),
        )
        try:
            journal_id, already = await self.ledger.record_cold_move(record)
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.ALREADY_EXISTS:
                raise
            # The ledger holds this transaction under another move id (its rows are newer than settlement's).
            log.warning(
                "a cold move found on chain is already booked by the ledger under another id",
                extra={"tx_hash": tx_hash, "detail": exc.details()},
            )
            return ""
        async with self.pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO settlement.cold_moves (id, chain_id, direction, key_id, sender_address, "
                "treasury_address, token_contract, cold_safe_address, destination_address, amount, "
                "planned_from_balance, status, nonce, landed_tx_hash, block_number, block_hash, gas_used, "
                "effective_gas_price_wei, moved_amount, journal_transaction_id) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, 'RECORDED', $11, $12, $13, $14, $15, $16, "
                "$10, $17) ON CONFLICT (id) DO NOTHING",
                move_id,
                scope.chain_id,
                "INTO_COLD" if into_cold else "OUT_OF_COLD",
                scope.key_id,
                sender,
                treasury,
                scope.token.lower(),
                cold_safe,
                target,
                moved,
                int(str(tx["nonce"]), 16) if tx.get("nonce") is not None else None,
                tx_hash,
                block,
                block_hash,
                record.gas_used,
                record.effective_gas_price_wei,
                journal_id,
            )
        log.warning(
            "booked a cold move found on chain that our rows did not hold (a restore from an older backup?)",
            extra={"tx_hash": tx_hash, "move_id": move_id, "journal_transaction_id": journal_id,
                   "already_recorded": already, "amount": moved, "into_cold": into_cold},
        )  # fmt: skip
        return move_id


@cache
def _move_selector(into_cold: bool) -> bytes:
    """The 4-byte selector of a move: the treasury's `moveToCold`, or (out of cold) the Safe's `execTransaction`."""
    if into_cold:
        return load_artifact("Treasury").function("moveToCold").selector
    return safe_artifact().function("execTransaction").selector

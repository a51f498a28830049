"""Moves into cold the chain holds and our rows do not: found on chain and booked once, never made again.

After a restore from a backup (docs/backup.md), the database is older than the chain: a `moveToCold` the lost gateway
sent after the backup moved tokens from the treasury to the cold Safe, but neither settlement's rows nor the ledger
know it. The mover reads the treasury's balance on chain, so it does not move them again; this module books them, so
the ledger's treasury and cold storage lines agree with the chain again.

Every pass of the mover, the token's `Transfer` logs from the treasury to the cold Safe are read in final blocks not
read yet (`eth_getLogs`, at most `CHUNK_BLOCKS` a call). How far it has read is stored (`settlement.scan_cursors`,
after each range read whole), so a restart goes on from there, and a restore of an older backup rewinds it with the
rows: every block after the backup is read again. With no cursor stored (the first search), it starts where the
stored rows end: a transaction our rows do not hold was signed after the backup, so it landed after every block any
stored row names (a landed sweep, cold move or payout transaction, a payout batch's planned block, a reconciliation
report), less `REORG_MARGIN_BLOCKS`; with no block stored at all, at `scan_from_block` (the treasury's deployment
block; 0: the finalized block of the first pass). A transfer whose transaction settlement stores (a move of its
own, in flight or booked) is skipped. Any other is looked at once its block is final: sent by our HOT key straight to
the treasury and successful, it is booked with the ledger (`RecordColdMove`, move id `cmv_found_<tx hash>`: the
ledger books one move id once, and one transaction once) with its gas, and stored as a `RECORDED` move of that id
(what the treasury held before it is not known, so its `planned_from_balance` is its amount). Anything else (another
sender, a transaction that is not a call of the treasury) is logged and left to reconciliation.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import asyncpg
import grpc

from chain.client import ChainClient
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
    """Whose moves are looked for: the HOT key's `moveToCold` calls of one treasury, of one token."""

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
        """Read the final blocks not read yet and book the lost moves into cold they hold; their move ids."""
        finalized, _ = await chain_io.finalized_block(self.client)
        if self._next_block is None:
            self._next_block = await self._start(finalized)
        booked: list[str] = []
        while self._next_block <= finalized:
            low = self._next_block
            high = min(low + CHUNK_BLOCKS - 1, finalized)
            params = {
                "address": self.scope.token,
                "fromBlock": hex(low),
                "toBlock": hex(high),
                "topics": [TRANSFER_TOPIC, address_topic(self.scope.treasury), address_topic(cold_safe)],
            }
            logs: list[TransferLog] = await self.client.call("eth_getLogs", [params], parse_transfer_logs)
            landed: dict[str, int] = {}
            for entry in logs:
                if not entry.removed:
                    landed.setdefault(entry.tx_hash.lower(), entry.block_number)
            async with self.pool.acquire() as conn:
                known = {str(r["tx_hash"]).lower() for r in await conn.fetch(_KNOWN_HASHES, list(landed))}
            for tx_hash, block in sorted(landed.items(), key=lambda item: item[1]):
                if tx_hash in known:
                    continue
                outcome = await self._book(tx_hash, cold_safe, finalized)
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

    async def _book(self, tx_hash: str, cold_safe: str, finalized: int) -> str | None:
        """Book one transaction found on chain: its move id, "" when it is not ours, None when it must wait."""
        scope = self.scope
        found = await chain_io.receipt(self.client, tx_hash)
        if found is None:
            return None
        block = int(found["blockNumber"], 16)
        block_hash = str(found["blockHash"]).lower()
        if block > finalized or await chain_io.canonical_hash(self.client, block) != block_hash:
            return None  # reorged since the logs were read: read again
        sender = str(found.get("from", "")).lower()
        to = str(found.get("to") or "").lower()
        if sender != scope.hot_address.lower() or to != scope.treasury.lower() or int(found["status"], 16) != 1:
            log.error(
                "tokens moved from the treasury to the cold Safe by a transaction that is not a moveToCold of our HOT "
                "key; not booked (reconciliation shows it)",
                extra={"tx_hash": tx_hash, "from": sender, "to": to},
            )
            return ""
        moved = swept_amounts(found.get("logs", []), scope.token, cold_safe, [scope.treasury]).get(
            scope.treasury.lower(), 0
        )
        if moved <= 0:
            return ""
        move_id = found_move_id(tx_hash)
        record = ColdMoveRecord(
            move_id=move_id,
            chain_id=scope.chain_id,
            into_cold=True,
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
                "a move into cold found on chain is already booked by the ledger under another id",
                extra={"tx_hash": tx_hash, "detail": exc.details()},
            )
            return ""
        async with self.pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO settlement.cold_moves (id, chain_id, direction, key_id, sender_address, "
                "treasury_address, token_contract, cold_safe_address, destination_address, amount, "
                "planned_from_balance, status, nonce, landed_tx_hash, block_number, block_hash, gas_used, "
                "effective_gas_price_wei, moved_amount, journal_transaction_id) "
                "VALUES ($1, $2, 'INTO_COLD', $3, $4, $5, $6, $7, $7, $8, $8, 'RECORDED', $9, $10, $11, $12, $13, "
                "$14, $8, $15) ON CONFLICT (id) DO NOTHING",
                move_id,
                scope.chain_id,
                scope.key_id,
                sender,
                scope.treasury.lower(),
                scope.token.lower(),
                cold_safe.lower(),
                moved,
                await self._nonce(tx_hash),
                tx_hash,
                block,
                block_hash,
                record.gas_used,
                record.effective_gas_price_wei,
                journal_id,
            )
        log.warning(
            "booked a move into cold found on chain that our rows did not hold (a restore from an older backup?)",
            extra={"tx_hash": tx_hash, "move_id": move_id, "journal_transaction_id": journal_id,
                   "already_recorded": already, "amount": moved},
        )  # fmt: skip
        return move_id

    async def _nonce(self, tx_hash: str) -> int | None:
        tx = await self.client.call("eth_getTransactionByHash", [tx_hash], lambda v: v)
        if not isinstance(tx, dict) or tx.get("nonce") is None:
            return None
        return int(str(tx["nonce"]), 16)

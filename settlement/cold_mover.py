"""Hot and cold: keep the treasury (hot wallet) lean by moving its excess to the cold Safe, and raise alerts.

One pass (`tick`), run under a lease by the settlement process, on the same pipeline as sweeps (persisted intent
→ nonce and request stored → signer → signed bytes stored → broadcast to every provider → receipt → finality →
ledger), with the HOT key's own nonces in `settlement.nonces`:

1. **Track** every open move: ask the signer again for a version stored as SIGNING (the same request id: a move
   held by the signer's REQUIRE_APPROVAL rule stays AWAITING_APPROVAL, its approval read each pass without asking
   again, until the quorum approves, then the same call returns it signed; a lapsed approval fails the move),
   broadcast what is signed, look for a receipt of every version, rebroadcast, replace a stuck version with a fee
   bump, and once final book it (`TreasuryLedgerService.RecordColdMove`).
   Then **find** moves into and out of cold on chain that our rows do not hold (a restore of an older backup lost
   them) and book them from their receipts (`settlement/lost_cold_moves.py`).
2. **Watch** at the finalized block: the treasury's token balance (above the ceiling: plan a move of everything
   above the target; alerts above the ceiling and below the floor) and each signing key's BNB (alert below the
   floor). Metrics for each, and an operator outbox event when a condition starts.
3. **Send** a planned move: a fee over the cap waits (nothing signed, no nonce taken).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

import asyncpg
import grpc
from prometheus_client import CollectorRegistry, Counter, Gauge

from chain import abi
from chain.client import ChainClient, RpcError
from chain.contracts import load_artifact
from chain.fees import FeeCaps, FeeQuote, estimate_fees
from chain.safe import ZERO_ADDRESS, pack_signatures, safe_artifact
from chain.types import quantity
from settlement import chain_io
from settlement.domain.fees import TxFees, bumped
from settlement.domain.receipts import swept_amounts
from settlement.ledger_client import ColdMoveRecord, TreasuryLedger
from settlement.lost_cold_moves import LostColdMoveFinder, LostColdMoveScope
from settlement.signing import Refused, Signed, SweepSigner
from settlement.store import cold_moves as store
from settlement.store import sweeps as tx_store
from settlement.store.cold_moves import ColdMove
from settlement.store.sweeps import ChainTx, Landed

log = logging.getLogger("stablegate.settlement.cold")
REFUSALS = frozenset(
    {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.ALREADY_EXISTS}
)


@dataclass(frozen=True)
class HotColdOptions:
    """The treasury's thresholds, the HOT key, and how moves are priced and replaced."""

    chain_id: int
    key_id: str
    hot_address: str
    treasury: str
    token: str
    ceiling: int
    """Above this many base units in the treasury (at the finalized block), the excess moves to cold."""
    target: int
    """What the treasury keeps after a move (at most the ceiling)."""
    floor: int
    """Below this, an alert (0: none)."""
    fee_caps: FeeCaps
    key_addresses: tuple[str, ...] = ()
    """Signing keys whose BNB is watched."""
    gas_floor_wei: int = 0
    """A key with less BNB than this raises an alert (0: none)."""
    initiator: str = ""
    """The Ethereum address named as initiator of automatic moves (its approval never counts)."""
    gas_margin_percent: int = 20
    max_gas: int = 500_000
    bump_percent: int = 12
    stuck_after_seconds: float = 60.0
    rebroadcast_seconds: float = 15.0
    legacy_fees: bool = False
    cold_owner_keys: tuple[tuple[str, str], ...] = ()
    """(signer key id, address) of the COLD_OWNER keys asked to sign moves out of cold."""
    scan_from_block: int = 0
    """Where the search for moves a restore lost starts when no block is stored (settlement/lost_cold_moves.py)."""


class HotColdMetrics:
    """Balances watched and moves made, on the service's registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        kwargs: dict[str, Any] = {"registry": registry}
        self.treasury = Gauge(
            "settlement_treasury_balance_base_units", "Treasury token balance at the finalized block", **kwargs
        )
        self.above_ceiling = Gauge(
            "settlement_treasury_above_ceiling", "1 while the treasury passes its ceiling", **kwargs
        )
        self.below_floor = Gauge("settlement_treasury_below_floor", "1 while the treasury is under its floor", **kwargs)
        self.key_bnb = Gauge("settlement_key_bnb_wei", "BNB held by a signing key", ["address"], **kwargs)
        self.key_low = Gauge(
            "settlement_key_bnb_below_floor", "1 while a key's BNB is under the floor", ["address"], **kwargs
        )
        self.moves = Counter("settlement_cold_moves_total", "Moves into cold, by outcome", ["outcome"], **kwargs)
        self.awaiting = Gauge("settlement_cold_moves_awaiting_approval", "Moves held for the approvers", **kwargs)


class HotColdMover:
    """The hot/cold passes over persisted state; see the module docstring."""

    def __init__(
        self,
        client: ChainClient,
        pool: asyncpg.Pool,
        signer: SweepSigner,
        ledger: TreasuryLedger,
        *,
        options: HotColdOptions,
        metrics: HotColdMetrics | None = None,
    ) -> None:
        self.client = client
        self.pool = pool
        self.signer = signer
        self.ledger = ledger
        self.options = options
        self.metrics = metrics or HotColdMetrics()
        self._recovered = False
        self._cold_safe: str | None = None
        self._alerting: set[str] = set()
        self._move_to_cold = load_artifact("Treasury").function("moveToCold")
        self._transfer = load_artifact("StablegateTestToken").function("transfer")
        self._exec = safe_artifact().function("execTransaction")
        self.lost = LostColdMoveFinder(
            client,
            pool,
            ledger,
            LostColdMoveScope(
                chain_id=options.chain_id,
                key_id=options.key_id,
                hot_address=options.hot_address,
                treasury=options.treasury,
                token=options.token,
                scan_from_block=options.scan_from_block,
            ),
        )

    async def tick(self) -> None:
        """One pass: recover the HOT key's nonce (first pass of a leadership), track, find lost moves, watch, send."""
        if not self._recovered:
            await self.recover()
        await self.track()
        await self.book_lost()
        await self.withdraw()
        await self.watch()
        await self.send()

    def lost_leadership(self) -> None:
        """The lease is gone: recover nonces from the chain before the next pass."""
        self._recovered = False

    async def recover(self) -> int:
        """Set the HOT key's next nonce from the chain and our rows."""
        recovered = await chain_io.recover_nonce(
            self.client, self.pool, self.options.chain_id, self.options.hot_address
        )
        self._recovered = True
        self.lost.reset()  # the search for moves a restore lost starts again from the stored rows
        return recovered.following

    async def book_lost(self) -> list[str]:
        """Book the cold moves on chain that our rows do not hold (settlement/lost_cold_moves.py); their ids."""
        self.lost.client = self.client
        booked = await self.lost.book_lost(await self.cold_safe())
        if booked:
            self.metrics.moves.labels("RECOVERED").inc(len(booked))
        return booked

    async def cold_safe(self) -> str:
        """The cold Safe the treasury moves into (read once from the treasury)."""
        if self._cold_safe is None:
            self._cold_safe = await chain_io.call_address(
                self.client, self.options.treasury, abi.selector("coldSafe()")
            )
        return self._cold_safe

    # --- watching and planning ----------------------------------------------------------------------------------

    async def _alert(self, key: str, active: bool, event_type: str, subject: str, data: dict[str, Any]) -> None:
        """Record an operator event when a condition starts (once per start); forget it when it ends."""
        if not active:
            self._alerting.discard(key)
            return
        if key in self._alerting:
            return
        await self.ledger.record_event(f"{key}:{data['block_number']}", event_type, subject, data)
        self._alerting.add(key)
        log.warning("alert raised", extra={"event_type": event_type, "subject": subject})

    async def watch(self) -> None:
        """Read balances at the finalized block, raise alerts, and plan a move when the treasury passes its ceiling."""
        opts = self.options
        block, _ = await chain_io.finalized_block(self.client)
        balance = await chain_io.token_balance(self.client, opts.token, opts.treasury, block)
        self.metrics.treasury.set(balance)
        above = balance > opts.ceiling
        below = opts.floor > 0 and balance < opts.floor
        self.metrics.above_ceiling.set(int(above))
        self.metrics.below_floor.set(int(below))
        figures = {
            "chain_id": opts.chain_id,
            "block_number": block,
            "treasury_address": opts.treasury,
            "token_contract": opts.token,
            "balance_base_units": str(balance),
            "ceiling_base_units": str(opts.ceiling),
            "floor_base_units": str(opts.floor),
        }
        await self._alert(
            f"treasury.above_ceiling:{opts.chain_id}:{opts.treasury}",
            above,
            "treasury.above_ceiling",
            opts.treasury,
            figures,
        )
        await self._alert(
            f"treasury.below_floor:{opts.chain_id}:{opts.treasury}",
            below,
            "treasury.below_floor",
            opts.treasury,
            figures,
        )
        for address in opts.key_addresses:
            wei = await native_balance(self.client, address, block)
            low = opts.gas_floor_wei > 0 and wei < opts.gas_floor_wei
            self.metrics.key_bnb.labels(address.lower()).set(wei)
            self.metrics.key_low.labels(address.lower()).set(int(low))
            await self._alert(
                f"gas.key_below_floor:{opts.chain_id}:{address.lower()}",
                low,
                "gas.key_below_floor",
                address.lower(),
                {
                    "chain_id": opts.chain_id,
                    "block_number": block,
                    "key_address": address.lower(),
                    "balance_wei": str(wei),
                    "floor_wei": str(opts.gas_floor_wei),
                },
            )
        if above:
            await self.plan(balance)

    async def plan(self, balance: int) -> str | None:
        """Persist a move of everything above the target (PLANNED), unless one is open; its id."""
        amount = balance - self.options.target
        if amount <= 0:
            return None
        move_id = store.new_move_id()
        async with self.pool.acquire() as conn:
            made = await store.insert_move(
                conn,
                move_id=move_id,
                chain_id=self.options.chain_id,
                key_id=self.options.key_id,
                sender_address=self.options.hot_address,
                treasury_address=self.options.treasury,
                token_contract=self.options.token,
                cold_safe_address=await self.cold_safe(),
                amount=amount,
                planned_from_balance=balance,
                initiator_address=self.options.initiator,
            )
        if not made:
            return None
        log.info("move into cold planned", extra={"move_id": move_id, "amount": amount, "balance": balance})
        return move_id

    # --- sending ------------------------------------------------------------------------------------------------

    def _fees(self, quote: FeeQuote) -> TxFees:
        if self.options.legacy_fees:
            return TxFees(quote.gas_price_wei, quote.gas_price_wei, legacy=True)
        return TxFees(quote.max_fee_per_gas_wei, quote.max_priority_fee_per_gas_wei)

    async def send(self) -> None:
        """Sign and broadcast planned moves (a fee over the cap waits: nothing signed, no nonce taken)."""
        async with self.pool.acquire() as conn:
            planned = await store.moves_in(conn, self.options.chain_id, ("PLANNED",))
        for move in planned:
            if move.direction != "INTO_COLD":
                continue
            quote = await estimate_fees(self.client, self.options.fee_caps)
            if quote.over_cap:
                log.info("move into cold waits: the fee passes its cap", extra={"move_id": move.id})
                return
            calldata = self._move_to_cold.calldata((abi.to_checksum_address(move.token_contract), move.amount))
            try:
                estimate = await chain_io.estimate_gas(
                    self.client, move.sender_address, move.treasury_address, calldata
                )
            except RpcError as exc:
                async with self.pool.acquire() as conn:
                    await store.set_status(conn, move.id, "FAILED", failure=f"ESTIMATE_FAILED: {exc.rpc_message[:200]}")
                self.metrics.moves.labels("ESTIMATE_FAILED").inc()
                log.error("move into cold would revert; not signed", extra={"move_id": move.id})
                continue
            limit = max(
                estimate, min(estimate + estimate * self.options.gas_margin_percent // 100, self.options.max_gas)
            )
            latest = await chain_io.transaction_count(self.client, move.sender_address, "latest")
            async with self.pool.acquire() as conn:
                tx = await store.start_transaction(
                    conn, move, chain_latest=latest, gas_limit=limit, fees=self._fees(quote)
                )
            await self._sign_and_broadcast(move, tx)

    async def _sign_and_broadcast(self, move: ColdMove, tx: ChainTx) -> bool:
        """Ask the signer for a stored request (same request id every time); store the bytes, then broadcast."""
        if move.direction == "INTO_COLD":
            result = await self.signer.sign_cold_move(
                request_id=tx.request_id,
                key_id=move.key_id,
                chain_id=move.chain_id,
                nonce=tx.nonce,
                gas_limit=tx.gas_limit,
                fees=tx.fees,
                treasury=abi.to_checksum_address(move.treasury_address),
                token=abi.to_checksum_address(move.token_contract),
                amount=move.amount,
                initiator=move.initiator_address,
                awaiting_approval=self._held_under(move, tx),
            )
        else:
            result = await self.signer.sign_safe_execution(
                request_id=tx.request_id,
                key_id=move.key_id,
                chain_id=move.chain_id,
                nonce=tx.nonce,
                gas_limit=tx.gas_limit,
                fees=tx.fees,
                safe=abi.to_checksum_address(move.cold_safe_address),
                token=abi.to_checksum_address(move.token_contract),
                destination=abi.to_checksum_address(move.destination_address),
                amount=move.amount,
                owner_signatures=await self._packed_signatures(move),
                initiator=move.initiator_address,
                awaiting_approval=self._held_under(move, tx),
            )
        if isinstance(result, Refused) and result.decision == "PENDING_APPROVAL":
            # Held by the signer: the version stays SIGNING (its nonce stays taken, so the approvers approve
            # exactly this transaction); each pass reads its approval and asks again with the same request id only
            # once it is no longer pending. A lapsed one is DENIED (APPROVAL_EXPIRED) below: the move fails, its
            # nonce is free again, and the next pass above the ceiling plans a new move.
            if tx.version == 0 and move.status != "AWAITING_APPROVAL":
                await self._awaiting(move, result.approval_id)
            elif result.approval_id and result.approval_id != move.approval_id:
                await self._held_again(move, tx, result.approval_id)
            return False
        if isinstance(result, Refused) and result.frozen:
            # Not final: the version stays SIGNING with its nonce, the move open; each pass asks again (reading the
            # freeze state meanwhile) until the unfreeze signs this same request id.
            log.info("cold move waits: signing is frozen", extra={"move_id": move.id, "version": tx.version})
            return False
        if isinstance(result, Refused):
            async with self.pool.acquire() as conn, conn.transaction():
                await tx_store.store_denied(conn, tx, f"{result.decision}:{result.reason}")
                if tx.version == 0:
                    await store.set_status(conn, move.id, "FAILED", failure=f"SIGNER_{result.decision}:{result.reason}")
            self.metrics.moves.labels(f"SIGNER_{result.decision}").inc()
            log.error("the signer refused a move into cold", extra={"move_id": move.id, "reason": result.reason})
            return False
        assert isinstance(result, Signed)
        async with self.pool.acquire() as conn, conn.transaction():
            await tx_store.store_signed(conn, tx.id, result.raw_transaction, result.tx_hash)
            if move.status == "AWAITING_APPROVAL":
                await store.set_status(conn, move.id, "SENT")
        async with self.pool.acquire() as conn:
            stored = next(v for v in await store.versions(conn, move.id) if v.id == tx.id)
        await self._broadcast(stored)
        if tx.version == 0:
            self.metrics.moves.labels("SENT").inc()
        return True

    @staticmethod
    def _held_under(move: ColdMove, tx: ChainTx) -> str:
        """The approval the move's newest held version waits for, if any.

        The signer's read checks that it names this version's request id, so an approval of another request (an
        owner's, an earlier version's) is simply not waited on: the version is asked for, and its own approval kept.
        """
        return move.approval_id or ""

    async def _held_again(self, move: ColdMove, tx: ChainTx, approval_id: str) -> None:
        """A replacement held by the signer (or a version held under a new approval): keep and announce its approval."""
        async with self.pool.acquire() as conn:
            await store.set_approval(conn, move.id, approval_id)
        await self._announce(move, approval_id)
        log.warning(
            "cold move awaits the approvers",
            extra={"move_id": move.id, "version": tx.version, "approval_id": approval_id},
        )

    async def _awaiting(self, move: ColdMove, approval_id: str) -> None:
        """Mark a move held by the signer (once) and tell the operators which approval to sign."""
        if move.status == "AWAITING_APPROVAL":
            return
        async with self.pool.acquire() as conn:
            await store.set_status(conn, move.id, "AWAITING_APPROVAL", approval_id=approval_id)
        await self._announce(move, approval_id)
        log.warning("cold move awaits the approvers", extra={"move_id": move.id, "approval_id": approval_id})

    async def _announce(self, move: ColdMove, approval_id: str) -> None:
        """The operator event naming the approval to sign (one per move and approval)."""
        await self.ledger.record_event(
            f"cold_move.awaiting_approval:{move.id}:{approval_id}",
            "cold_move.awaiting_approval",
            move.id,
            {
                "move_id": move.id,
                "direction": move.direction,
                "chain_id": move.chain_id,
                "approval_id": approval_id,
                "amount_base_units": str(move.amount),
                "token_contract": move.token_contract,
                "treasury_address": move.treasury_address,
                "cold_safe_address": move.cold_safe_address,
            },
        )

    # --- moves out of cold --------------------------------------------------------------------------------------

    async def _packed_signatures(self, move: ColdMove) -> bytes:
        """The owners' stored signatures, concatenated in ascending owner order (as the Safe checks them)."""
        async with self.pool.acquire() as conn:
            owners = await store.owner_signatures(conn, move.id)
        return pack_signatures(
            {
                o.owner_address: bytes.fromhex(str(o.signature).removeprefix("0x"))
                for o in owners
                if o.status == "SIGNED"
            }
        )

    async def _collect_owners(self, move: ColdMove) -> None:
        """Ask each COLD_OWNER key for its signature (same request id every pass); relay once all have signed."""
        if move.safe_nonce is None:
            nonce = await call_uint(self.client, move.cold_safe_address, abi.selector("nonce()"))
            async with self.pool.acquire() as conn:
                await store.start_owner_requests(conn, move.id, nonce, self.options.cold_owner_keys)
                refreshed = await store.get(conn, move.id)
            assert refreshed is not None
            move = refreshed
        assert move.safe_nonce is not None
        async with self.pool.acquire() as conn:
            owners = await store.owner_signatures(conn, move.id)
        for owner in owners:
            if owner.status != "SIGNING":
                continue
            result = await self.signer.sign_safe_owner(
                request_id=owner.request_id,
                key_id=owner.key_id,
                chain_id=move.chain_id,
                safe_nonce=move.safe_nonce,
                safe=abi.to_checksum_address(move.cold_safe_address),
                token=abi.to_checksum_address(move.token_contract),
                destination=abi.to_checksum_address(move.destination_address),
                amount=move.amount,
                initiator=move.initiator_address,
                awaiting_approval=owner.approval_id or "",
            )
            if isinstance(result, Signed):
                async with self.pool.acquire() as conn:
                    await store.store_owner_answer(
                        conn,
                        move.id,
                        owner.key_id,
                        status="SIGNED",
                        signature=result.raw_transaction,
                        safe_tx_hash=result.tx_hash,
                    )
            elif result.frozen:
                # Not final: the owner's request stays SIGNING and is asked for again after the unfreeze.
                log.info("move out of cold waits: signing is frozen", extra={"move_id": move.id})
                return
            elif result.decision == "PENDING_APPROVAL":
                async with self.pool.acquire() as conn:
                    await store.store_owner_answer(
                        conn, move.id, owner.key_id, status="SIGNING", approval_id=result.approval_id
                    )
                await self._awaiting(move, result.approval_id)
                move = replace(move, status="AWAITING_APPROVAL")
            else:
                async with self.pool.acquire() as conn, conn.transaction():
                    await store.store_owner_answer(
                        conn, move.id, owner.key_id, status="DENIED", denial=f"{result.decision}:{result.reason}"
                    )
                    await store.set_status(conn, move.id, "FAILED", failure=f"OWNER_{result.decision}:{result.reason}")
                self.metrics.moves.labels(f"SIGNER_{result.decision}").inc()
                log.error("the signer refused an owner's signature", extra={"move_id": move.id, "key_id": owner.key_id})
                return
        async with self.pool.acquire() as conn:
            owners = await store.owner_signatures(conn, move.id)
        if not owners or any(o.status != "SIGNED" for o in owners):
            return
        await self._relay(move)

    async def _relay(self, move: ColdMove) -> None:
        """Send execTransaction with the owners' signatures from our key (the estimate is the Safe's verdict first)."""
        quote = await estimate_fees(self.client, self.options.fee_caps)
        if quote.over_cap:
            return
        inner = self._transfer.calldata((abi.to_checksum_address(move.destination_address), move.amount))
        calldata = self._exec.calldata(
            (
                abi.to_checksum_address(move.token_contract),
                0,
                inner,
                0,
                0,
                0,
                0,
                ZERO_ADDRESS,
                ZERO_ADDRESS,
                await self._packed_signatures(move),
            )
        )
        try:
            estimate = await chain_io.estimate_gas(self.client, move.sender_address, move.cold_safe_address, calldata)
        except RpcError as exc:
            # The Safe refuses it (GS020: fewer owner signatures than its threshold; GS026: not its owners or not
            # this nonce's SafeTx; GS013: the transfer failed): nothing is sent, nothing booked.
            async with self.pool.acquire() as conn:
                await store.set_status(conn, move.id, "FAILED", failure=f"ESTIMATE_FAILED: {exc.rpc_message[:200]}")
            self.metrics.moves.labels("ESTIMATE_FAILED").inc()
            log.error(
                "the Safe refuses the move out of cold; not sent", extra={"move_id": move.id, "error": exc.rpc_message}
            )
            return
        limit = max(estimate, min(estimate + estimate * self.options.gas_margin_percent // 100, self.options.max_gas))
        latest = await chain_io.transaction_count(self.client, move.sender_address, "latest")
        async with self.pool.acquire() as conn:
            tx = await store.start_transaction(conn, move, chain_latest=latest, gas_limit=limit, fees=self._fees(quote))
            refreshed = await store.get(conn, move.id)
        assert refreshed is not None
        await self._sign_and_broadcast(refreshed, tx)

    async def withdraw(self) -> None:
        """Advance moves out of cold that have no transaction yet: collect owners' signatures, then relay."""
        async with self.pool.acquire() as conn:
            waiting = await store.moves_in(conn, self.options.chain_id, ("PLANNED", "AWAITING_APPROVAL"))
            pending = [m for m in waiting if m.direction == "OUT_OF_COLD" and not await store.versions(conn, m.id)]
        for move in pending:
            await self._collect_owners(move)

    async def _broadcast(self, tx: ChainTx) -> None:
        assert tx.raw_transaction is not None
        outcome = await chain_io.broadcast(self.client, tx.raw_transaction)
        if outcome.reached:
            async with self.pool.acquire() as conn:
                await tx_store.mark_broadcast(conn, tx.id)

    # --- tracking -----------------------------------------------------------------------------------------------

    async def track(self) -> None:
        """Advance every open move that has a transaction (held, sent or mined)."""
        async with self.pool.acquire() as conn:
            out = await store.moves_in(conn, self.options.chain_id, ("AWAITING_APPROVAL", "SENT", "MINED"))
        self.metrics.awaiting.set(sum(1 for m in out if m.status == "AWAITING_APPROVAL"))
        for move in out:
            try:
                if move.status == "MINED":
                    await self._track_mined(move)
                else:
                    await self._track_sent(move)
            except grpc.aio.AioRpcError as exc:
                if exc.code() not in REFUSALS:
                    raise
                self.metrics.moves.labels("RECORD_REFUSED").inc()
                log.error(
                    "the ledger refused to book a final move into cold; retried every pass",
                    extra={"move_id": move.id, "code": exc.code().name, "detail": exc.details()},
                )

    async def _track_sent(self, move: ColdMove) -> None:
        async with self.pool.acquire() as conn:
            versions = await store.versions(conn, move.id)
        for version in versions:
            if version.status == "SIGNING":
                await self._sign_and_broadcast(move, version)
        async with self.pool.acquire() as conn:
            every = await store.versions(conn, move.id)
        signed = [v for v in every if v.tx_hash is not None]
        if not signed:
            return
        if await self._find_receipt(move, signed):
            return
        assert move.nonce is not None
        latest = await chain_io.transaction_count(self.client, move.sender_address, "latest")
        if latest > move.nonce:
            if await self._find_receipt(move, signed):
                return
            async with self.pool.acquire() as conn:
                await store.store_dropped(conn, move.id)
            self.metrics.moves.labels("NONCE_USED_ELSEWHERE").inc()
            log.warning("move into cold dropped: its nonce went to another transaction", extra={"move_id": move.id})
            return
        newest = signed[-1]
        if newest.broadcast_count == 0 or newest.since_broadcast >= self.options.rebroadcast_seconds:
            await self._broadcast(newest)
        waiting = every[-1].status == "SIGNING" or (
            every[-1].status == "DENIED" and every[-1].since_created < self.options.stuck_after_seconds
        )
        if newest.broadcast_count > 0 and newest.age_seconds >= self.options.stuck_after_seconds and not waiting:
            await self._replace(move, newest)

    async def _replace(self, move: ColdMove, stuck: ChainTx) -> None:
        """The same call at the same nonce with both fee fields raised (the sweeper's rule)."""
        quote = await estimate_fees(self.client, self.options.fee_caps)
        fees = bumped(stuck.fees, self._fees(quote), self.options.bump_percent)
        if fees.fee_cap > self.options.fee_caps.max_gas_price_wei:
            return
        async with self.pool.acquire() as conn:
            replacement = await store.start_replacement(conn, move, stuck, fees)
        log.info("replacing a stuck move into cold", extra={"move_id": move.id, "version": replacement.version})
        await self._sign_and_broadcast(move, replacement)

    async def _find_receipt(self, move: ColdMove, versions: list[ChainTx]) -> bool:
        for version in versions:
            assert version.tx_hash is not None
            found = await chain_io.receipt(self.client, version.tx_hash)
            if found is None:
                continue
            landed = Landed.from_receipt(version.tx_hash, found)
            async with self.pool.acquire() as conn:
                await store.store_mined(conn, move.id, landed)
            return True
        return False

    async def _track_mined(self, move: ColdMove) -> None:
        assert move.landed_tx_hash is not None
        assert move.block_number is not None
        found = await chain_io.receipt(self.client, move.landed_tx_hash)
        if found is None or str(found["blockHash"]).lower() != move.block_hash:
            async with self.pool.acquire() as conn:
                await store.store_unmined(conn, move.id)
            return
        finalized, _ = await chain_io.finalized_block(self.client)
        if move.block_number > finalized:
            return
        if await chain_io.canonical_hash(self.client, move.block_number) != move.block_hash:
            async with self.pool.acquire() as conn:
                await store.store_unmined(conn, move.id)
            return
        if int(found["status"], 16) != 1:
            async with self.pool.acquire() as conn:
                await store.set_status(conn, move.id, "FAILED", failure="REVERTED")
            self.metrics.moves.labels("REVERTED").inc()
            log.error("move into cold reverted on chain", extra={"move_id": move.id})
            return
        into_cold = move.direction == "INTO_COLD"
        source, target = (
            (move.treasury_address, move.cold_safe_address)
            if into_cold
            else (move.cold_safe_address, move.destination_address)
        )
        moved = swept_amounts(found.get("logs", []), move.token_contract, target, [source]).get(source.lower(), 0)
        record = ColdMoveRecord(
            move_id=move.id,
            chain_id=move.chain_id,
            into_cold=into_cold,
            tx_hash=move.landed_tx_hash,
            block_number=move.block_number,
            block_hash=str(move.block_hash),
            sender_address=move.sender_address,
            amount=moved,
            gas_used=int(found["gasUsed"], 16),
            effective_gas_price_wei=int(found.get("effectiveGasPrice") or "0x0", 16),
        )
        journal_id, already = await self.ledger.record_cold_move(record)
        async with self.pool.acquire() as conn:
            await store.store_recorded(conn, move.id, moved, journal_id)
        self.metrics.moves.labels("RECORDED").inc()
        log.info(
            "move into cold final and booked",
            extra={"move_id": move.id, "journal_transaction_id": journal_id, "amount": moved, "already": already},
        )


async def native_balance(client: ChainClient, address: str, block: int) -> int:
    """BNB wei held by `address` at `block`."""
    return int(await client.call("eth_getBalance", [address, hex(block)], lambda v: quantity(v, "eth_getBalance")))


async def call_uint(client: ChainClient, to: str, data: bytes) -> int:
    """eth_call returning one uint256 word, at `latest`."""
    return int(
        await client.call("eth_call", [{"to": to, "data": "0x" + data.hex()}, "latest"], lambda v: int(str(v), 16))
    )

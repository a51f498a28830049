"""The payout executor: pay the ledger's QUEUED payouts and refunds from the treasury, in batches, exactly once.

One pass (`tick`), run under the HOT key's lease by the settlement process, on the pipeline of sweeps and cold moves
(persisted intent → nonce and request stored → signer → signed bytes stored → ledger told → broadcast → receipt →
finality → ledger), with the HOT key's nonces in `settlement.nonces`:

1. **Plan**: list QUEUED payouts (`ListQueuedPayouts`: payouts and refunds alike, oldest first), leave out those in an
   open batch and those a batch these rows lost (a restore) paid or may have paid (`recover_lost`: booked from the
   chain on an exact batch-id match, held otherwise), and group them into batches of at most `max_batch` lines; a
   payout above the approval threshold goes alone. Each batch is stored with its lines, its nonce and version 0 of
   its transaction before the signer is asked (a fee over the cap, or a call the chain would refuse — a treasury
   short of funds — waits: nothing stored).
2. **Sign**: ask the signer for every SIGNING version (the request id is derived from the batch, so a crash asks
   again and gets the same answer); store the signed bytes. A batch the signer holds for approval
   (`AWAITING_APPROVAL`) is not asked for again while its approval is pending: each pass reads the approval
   (`GetApproval`) and asks for the signature once the quorum signed; an approval that lapsed is refused for good
   (`APPROVAL_EXPIRED`), so its payouts fail (released) and its nonce goes to the next transaction. A fee-bump
   replacement held again is read the same way (the batch keeps its newest held version's approval id). A freeze
   (`SIGNING_FROZEN`) is no refusal: the version stays SIGNING with its nonce and is signed after the unfreeze.
   Before the signer is first asked, every payout is claimed at the ledger (`ClaimPayout`: no longer cancelable);
   a payout refused there (canceled since it was listed) is dropped and the rest re-planned, the nonce free again.
   A planned batch whose nonce a transaction these rows do not hold has used (only a restore of an older backup
   leaves one) is released unsigned instead: its payouts are planned again, after `recover_lost` has matched them.
   The order matters: the signer keeps one call per nonce, so a signed batch holding a canceled payout could be
   neither sent nor replaced, and every later transaction of the HOT key would wait behind its nonce.
3. **Tell the ledger, then send**: `MarkPayoutBroadcast` for every payout of the batch with the version's hash before
   its first broadcast, so a payout is never on chain without the ledger knowing its transaction.
4. **Track**: receipts of every version, rebroadcast, fee-bump replacement of a stuck version (its new hash told to
   the ledger before it is sent), and at finality `MarkPayoutConfirmed` with the hash that landed; a reverted batch
   whose id the treasury has not paid fails its payouts (`MarkPayoutFailed`); one already paid (an earlier send of
   the same batch id landed) is confirmed with the transaction that paid it.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import grpc
from prometheus_client import CollectorRegistry, Counter, Gauge

from chain import abi
from chain.client import ChainClient, RpcError
from chain.contracts import load_artifact
from chain.fees import FeeCaps, FeeQuote, estimate_fees
from chain.types import quantity
from settlement import chain_io
from settlement.domain.fees import TxFees, bumped
from settlement.ledger_client import PayoutLedger, QueuedPayout
from settlement.signing import Refused, Signed, SweepSigner
from settlement.store import payout_batches as store
from settlement.store import sweeps as tx_store
from settlement.store.payout_batches import PayoutBatch, PayoutLine
from settlement.store.sweeps import ChainTx, Landed

log = logging.getLogger("stablegate.settlement.payouts")
REFUSALS = frozenset({grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND})
PAYOUT_BATCH_EVENT = "0x" + abi.keccak256(b"PayoutBatch(bytes32,uint256,uint256)").hex()


def batch_id(payout_ids: list[str]) -> str:
    """The treasury's replay guard for a batch of payouts, as the signer derives it (0x + 32 bytes hex)."""
    return "0x" + abi.keccak256(("stablegate.payout-batch:" + "|".join(payout_ids)).encode()).hex()


@dataclass(frozen=True)
class PayoutOptions:
    """The HOT key, the treasury, batching and how batches are priced and replaced."""

    chain_id: int
    key_id: str
    hot_address: str
    treasury: str
    token: str
    fee_caps: FeeCaps
    max_batch: int = 50
    """Most payouts in one payoutBatch."""
    approval_threshold: int = 0
    """A payout above this many base units goes alone in its batch (the signer's approval rule); 0: none."""
    gas_margin_percent: int = 20
    max_gas: int = 10_000_000
    bump_percent: int = 12
    stuck_after_seconds: float = 60.0
    rebroadcast_seconds: float = 15.0
    legacy_fees: bool = False
    scan_from_block: int = 0
    """Where the search for lost batches starts when no batch is stored (the treasury's deployment block)."""
    log_chunk_blocks: int = 5000
    """Most blocks one `eth_getLogs` asks about (providers cap the range)."""
    max_candidate_sets: int = 1000
    """Most payout combinations tried against one lost batch's id; beyond, its payouts are held as ambiguous."""


@dataclass(frozen=True)
class LostBatch:
    """A `payoutBatch` the treasury paid whose batch id no stored batch carries (a restore lost its rows)."""

    batch_id: str
    tx_hash: str
    block_number: int
    sender_address: str
    nonce: int
    lines: tuple[tuple[str, int], ...]
    """(destination, amount) per line, in calldata order."""
    final: bool


@dataclass
class _LostScan:
    """What the search for lost batches has read so far (in memory, rebuilt at each leadership)."""

    next_block: int
    """The first block not yet read for good (every block below it is final and read)."""
    final: dict[str, LostBatch] = field(default_factory=dict)
    """Final lost batches not booked yet, by batch id."""


class PayoutMetrics:
    """Batches and payouts sent, on the service's registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        kwargs: dict[str, Any] = {"registry": registry}
        self.batches = Counter("settlement_payout_batches_total", "Payout batches, by outcome", ["outcome"], **kwargs)
        self.payouts = Counter("settlement_payouts_total", "Payouts, by outcome", ["outcome"], **kwargs)
        self.awaiting = Gauge("settlement_payout_batches_awaiting_approval", "Batches held for approvers", **kwargs)
        self.held = Gauge(
            "settlement_payouts_held_lost_batch",
            "QUEUED payouts not planned: a payout batch these rows do not hold may have paid them (docs/backup.md)",
            **kwargs,
        )


def needs_approval(payout: QueuedPayout, approval_threshold: int) -> bool:
    """Above the threshold: the signer's approval rule will hold it."""
    return bool(approval_threshold) and payout.amount > approval_threshold


def plan_batches(queued: list[QueuedPayout], max_batch: int, approval_threshold: int) -> list[list[QueuedPayout]]:
    """Oldest first, at most `max_batch` a batch; each payout above the approval threshold alone, after the rest.

    A held batch holds its nonce, so what needs no approval goes out first.
    """
    batches: list[list[QueuedPayout]] = []
    singles: list[list[QueuedPayout]] = []
    current: list[QueuedPayout] = []
    for payout in queued:
        if needs_approval(payout, approval_threshold):
            singles.append([payout])
            continue
        current.append(payout)
        if len(current) == max_batch:
            batches.append(current)
            current = []
    if current:
        batches.append(current)
    return batches + singles


class PayoutExecutor:
    """The payout passes over persisted state; see the module docstring."""

    def __init__(
        self,
        client: ChainClient,
        pool: asyncpg.Pool,
        signer: SweepSigner,
        ledger: PayoutLedger,
        *,
        options: PayoutOptions,
        metrics: PayoutMetrics | None = None,
    ) -> None:
        self.client = client
        self.pool = pool
        self.signer = signer
        self.ledger = ledger
        self.options = options
        self.metrics = metrics or PayoutMetrics()
        self._recovered = False
        self._payout_batch = load_artifact("Treasury").function("payoutBatch")
        self._scan: _LostScan | None = None
        self._hold_floor: int | None = None

    async def tick(self) -> None:
        """One pass: recover the HOT key's nonce (first pass of a leadership), plan, then advance every batch."""
        if not self._recovered:
            await self.recover()
        await self.plan()
        await self.track()

    def lost_leadership(self) -> None:
        """The lease is gone: recover nonces from the chain before the next pass."""
        self._recovered = False

    async def recover(self) -> int:
        """Set the HOT key's next nonce from the chain and our rows."""
        recovered = await chain_io.recover_nonce(
            self.client, self.pool, self.options.chain_id, self.options.hot_address
        )
        self._recovered = True
        self._scan = None  # the search for lost batches starts again from the stored rows
        return recovered.following

    def _fees(self, quote: FeeQuote) -> TxFees:
        if self.options.legacy_fees:
            return TxFees(quote.gas_price_wei, quote.gas_price_wei, legacy=True)
        return TxFees(quote.max_fee_per_gas_wei, quote.max_priority_fee_per_gas_wei)

    def _calldata(self, lines: tuple[PayoutLine, ...] | list[PayoutLine]) -> bytes:
        ids = [line.payout_id for line in lines]
        return self._payout_batch.calldata(
            (
                bytes.fromhex(batch_id(ids)[2:]),
                [abi.to_checksum_address(line.destination_address) for line in lines],
                [line.amount for line in lines],
            )
        )

    async def _gas_limit(self, lines: list[PayoutLine]) -> int | None:
        """The signed gas limit (estimate plus margin), or None when the chain would refuse the call now."""
        opts = self.options
        try:
            estimate = await chain_io.estimate_gas(self.client, opts.hot_address, opts.treasury, self._calldata(lines))
        except RpcError as exc:
            log.warning("payout batch would revert now; it waits", extra={"error": exc.rpc_message[:200]})
            return None
        return max(estimate, min(estimate + estimate * opts.gas_margin_percent // 100, opts.max_gas))

    # --- planning -----------------------------------------------------------------------------------------------

    def _held_alone(self, batch: PayoutBatch) -> bool:
        """A batch of one payout above the approval threshold (the signer will hold it)."""
        threshold = self.options.approval_threshold
        return len(batch.lines) == 1 and bool(threshold) and batch.lines[0].amount > threshold

    async def plan(self) -> list[str]:
        """Group the QUEUED payouts not in an open batch into batches and store each with its nonce; their ids."""
        opts = self.options
        async with self.pool.acquire() as conn:
            waiting = await store.batches_in(conn, opts.chain_id, ("PLANNED", "AWAITING_APPROVAL"))
        if any(b.status == "AWAITING_APPROVAL" or self._held_alone(b) for b in waiting):
            # A held batch holds the HOT key's next nonce: nothing signed after it could land before it. The rest
            # wait QUEUED (and cancelable) until the approvers decide.
            return []
        queued = await self.ledger.queued()
        async with self.pool.acquire() as conn:
            taken = await store.open_payout_ids(conn, opts.chain_id)
        fresh = [
            p
            for p in queued
            if p.payout_id not in taken and p.chain_id == opts.chain_id and p.token_contract == opts.token
        ]
        # Before anything is planned: payouts a batch these rows do not hold paid (booked) or may have paid (held).
        not_now = await self.recover_lost(fresh)
        fresh = [p for p in fresh if p.payout_id not in not_now]
        made: list[str] = []
        for group in plan_batches(fresh, opts.max_batch, opts.approval_threshold):
            lines = [PayoutLine(p.payout_id, p.destination_address, p.amount) for p in group]
            initiators = {p.initiator_address for p in group}
            quote = await estimate_fees(self.client, opts.fee_caps)
            if quote.over_cap:
                log.info("payouts wait: the fee passes its cap")
                return made
            limit = await self._gas_limit(lines)
            if limit is None:
                return made  # oldest first: later batches wait behind the one the chain refuses now
            latest = await chain_io.transaction_count(self.client, opts.hot_address, "latest")
            finalized, _ = await chain_io.finalized_block(self.client)
            ref = store.new_batch_ref()
            async with self.pool.acquire() as conn:
                await store.insert_batch(
                    conn,
                    batch_ref=ref,
                    chain_id=opts.chain_id,
                    key_id=opts.key_id,
                    sender_address=opts.hot_address,
                    treasury_address=opts.treasury,
                    token_contract=opts.token,
                    batch_id=batch_id([x.payout_id for x in lines]),
                    # Whoever asked, named to the signer: their own approval never counts.
                    initiator_address=initiators.pop() if len(initiators) == 1 else "",
                    lines=lines,
                    chain_latest=latest,
                    gas_limit=limit,
                    fees=self._fees(quote),
                    # Never past a held lost batch: the next search for lost batches starts at the newest of these.
                    planned_block=finalized if self._hold_floor is None else min(finalized, self._hold_floor),
                )
            made.append(ref)
            self.metrics.batches.labels("PLANNED").inc()
            log.info("payout batch planned", extra={"batch": ref, "lines": len(lines)})
            if needs_approval(group[0], opts.approval_threshold):
                return made  # one held batch at a time: nothing is planned behind it until it is decided
        return made

    # --- batches these rows lost (a restore from an older backup) ----------------------------------------------

    async def recover_lost(self, open_payouts: list[QueuedPayout]) -> set[str]:
        """Book the open payouts a lost batch paid; the ids of those booked or held (not to be planned now).

        A lost batch is a `PayoutBatch` event of the treasury whose batch id no stored batch carries. Its lines
        (its calldata) are matched to the open payouts by destination and amount, and a combination of them whose
        batch id is exactly the event's is booked as paid by that transaction (once the block is final). Any other
        open payout with the destination and amount of one of its lines is held, and said so, never paid again.
        """
        if not open_payouts:
            self._hold_floor = None
            self.metrics.held.set(0)
            return set()  # nothing open: nothing could be paid twice
        by_line: dict[tuple[str, int], list[QueuedPayout]] = {}
        for payout in open_payouts:
            by_line.setdefault((payout.destination_address.lower(), payout.amount), []).append(payout)
        booked: set[str] = set()
        held: set[str] = set()
        floor: int | None = None
        found = await self._lost_batches()
        if found is None:
            log.warning("payouts wait: a lost payout batch's transaction could not be read yet")
            self.metrics.held.set(len(open_payouts))
            return {p.payout_id for p in open_payouts}  # its lines are unknown: nothing is safe to plan this pass
        for lost in sorted(found, key=lambda b: b.block_number):
            candidates = [
                [p for p in by_line.get(line, []) if p.payout_id not in booked and p.payout_id not in held]
                for line in lost.lines
            ]
            if not any(candidates):
                continue  # it paid none of the open payouts
            match = self._exact(lost, candidates) if lost.final else None
            # Oldest first: a booked batch's row never names a block after a lost batch held before it.
            if match is not None and await self._book(lost, match, lost.block_number if floor is None else floor):
                booked |= {p.payout_id for p in match}
                continue
            holding = {p.payout_id for c in candidates for p in c}
            held |= holding
            floor = lost.block_number if floor is None else min(floor, lost.block_number)
            if lost.final:
                log.error(
                    "payouts held: a payout batch paid on chain that these rows do not hold has their destination "
                    "and amount but no exact match of its batch id; an operator must settle them (docs/backup.md)",
                    extra={"tx_hash": lost.tx_hash, "batch_id": lost.batch_id, "payout_ids": sorted(holding)},
                )
            else:
                log.warning(
                    "payouts held until a lost payout batch is final",
                    extra={"tx_hash": lost.tx_hash, "payout_ids": sorted(holding)},
                )
        self._hold_floor = floor
        self.metrics.held.set(len(held))
        return booked | held

    def _exact(self, lost: LostBatch, candidates: list[list[QueuedPayout]]) -> list[QueuedPayout] | None:
        """The payouts, one a line, whose batch id is exactly the lost batch's; None when none (or too many)."""
        for tried, combination in enumerate(itertools.product(*candidates)):
            if tried >= self.options.max_candidate_sets:
                return None
            ids = [p.payout_id for p in combination]
            if len(set(ids)) == len(ids) and batch_id(ids) == lost.batch_id:
                return list(combination)
        return None

    async def _book(self, lost: LostBatch, payouts: list[QueuedPayout], planned_block: int) -> bool:
        """Claim the payouts for a batch row and store it MINED by the lost transaction; False when refused.

        The tracking pass then tells the ledger the transaction and confirms them (final already). `planned_block`
        is where the next search for lost batches will start: never after one still held.
        """
        found = await chain_io.receipt(self.client, lost.tx_hash)
        if found is None:
            return False
        ref = store.new_batch_ref()
        for payout in payouts:
            try:
                await self.ledger.claim(payout.payout_id, ref)
            except grpc.aio.AioRpcError as exc:
                if exc.code() not in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND):
                    raise
                log.error(
                    "a payout paid on chain by a lost batch is no longer QUEUED at the ledger; its batch is held",
                    extra={"tx_hash": lost.tx_hash, "payout_id": payout.payout_id, "detail": exc.details()},
                )
                return False
        async with self.pool.acquire() as conn:
            await store.insert_recovered(
                conn,
                batch_ref=ref,
                chain_id=self.options.chain_id,
                key_id=self.options.key_id,
                sender_address=lost.sender_address,
                treasury_address=self.options.treasury,
                token_contract=self.options.token,
                batch_id=lost.batch_id,
                lines=[PayoutLine(p.payout_id, p.destination_address, p.amount) for p in payouts],
                nonce=lost.nonce,
                landed=Landed.from_receipt(lost.tx_hash, found),
                planned_block=planned_block,
            )
        self.metrics.batches.labels("RECOVERED").inc()
        log.warning(
            "a payout batch lost with these rows was found paid on chain and booked",
            extra={"batch": ref, "tx_hash": lost.tx_hash, "payouts": len(payouts)},
        )
        return True

    async def _lost_batches(self) -> list[LostBatch] | None:
        """The treasury's paid batches no stored batch carries, from the stored rows' newest planned block on.

        Final blocks are read once (what they hold is kept in memory until booked); blocks after the finalized one
        are read again every pass. None when the transaction of one could not be fetched (the provider has not got
        it yet): read again next pass.
        """
        opts = self.options
        if self._scan is None:
            async with self.pool.acquire() as conn:
                newest = await store.newest_planned_block(conn, opts.chain_id)
            self._scan = _LostScan(next_block=opts.scan_from_block if newest is None else newest)
        scan = self._scan
        finalized, _ = await chain_io.finalized_block(self.client)
        latest: int = await self.client.call("eth_blockNumber", [], lambda v: quantity(v, "blockNumber"))
        events: dict[str, tuple[str, int]] = {}
        for low in range(scan.next_block, latest + 1, opts.log_chunk_blocks):
            entries = await self.client.call(
                "eth_getLogs",
                [
                    {
                        "address": opts.treasury,
                        "fromBlock": hex(low),
                        "toBlock": hex(min(low + opts.log_chunk_blocks - 1, latest)),
                        "topics": [PAYOUT_BATCH_EVENT],
                    }
                ],
                list,
            )
            for entry in entries:
                if entry.get("removed") or len(entry.get("topics", [])) < 2:
                    continue
                events[str(entry["topics"][1]).lower()] = (
                    str(entry["transactionHash"]).lower(),
                    int(str(entry["blockNumber"]), 16),
                )
        async with self.pool.acquire() as conn:
            known = await store.known_batch_ids(conn, opts.chain_id, [*events, *scan.final])
        for booked in known & set(scan.final):
            del scan.final[booked]
        pending: list[LostBatch] = []
        for event_batch_id, (tx_hash, block_number) in events.items():
            if event_batch_id in known or event_batch_id in scan.final:
                continue
            tx = await self.client.call("eth_getTransactionByHash", [tx_hash], lambda v: v)
            if not isinstance(tx, dict):
                return None  # the cursor stays: these blocks are read again
            lost = self._decode(event_batch_id, tx_hash, tx, block_number, block_number <= finalized)
            if lost is None:
                continue
            if lost.final:
                scan.final[event_batch_id] = lost
            else:
                pending.append(lost)
        scan.next_block = max(scan.next_block, min(finalized, latest) + 1)
        return [*scan.final.values(), *pending]

    def _decode(
        self, event_batch_id: str, tx_hash: str, tx: dict[str, Any], block_number: int, final: bool
    ) -> LostBatch | None:
        """The lines of the `payoutBatch` call (`tx`) that emitted the event; None (said so) when it is not one."""
        try:
            data = bytes.fromhex(str(tx["input"])[2:])
            if str(tx["to"]).lower() != self.options.treasury.lower() or data[:4] != self._payout_batch.selector:
                raise ValueError("not a direct payoutBatch call of the treasury")
            called_id, recipients, amounts = abi.decode(self._payout_batch.inputs, data[4:])
            if not (isinstance(called_id, bytes) and isinstance(recipients, list) and isinstance(amounts, list)):
                raise ValueError("not the payoutBatch arguments")
            if "0x" + called_id.hex() != event_batch_id or len(recipients) != len(amounts):
                raise ValueError("the call's batch id or lines do not match its event")
            sender, nonce = str(tx["from"]).lower(), int(str(tx["nonce"]), 16)
            lines = tuple((str(r).lower(), int(str(a))) for r, a in zip(recipients, amounts, strict=True))
        except (TypeError, KeyError, ValueError) as exc:
            log.error(
                "a lost PayoutBatch event could not be read as a payoutBatch call; settle it by hand",
                extra={"tx_hash": tx_hash, "batch_id": event_batch_id, "error": str(exc)[:200]},
            )
            return None
        return LostBatch(
            batch_id=event_batch_id,
            tx_hash=tx_hash,
            block_number=block_number,
            sender_address=sender,
            nonce=nonce,
            lines=lines,
            final=final,
        )

    # --- signing, telling the ledger, sending --------------------------------------------------------------------

    async def _sign(self, batch: PayoutBatch, tx: ChainTx) -> ChainTx | None:
        """Ask the signer for a SIGNING version (same request id every time); the stored version once signed."""
        result = await self.signer.sign_payout(
            request_id=tx.request_id,
            key_id=batch.key_id,
            chain_id=batch.chain_id,
            nonce=tx.nonce,
            gas_limit=tx.gas_limit,
            fees=tx.fees,
            treasury=abi.to_checksum_address(batch.treasury_address),
            token=abi.to_checksum_address(batch.token_contract),
            lines=[(x.payout_id, abi.to_checksum_address(x.destination_address), x.amount) for x in batch.lines],
            initiator=batch.initiator_address,
            # Held: while its approval is pending the signer is only read (GetApproval), never asked again. The
            # batch keeps the approval its newest held version is held under (the signer checks it names this
            # version's request id: an older one is simply not waited on).
            awaiting_approval=batch.approval_id or "",
        )
        if isinstance(result, Refused) and result.decision == "PENDING_APPROVAL":
            # Held: the version stays SIGNING (its nonce taken, so the approvers approve exactly this transaction);
            # each pass reads its approval and asks for the signature with the same request id once the quorum
            # signed. The ledger hears first (a crash between the two tells it again). An approval that lapses is
            # DENIED (APPROVAL_EXPIRED) below: the payouts fail (released), the nonce goes to the next transaction.
            if tx.version == 0 and batch.status != "AWAITING_APPROVAL":
                for line in batch.lines:
                    await self.ledger.mark_pending_approval(line.payout_id, result.approval_id)
                async with self.pool.acquire() as conn:
                    await store.set_status(conn, batch.id, "AWAITING_APPROVAL", approval_id=result.approval_id)
                log.warning(
                    "payout batch awaits the approvers", extra={"batch": batch.id, "approval_id": result.approval_id}
                )
            elif result.approval_id and result.approval_id != batch.approval_id:
                # A fee-bump replacement held again, or a request the signer holds under a new approval (its state
                # lost the old one: a restore): that approval is the one read from now on.
                async with self.pool.acquire() as conn:
                    await store.set_approval(conn, batch.id, result.approval_id)
                log.warning(
                    "payout batch awaits the approvers",
                    extra={"batch": batch.id, "version": tx.version, "approval_id": result.approval_id},
                )
            return None
        if isinstance(result, Refused) and result.frozen:
            # Not final: the version stays SIGNING with its nonce, nothing fails or is released, and later passes
            # ask again (reading the freeze state meanwhile) until the unfreeze signs this same request id.
            log.info("payout batch waits: signing is frozen", extra={"batch": batch.id, "version": tx.version})
            return None
        if isinstance(result, Refused):
            async with self.pool.acquire() as conn, conn.transaction():
                await tx_store.store_denied(conn, tx, f"{result.decision}:{result.reason}")
            log.error("the signer refused a payout batch", extra={"batch": batch.id, "reason": result.reason})
            if tx.version == 0:
                await self._fail(batch, f"SIGNER_{result.decision}:{result.reason}")
            return None
        assert isinstance(result, Signed)
        async with self.pool.acquire() as conn, conn.transaction():
            await tx_store.store_signed(conn, tx.id, result.raw_transaction, result.tx_hash)
            if batch.status in ("PLANNED", "AWAITING_APPROVAL"):
                await store.set_status(conn, batch.id, "SIGNED")
            stored = next(v for v in await store.versions(conn, batch.id) if v.id == tx.id)
        return stored

    async def _claim(self, batch: PayoutBatch) -> bool:
        """ClaimPayout for every payout before anything is signed; False (batch re-planned) when one is refused.

        A payout canceled since it was listed is refused here, while nothing is signed for the batch's nonce: the
        rest are re-planned (the nonce is free again) and the canceled one is never sent.
        """
        refused: list[str] = []
        for line in batch.lines:
            try:
                await self.ledger.claim(line.payout_id, batch.id)
            except grpc.aio.AioRpcError as exc:
                if exc.code() not in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND):
                    raise
                refused.append(line.payout_id)
                log.warning(
                    "the ledger refused a payout's claim (canceled meanwhile): dropped from its batch",
                    extra={"batch": batch.id, "payout_id": line.payout_id, "detail": exc.details()},
                )
        if not refused:
            return True
        await self._replan(batch, [x for x in batch.lines if x.payout_id not in refused], "PAYOUT_NOT_QUEUED")
        self.metrics.payouts.labels("DROPPED_NOT_QUEUED").inc(len(refused))
        return False

    async def _tell_ledger(self, batch: PayoutBatch, tx: ChainTx) -> None:
        """MarkPayoutBroadcast for every payout with this version's hash (before it is first broadcast)."""
        assert tx.tx_hash is not None
        for line in batch.lines:
            await self.ledger.mark_broadcast(line.payout_id, tx.tx_hash)  # a refusal leaves the bytes unsent

    async def _replan(self, batch: PayoutBatch, lines: list[PayoutLine], reason: str) -> None:
        """Abandon a batch that was never sent; its remaining payouts form a new batch with a new nonce."""
        quote = await estimate_fees(self.client, self.options.fee_caps)
        latest = await chain_io.transaction_count(self.client, batch.sender_address, "latest")
        async with self.pool.acquire() as conn:
            await store.store_replanned(
                conn,
                batch,
                reason=reason,
                new_batch_ref=store.new_batch_ref() if lines else None,
                lines=lines,
                chain_latest=latest,
                fees=self._fees(quote),
                batch_id=batch_id([x.payout_id for x in lines]),
            )
        self.metrics.batches.labels("REPLANNED").inc()

    async def _send(self, batch: PayoutBatch, tx: ChainTx) -> None:
        """Broadcast a version; before its first broadcast, the ledger learns its hash (never the other way round)."""
        assert tx.raw_transaction is not None
        if tx.broadcast_count == 0:
            # A refusal here (the payouts were claimed, so only a bug or an operator's hand) propagates: the batch
            # is signed, its nonce can carry no other call, and it stays unsent until someone looks.
            await self._tell_ledger(batch, tx)
            if batch.status == "SIGNED":
                async with self.pool.acquire() as conn:
                    await store.set_status(conn, batch.id, "SENT")
        outcome = await chain_io.broadcast(self.client, tx.raw_transaction)
        if outcome.reached:
            async with self.pool.acquire() as conn:
                await tx_store.mark_broadcast(conn, tx.id)

    # --- tracking -----------------------------------------------------------------------------------------------

    async def track(self) -> None:
        """Advance every open batch, oldest nonce first."""
        async with self.pool.acquire() as conn:
            open_batches = await store.batches_in(conn, self.options.chain_id, store.OPEN_BATCH)
        self.metrics.awaiting.set(sum(1 for b in open_batches if b.status == "AWAITING_APPROVAL"))
        for batch in open_batches:
            try:
                if batch.status == "MINED":
                    await self._track_mined(batch)
                else:
                    await self._track_sent(batch)
            except grpc.aio.AioRpcError as exc:
                if exc.code() not in REFUSALS:
                    raise
                # The ledger refused a report the batch's state requires (a payout moved by someone else): the
                # batch stays as it is, retried every pass, and the operators are told by the log and the metric.
                self.metrics.batches.labels("LEDGER_REFUSED").inc()
                log.error(
                    "the ledger refused a payout report; the batch waits",
                    extra={"batch": batch.id, "code": exc.code().name, "detail": exc.details()},
                )

    async def _signed(self, batch: PayoutBatch) -> PayoutBatch | None:
        """Claim (before the first signature) and ask the signer for every SIGNING version; None while waiting.

        A planned batch whose nonce is used on chain already is released instead (None).
        """
        if batch.status == "PLANNED" and await self._released_for_a_used_nonce(batch):
            return None
        async with self.pool.acquire() as conn:
            versions = await store.versions(conn, batch.id)
        if batch.status == "PLANNED" and not await self._claim(batch):
            return None
        for version in versions:
            if version.status == "SIGNING":
                if await self._sign(batch, version) is None:
                    if version.version == 0:
                        return None
                    continue  # a replacement not signed (held, frozen, refused): the signed versions are tracked
                async with self.pool.acquire() as conn:
                    refreshed = await store.get(conn, batch.id)
                assert refreshed is not None
                batch = refreshed
        return batch

    async def _track_sent(self, batch: PayoutBatch) -> None:
        ready = await self._signed(batch)
        if ready is None:
            return
        batch = ready
        async with self.pool.acquire() as conn:
            every = await store.versions(conn, batch.id)
        signed_versions = [v for v in every if v.tx_hash is not None and v.status != "DROPPED"]
        if not signed_versions:
            return
        if batch.status == "SIGNED":
            await self._send(batch, signed_versions[-1])
            return
        if await self._find_receipt(batch, signed_versions):
            return
        assert batch.nonce is not None
        latest = await chain_io.transaction_count(self.client, batch.sender_address, "latest")
        if latest > batch.nonce:
            if await self._find_receipt(batch, signed_versions):
                return
            await self._nonce_used_elsewhere(batch)
            return
        newest = signed_versions[-1]
        if newest.broadcast_count == 0 or newest.since_broadcast >= self.options.rebroadcast_seconds:
            await self._send(batch, newest)
        waiting = every[-1].status == "SIGNING" or (
            every[-1].status == "DENIED" and every[-1].since_created < self.options.stuck_after_seconds
        )
        if newest.broadcast_count > 0 and newest.age_seconds >= self.options.stuck_after_seconds and not waiting:
            await self._replace(batch, newest)

    async def _released_for_a_used_nonce(self, batch: PayoutBatch) -> bool:
        """A stored batch never signed whose nonce a transaction these rows do not hold used: released; True then.

        Only a restore of an older backup leaves one (the HOT key's nonces are taken from these rows): the lost
        gateway used the nonce, maybe for a batch of other lines that paid some of these payouts (it re-planned this
        batch after a cancel). Signed as stored, the batch would be refused at that nonce (the signer keeps one call
        per nonce: its payouts failed, though the chain paid some) or re-sent at a new one (paid twice). Released
        instead (`REPLANNED` into nothing, nothing signed or sent), its payouts go back to planning, where
        `recover_lost` matches them against the lost batches first: booked on an exact batch-id match, held on a
        line match, the rest planned at a new nonce. One whose own batch id the treasury paid (the lost gateway sent
        this very batch) is booked as paid by that transaction instead.
        """
        if batch.nonce is None:
            return False
        latest = await chain_io.transaction_count(self.client, batch.sender_address, "latest")
        if latest <= batch.nonce:
            return False
        async with self.pool.acquire() as conn:
            versions = await store.versions(conn, batch.id)
        if any(v.tx_hash is not None for v in versions):
            return False  # signed: tracked as sent (a version's receipt, or `_nonce_used_elsewhere`)
        paid = await self._paid_by(batch)
        if paid is not None:
            # The lost gateway sent this very batch (its batch id is paid): the ledger learns that transaction and
            # it is confirmed from it at finality. Nothing is signed.
            for line in batch.lines:
                try:
                    await self.ledger.claim(line.payout_id, batch.id)
                except grpc.aio.AioRpcError as exc:
                    if exc.code() != grpc.StatusCode.FAILED_PRECONDITION:
                        raise
                    # No longer QUEUED: told already (a crash after MarkPayoutBroadcast), which the report below
                    # repeats as a no-op, or canceled since the restore, which it refuses (the batch then waits).
                await self.ledger.mark_broadcast(line.payout_id, paid.tx_hash)
            async with self.pool.acquire() as conn:
                await store.store_paid_unsigned(conn, batch.id, paid)
            log.warning(
                "a planned payout batch was found paid on chain by a transaction these rows do not hold (a restore?)",
                extra={"batch": batch.id, "tx_hash": paid.tx_hash},
            )
            return True
        await self._replan(batch, [], "NONCE_USED_ELSEWHERE")
        log.warning(
            "a planned payout batch's nonce was used by a transaction these rows do not hold (a restore?): its "
            "payouts are matched against the lost batches before they are planned again",
            extra={"batch": batch.id, "nonce": batch.nonce, "payout_ids": [x.payout_id for x in batch.lines]},
        )
        return True

    async def _nonce_used_elsewhere(self, batch: PayoutBatch) -> None:
        """The batch's nonce went to a transaction that is none of its versions: paid already, or re-send it."""
        paid = await self._paid_by(batch)
        if paid is not None:
            async with self.pool.acquire() as conn:
                await store.store_landed(conn, batch.id, paid)
                await store.set_status(conn, batch.id, "MINED")
            return
        async with self.pool.acquire() as conn:
            await tx_store.drop_versions(conn, store.PAYOUT_BATCHES, batch.id)
        # The same payouts again (the same batch id: the treasury pays it once) at a new nonce.
        await self._replan(batch, list(batch.lines), "NONCE_USED_ELSEWHERE")
        log.warning("payout batch re-sent: its nonce went to another transaction", extra={"batch": batch.id})

    async def _replace(self, batch: PayoutBatch, stuck: ChainTx) -> None:
        """The same call at the same nonce with both fee fields raised (the sweeper's rule)."""
        quote = await estimate_fees(self.client, self.options.fee_caps)
        fees = bumped(stuck.fees, self._fees(quote), self.options.bump_percent)
        if fees.fee_cap > self.options.fee_caps.max_gas_price_wei:
            return
        async with self.pool.acquire() as conn:
            replacement = await store.start_replacement(conn, batch, stuck, fees)
        log.info("replacing a stuck payout batch", extra={"batch": batch.id, "version": replacement.version})
        signed = await self._sign(batch, replacement)
        if signed is not None:
            await self._send(batch, signed)

    async def _find_receipt(self, batch: PayoutBatch, versions: list[ChainTx]) -> bool:
        for version in versions:
            assert version.tx_hash is not None
            found = await chain_io.receipt(self.client, version.tx_hash)
            if found is None:
                continue
            async with self.pool.acquire() as conn:
                await store.store_mined(conn, batch.id, Landed.from_receipt(version.tx_hash, found))
            return True
        return False

    async def _paid_by(self, batch: PayoutBatch) -> Landed | None:
        """The transaction whose PayoutBatch event carries this batch id, if the treasury paid it."""
        logs = await self.client.call(
            "eth_getLogs",
            [
                {
                    "address": batch.treasury_address,
                    "fromBlock": hex(batch.planned_block),
                    "toBlock": "latest",
                    "topics": [PAYOUT_BATCH_EVENT, batch.batch_id],
                }
            ],
            list,
        )
        for entry in logs:
            if entry.get("removed"):
                continue
            found = await chain_io.receipt(self.client, str(entry["transactionHash"]).lower())
            if found is not None and int(found["status"], 16) == 1:
                return Landed.from_receipt(str(entry["transactionHash"]).lower(), found)
        return None

    async def _track_mined(self, batch: PayoutBatch) -> None:
        assert batch.landed_tx_hash is not None
        assert batch.block_number is not None
        found = await chain_io.receipt(self.client, batch.landed_tx_hash)
        if found is None or str(found["blockHash"]).lower() != batch.block_hash:
            async with self.pool.acquire() as conn:
                await store.store_unmined(conn, batch.id)
            return
        finalized, _ = await chain_io.finalized_block(self.client)
        if batch.block_number > finalized:
            return
        if await chain_io.canonical_hash(self.client, batch.block_number) != batch.block_hash:
            async with self.pool.acquire() as conn:
                await store.store_unmined(conn, batch.id)
            return
        landed = Landed.from_receipt(batch.landed_tx_hash, found)
        if landed.status != 1:
            # Reverted. BatchAlreadyPaid means an earlier send of this batch id paid it: confirm with that one.
            paid = await self._paid_by(batch)
            if paid is None:
                await self._fail(batch, "REVERTED")
                return
            async with self.pool.acquire() as conn:
                await store.store_landed(conn, batch.id, paid)
            landed = paid
        async with self.pool.acquire() as conn:
            ours = await store.versions(conn, batch.id)
        if not ours:
            # A batch found paid on chain (`_book`): the ledger learns its transaction now, before confirming.
            for line in batch.lines:
                await self.ledger.mark_broadcast(line.payout_id, landed.tx_hash)
        for line in batch.lines:
            await self.ledger.mark_confirmed(line.payout_id, landed.tx_hash, landed.block_number)
        async with self.pool.acquire() as conn:
            await store.set_status(conn, batch.id, "CONFIRMED")
        self.metrics.batches.labels("CONFIRMED").inc()
        self.metrics.payouts.labels("CONFIRMED").inc(len(batch.lines))
        log.info("payout batch final and confirmed", extra={"batch": batch.id, "tx_hash": landed.tx_hash})

    async def _fail(self, batch: PayoutBatch, reason: str) -> None:
        """The batch can no longer land: every payout failed at the ledger (reservation released), then FAILED."""
        for line in batch.lines:
            await self.ledger.mark_failed(line.payout_id, reason)
        async with self.pool.acquire() as conn:
            await store.set_status(conn, batch.id, "FAILED", failure=reason)
        self.metrics.batches.labels("FAILED").inc()
        self.metrics.payouts.labels("FAILED").inc(len(batch.lines))
        log.error("payout batch failed", extra={"batch": batch.id, "reason": reason})

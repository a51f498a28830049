"""The sweeper: moves final deposits from their forwarders into the treasury, one batched flush at a time.

One pass (`tick`), run under a lease by the settlement process:

1. **Track** every sweep that is out: sign again what was asked for but not stored signed (same request id,
   so the signer returns the same bytes), broadcast what is signed but was never sent, look for a receipt of
   any version of its nonce, replace a version that is stuck with a fee bump, and once the receipt's block is
   final (and still canonical) read its Transfer logs and book the sweep in the ledger, then mark its strays
   quarantined (from its Quarantined logs).
2. **Plan** new sweeps from the ledger's sweepable deposits whose forwarder still holds what the ledger credited
   (one that holds less was moved by a sweep we hold no row of, after a restore: that sweep is booked from the
   chain instead, settlement/lost_sweeps.py) and requested quarantines of stray tokens (skipping
   addresses and strays already in an open sweep), persisting each intent (PLANNED) before anything is signed.
   Addresses with a stray to quarantine go in sweeps of their own (with their sweepable deposits, if any), so a
   stray token whose transfer reverts fails only those sweeps; a failed sweep's strays are not planned again.
3. **Send** planned or held sweeps: a fee over its cap holds the sweep (nothing signed); otherwise take the
   key's next nonce and store the request (SIGNING) in one transaction, ask the signer, store the signed
   bytes, then broadcast them to every provider.

A crash at any point resumes from the rows: nothing signed is ever signed again with another nonce.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import asyncpg
import grpc
from prometheus_client import CollectorRegistry, Counter, Gauge

from chain import abi
from chain.client import ChainClient, RpcError
from chain.contracts import load_artifact
from chain.fees import FeeCaps, FeeQuote, estimate_fees
from settlement import chain_io
from settlement.domain.fees import TxFees, bumped
from settlement.domain.receipts import quarantined_amounts, swept_amounts
from settlement.domain.sweeps import Deposit, GasBudget, Quarantine, batches, gas_limit, stray_entries
from settlement.ledger_client import SweepLedger, SweepRecord
from settlement.lost_sweeps import LostSweepFinder
from settlement.signing import Refused, Signed, SweepSigner
from settlement.store import sweeps as store
from settlement.store.sweeps import ChainTx, Landed, Sweep

log = logging.getLogger("stablegate.settlement.sweeper")
REFUSALS = frozenset(
    {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.ALREADY_EXISTS}
)
"""Answers of the ledger that will not change by asking again (as opposed to UNAVAILABLE, DEADLINE_EXCEEDED)."""


@dataclass(frozen=True)
class SweeperOptions:
    """What the sweeper sweeps, with which key, and how it batches, prices and replaces."""

    chain_id: int
    key_id: str
    sweeper_address: str
    factory: str
    token: str
    batch_size: int
    budget: GasBudget
    fee_caps: FeeCaps
    gas_margin_percent: int = 20
    bump_percent: int = 12
    stuck_after_seconds: float = 60.0
    rebroadcast_seconds: float = 15.0
    max_in_flight: int = 4
    legacy_fees: bool = False
    failure_backoff_seconds: float = 300.0
    """After a sweep fails (signer refusal, revert, estimate), no new sweep is planned for this long."""


class SweeperMetrics:
    """Sweeps sent, recorded, held and replaced, on the service's registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        kwargs: dict[str, Any] = {"registry": registry}
        self.sent = Counter("settlement_sweeps_sent_total", "Sweep transactions signed and broadcast", **kwargs)
        self.recorded = Counter("settlement_sweeps_recorded_total", "Sweeps final and booked in the ledger", **kwargs)
        self.failed = Counter("settlement_sweeps_failed_total", "Sweeps that failed, by reason", ["reason"], **kwargs)
        self.replaced = Counter("settlement_sweep_replacements_total", "Fee-bumped replacements signed", **kwargs)
        self.held = Gauge("settlement_sweeps_held", "Sweeps waiting because their fee passes the cap", **kwargs)
        self.nonce_gaps = Gauge(
            "settlement_nonce_gaps", "Nonces found without a live transaction at recovery", **kwargs
        )


class Sweeper:
    """The sweeper's passes over its persisted state; see the module docstring."""

    def __init__(
        self,
        client: ChainClient,
        pool: asyncpg.Pool,
        signer: SweepSigner,
        ledger: SweepLedger,
        *,
        options: SweeperOptions,
        metrics: SweeperMetrics | None = None,
    ) -> None:
        self.client = client
        self.pool = pool
        self.signer = signer
        self.ledger = ledger
        self.options = options
        self.metrics = metrics or SweeperMetrics()
        self._recovered = False
        self._treasury: str | None = None
        self._flush = load_artifact("ForwarderFactory").function("flushBatch")
        self._lost = LostSweepFinder(
            client, ledger, chain_id=options.chain_id, token=options.token, sweeper_address=options.sweeper_address
        )

    # --- one pass -----------------------------------------------------------------------------------------------

    async def tick(self) -> None:
        """One pass: recover nonces (first pass of a leadership), track what is out, plan, send."""
        if not self._recovered:
            await self.recover()
        await self.track()
        await self.plan()
        await self.send()

    def lost_leadership(self) -> None:
        """The lease is gone: recover from the chain again before the next pass (another leader may have sent)."""
        self._recovered = False

    async def recover(self) -> int:
        """Set the key's next nonce from the chain and our rows; count gaps. Returns the next nonce."""
        address = self.options.sweeper_address
        recovered = await chain_io.recover_nonce(self.client, self.pool, self.options.chain_id, address)
        latest, pending, following = recovered.latest, recovered.pending, recovered.following
        async with self.pool.acquire() as conn:
            holes = await store.gaps(conn, self.options.chain_id, address, latest)
        self.metrics.nonce_gaps.set(len(holes))
        if holes:
            log.warning("nonce gaps: the next sweeps fill them", extra={"gaps": holes[:20], "latest": latest})
        await self._drop_superseded()
        log.info("nonces recovered", extra={"latest": latest, "pending": pending, "next_nonce": following})
        self._recovered = True
        return following

    async def _drop_superseded(self) -> None:
        """Drop waiting sweeps (nothing signed) whose deposits a transaction we hold no row of already emptied.

        After a restore from a backup, a sweep stored PLANNED or HELD may have been signed and sent by the lost
        gateway after the backup; sending it again would flush empty forwarders. Dropped, its deposits are free,
        and the next plan books the transaction that moved them (settlement/lost_sweeps.py).
        """
        async with self.pool.acquire() as conn:
            waiting = await store.sweeps_in(conn, self.options.chain_id, ("PLANNED", "HELD"))
        for sweep in waiting:
            for item in sweep.items:
                if item.amount <= 0:
                    continue
                held = await chain_io.token_balance(self.client, sweep.token_contract, item.deposit_address)
                if held < item.amount:
                    async with self.pool.acquire() as conn:
                        await store.set_status(conn, sweep.id, "DROPPED", failure="DEPOSITS_ALREADY_MOVED")
                    log.warning(
                        "a waiting sweep's deposit was already moved on chain; sweep dropped",
                        extra={"sweep_id": sweep.id, "deposit_address": item.deposit_address},
                    )
                    break

    # --- tracking -----------------------------------------------------------------------------------------------

    async def track(self) -> None:
        """Advance every sweep that is out (SENT or MINED), oldest nonce first."""
        async with self.pool.acquire() as conn:
            out = await store.sweeps_in(conn, self.options.chain_id, ("SENT", "MINED"))
        for sweep in out:
            try:
                if sweep.status == "SENT":
                    await self._track_sent(sweep)
                else:
                    await self._track_mined(sweep)
            except grpc.aio.AioRpcError as exc:
                if exc.code() not in REFUSALS:
                    raise
                # The ledger refused this sweep's booking: it needs an operator; the others go on meanwhile.
                self.metrics.failed.labels("RECORD_REFUSED").inc()
                log.error(
                    "the ledger refused to book a final sweep; retried every pass",
                    extra={"sweep_id": sweep.id, "code": exc.code().name, "detail": exc.details()},
                )

    async def _track_sent(self, sweep: Sweep) -> None:
        async with self.pool.acquire() as conn:
            versions = await store.versions(conn, sweep.id)
        for version in versions:
            if version.status == "SIGNING":
                await self._sign_and_broadcast(sweep, version)
        async with self.pool.acquire() as conn:
            every = await store.versions(conn, sweep.id)
        versions = [v for v in every if v.tx_hash is not None]
        if not versions:
            return
        if await self._find_receipt(sweep, versions):
            return
        assert sweep.nonce is not None
        latest = await chain_io.transaction_count(self.client, sweep.sweeper_address, "latest")
        if latest > sweep.nonce:
            # The nonce is used, yet no version of ours has a receipt: ask once more (a provider may have lagged),
            # then the sweep can never land.
            if await self._find_receipt(sweep, versions):
                return
            async with self.pool.acquire() as conn:
                await store.store_dropped(conn, sweep.id)
            self.metrics.failed.labels("NONCE_USED_ELSEWHERE").inc()
            log.warning("sweep dropped: its nonce went to another transaction", extra={"sweep_id": sweep.id})
            return
        newest = versions[-1]
        if newest.broadcast_count == 0 or newest.since_broadcast >= self.options.rebroadcast_seconds:
            await self._broadcast(newest)
        # A replacement the signer refused is not asked for again until another stuck period has passed; one still
        # unsigned (asked during a freeze) is asked for again above, never replaced by yet another.
        refused_lately = every[-1].status == "SIGNING" or (
            every[-1].status == "DENIED" and every[-1].since_created < self.options.stuck_after_seconds
        )
        if newest.broadcast_count > 0 and newest.age_seconds >= self.options.stuck_after_seconds and not refused_lately:
            await self._replace(sweep, newest)

    async def _find_receipt(self, sweep: Sweep, versions: list[ChainTx]) -> bool:
        for version in versions:
            assert version.tx_hash is not None
            found = await chain_io.receipt(self.client, version.tx_hash)
            if found is None:
                continue
            landed = Landed.from_receipt(version.tx_hash, found)
            async with self.pool.acquire() as conn:
                await store.store_mined(conn, sweep.id, landed)
            log.info(
                "sweep mined",
                extra={
                    "sweep_id": sweep.id,
                    "tx_hash": landed.tx_hash,
                    "block": landed.block_number,
                    "version": version.version,
                },
            )
            return True
        return False

    async def _replace(self, sweep: Sweep, stuck: ChainTx) -> None:
        """Sign the same call at the same nonce with fees at least `bump_percent` higher; keep every version."""
        quote = await estimate_fees(self.client, self.options.fee_caps)
        fees = bumped(stuck.fees, self._fees(quote), self.options.bump_percent)
        if fees.fee_cap > self.options.fee_caps.max_gas_price_wei:
            log.warning(
                "stuck sweep not replaced: the bump would pass the fee cap",
                extra={"sweep_id": sweep.id, "max_fee_per_gas": fees.fee_cap},
            )
            return
        async with self.pool.acquire() as conn:
            replacement = await store.start_replacement(conn, sweep, stuck, fees)
        self.metrics.replaced.inc()
        log.info(
            "replacing a stuck sweep",
            extra={
                "sweep_id": sweep.id,
                "nonce": stuck.nonce,
                "version": replacement.version,
                "max_fee_per_gas": fees.max_fee_per_gas,
            },
        )
        await self._sign_and_broadcast(sweep, replacement)

    async def _track_mined(self, sweep: Sweep) -> None:
        assert sweep.landed_tx_hash is not None
        assert sweep.block_number is not None
        found = await chain_io.receipt(self.client, sweep.landed_tx_hash)
        if found is None or str(found["blockHash"]).lower() != sweep.block_hash:
            async with self.pool.acquire() as conn:
                await store.store_unmined(conn, sweep.id)
            log.warning("sweep's block was reorged away; tracking it again", extra={"sweep_id": sweep.id})
            return
        finalized, _ = await chain_io.finalized_block(self.client)
        if sweep.block_number > finalized:
            return
        if await chain_io.canonical_hash(self.client, sweep.block_number) != sweep.block_hash:
            async with self.pool.acquire() as conn:
                await store.store_unmined(conn, sweep.id)
            return
        if int(found["status"], 16) != 1:
            async with self.pool.acquire() as conn:
                await store.set_status(conn, sweep.id, "FAILED", failure="REVERTED")
            self.metrics.failed.labels("REVERTED").inc()
            log.error("sweep reverted on chain; its deposits will be swept again", extra={"sweep_id": sweep.id})
            return
        treasury = await self.treasury()
        swept = swept_amounts(
            found.get("logs", []), sweep.token_contract, treasury, [d.deposit_address for d in sweep.items]
        )
        record = SweepRecord(
            sweep_id=sweep.id,
            chain_id=sweep.chain_id,
            tx_hash=sweep.landed_tx_hash,
            block_number=sweep.block_number,
            block_hash=str(sweep.block_hash),
            sweeper_address=sweep.sweeper_address,
            gas_used=int(found["gasUsed"], 16),
            effective_gas_price_wei=int(found.get("effectiveGasPrice") or "0x0", 16),
            swept=swept,
        )
        journal_id: str | None = None
        already = False
        if any(amount > 0 for amount in swept.values()):
            journal_id, already = await self.ledger.record_sweep(record)
        else:
            # A flush that moved only stray tokens: nothing of the ledger's asset to book.
            log.warning(
                "a sweep moved none of the token; nothing booked (its gas is not in the journal)",
                extra={"sweep_id": sweep.id, "gas_used": record.gas_used},
            )
        quarantined = await self._mark_quarantined(sweep, found.get("logs", []))
        async with self.pool.acquire() as conn:
            await store.store_recorded(conn, sweep.id, swept, journal_id, quarantined)
        self.metrics.recorded.inc()
        log.info(
            "sweep final and booked",
            extra={
                "sweep_id": sweep.id,
                "journal_transaction_id": journal_id,
                "already_recorded": already,
                "addresses": len(swept),
                "total": sum(swept.values()),
            },
        )

    async def _mark_quarantined(self, sweep: Sweep, logs: list[dict[str, Any]]) -> dict[str, int]:
        """Mark each stray of a final sweep quarantined in the ledger; what moved per stray id.

        `moved` is the factory's Quarantined log for the stray's address and token: the forwarder's whole balance
        of it (0 when nothing was left there).
        """
        assert sweep.landed_tx_hash is not None
        assert sweep.block_number is not None
        moved = quarantined_amounts(logs, sweep.factory_address)
        done: dict[str, int] = {}
        for q in sweep.quarantines:
            amount = moved.get((q.deposit_address.lower(), q.token_contract.lower()), 0)
            already = await self.ledger.mark_quarantined(
                stray_id=q.stray_id,
                chain_id=sweep.chain_id,
                tx_hash=sweep.landed_tx_hash,
                block_number=sweep.block_number,
                moved=amount,
            )
            done[q.stray_id] = amount
            log.info(
                "stray token quarantined",
                extra={"sweep_id": sweep.id, "stray_id": q.stray_id, "moved": amount, "already": already},
            )
        return done

    async def treasury(self) -> str:
        """The treasury the factory flushes into (read once from the factory)."""
        if self._treasury is None:
            self._treasury = await chain_io.call_address(self.client, self.options.factory, abi.selector("treasury()"))
        return self._treasury

    # --- planning and sending -------------------------------------------------------------------------------------

    async def plan(self) -> list[str]:
        """Persist new sweeps (PLANNED) for sweepable deposits not in an open sweep; their ids.

        Nothing new is planned while planned or held sweeps wait (they go first), nor for a while after a sweep
        failed: a refusal that will repeat (a policy that does not allow the key) is not asked again every pass.
        """
        async with self.pool.acquire() as conn:
            if await store.sweeps_in(conn, self.options.chain_id, ("PLANNED", "HELD")):
                return []
            since = await store.seconds_since_failure(conn, self.options.chain_id)
            if since is not None and since < self.options.failure_backoff_seconds:
                return []
            taken = await store.open_addresses(conn, self.options.chain_id)
            unavailable = await store.unavailable_strays(conn, self.options.chain_id)
        deposits = [
            d for d in await self.ledger.sweepable(self.options.chain_id) if d.deposit_address.lower() not in taken
        ]
        if deposits:
            # Never sweep twice: a deposit a sweep we hold no row of already moved (a restore from an older
            # backup) is booked from that sweep's receipt instead of planned again (settlement/lost_sweeps.py).
            deposits = (await self._lost.check(deposits, await self.treasury())).to_plan
        quarantines = [
            q
            for q in await self.ledger.requested_quarantines(self.options.chain_id)
            if q.stray_id not in unavailable
            and q.deposit_address.lower() not in taken
            # The configured token is never a stray (the signer and the factory refuse it); it goes to the treasury.
            and q.token_contract.lower() != self.options.token.lower()
        ]
        planned: list[str] = []
        for batch, strays in self._batches(deposits, quarantines):
            sweep_id = store.new_sweep_id()
            async with self.pool.acquire() as conn:
                await store.insert_sweep(
                    conn,
                    sweep_id=sweep_id,
                    chain_id=self.options.chain_id,
                    key_id=self.options.key_id,
                    sweeper_address=self.options.sweeper_address,
                    factory_address=self.options.factory,
                    token_contract=self.options.token,
                    items=batch,
                    quarantines=strays,
                )
            planned.append(sweep_id)
        if planned:
            log.info(
                "sweeps planned",
                extra={"sweeps": len(planned), "addresses": len(deposits), "strays": len(quarantines)},
            )
        return planned

    def _batches(
        self, deposits: list[Deposit], quarantines: list[Quarantine]
    ) -> list[tuple[tuple[Deposit, ...], tuple[Quarantine, ...]]]:
        """Deposits in batches; addresses holding a stray to quarantine in batches of their own, with their strays.

        An address with a stray and no sweepable deposit is flushed all the same (it moves the stray, and whatever
        of the token and BNB is there) under an item expecting 0.
        """
        with_strays: dict[str, Deposit] = {}
        sweepable = {d.deposit_address.lower(): d for d in deposits}
        for q in quarantines:
            address = q.deposit_address.lower()
            if address not in with_strays:
                with_strays[address] = sweepable.get(address) or Deposit(address, q.salt, q.invoice_id, 0)
        plain = [d for d in deposits if d.deposit_address.lower() not in with_strays]
        cut: list[tuple[tuple[Deposit, ...], tuple[Quarantine, ...]]] = [
            (batch, ()) for batch in batches(plain, self.options.batch_size, self.options.budget)
        ]
        for batch in batches(list(with_strays.values()), self.options.batch_size, self.options.budget):
            inside = {d.deposit_address.lower() for d in batch}
            cut.append((batch, tuple(q for q in quarantines if q.deposit_address.lower() in inside)))
        return cut

    def _fees(self, quote: FeeQuote) -> TxFees:
        if self.options.legacy_fees:
            return TxFees(quote.gas_price_wei, quote.gas_price_wei, legacy=True)
        return TxFees(quote.max_fee_per_gas_wei, quote.max_priority_fee_per_gas_wei)

    async def send(self) -> None:
        """Sign and broadcast planned (or held) sweeps, up to `max_in_flight` out at once."""
        async with self.pool.acquire() as conn:
            out = len(await store.sweeps_in(conn, self.options.chain_id, ("SENT", "MINED")))
            waiting = await store.sweeps_in(conn, self.options.chain_id, ("PLANNED", "HELD"))
        held = 0
        for index, sweep in enumerate(waiting):
            if out >= self.options.max_in_flight:
                break
            quote = await estimate_fees(self.client, self.options.fee_caps)
            if quote.over_cap:
                # Held, not signed: no nonce is taken, so nothing waits behind it. Later passes look again.
                rest = waiting[index:]
                held = len(rest)
                async with self.pool.acquire() as conn:
                    for waiting_sweep in rest:
                        await store.hold(conn, waiting_sweep.id, "FEE_OVER_CAP")
                log.info(
                    "sweeps held: the fee passes its cap",
                    extra={
                        "held": held,
                        "gas_price_wei": quote.gas_price_wei,
                        "cap_wei": self.options.fee_caps.max_gas_price_wei,
                    },
                )
                break
            if await self._send_one(sweep, self._fees(quote)):
                out += 1
        self.metrics.held.set(held)

    async def _send_one(self, sweep: Sweep, fees: TxFees) -> bool:
        salts = [bytes.fromhex(d.salt.removeprefix("0x")) for d in sweep.items]
        strays = stray_entries(sweep.items, sweep.quarantines)
        calldata = self._flush.calldata(
            (salts, [index for index, _token in strays], [abi.to_checksum_address(token) for _index, token in strays])
        )
        try:
            estimate = await chain_io.estimate_gas(self.client, sweep.sweeper_address, sweep.factory_address, calldata)
        except RpcError as exc:
            async with self.pool.acquire() as conn:
                await store.set_status(conn, sweep.id, "FAILED", failure=f"ESTIMATE_FAILED: {exc.rpc_message[:200]}")
            self.metrics.failed.labels("ESTIMATE_FAILED").inc()
            log.error("sweep would revert; not signed", extra={"sweep_id": sweep.id, "error": exc.rpc_message})
            return False
        limit = gas_limit(estimate, self.options.gas_margin_percent, self.options.budget)
        latest = await chain_io.transaction_count(self.client, sweep.sweeper_address, "latest")
        async with self.pool.acquire() as conn:
            tx = await store.start_sweep_transaction(conn, sweep, chain_latest=latest, gas_limit=limit, fees=fees)
        if tx is None:
            return False
        log.info(
            "sweep signing",
            extra={"sweep_id": sweep.id, "nonce": tx.nonce, "addresses": len(sweep.items), "gas_limit": limit},
        )
        return await self._sign_and_broadcast(sweep, tx)

    async def _sign_and_broadcast(self, sweep: Sweep, tx: ChainTx) -> bool:
        """Ask the signer for a stored request, store the bytes, then broadcast them. False when refused."""
        result = await self.signer.sign_sweep(
            request_id=tx.request_id,
            key_id=sweep.key_id,
            chain_id=sweep.chain_id,
            nonce=tx.nonce,
            gas_limit=tx.gas_limit,
            fees=tx.fees,
            factory=abi.to_checksum_address(sweep.factory_address),
            token=abi.to_checksum_address(sweep.token_contract),
            salts=[d.salt for d in sweep.items],
            strays=[
                (index, abi.to_checksum_address(token))
                for index, token in stray_entries(sweep.items, sweep.quarantines)
            ],
        )
        if isinstance(result, Refused) and result.frozen:
            # Not final: the version stays SIGNING with its nonce, the sweep SENT; each pass asks again (reading the
            # freeze state meanwhile) until the unfreeze signs this same request id.
            log.info("sweep waits: signing is frozen", extra={"sweep_id": sweep.id, "version": tx.version})
            return False
        if isinstance(result, Refused):
            async with self.pool.acquire() as conn, conn.transaction():
                await store.store_denied(conn, tx, f"{result.decision}:{result.reason}")
                if tx.version == 0:
                    await store.set_status(
                        conn, sweep.id, "FAILED", failure=f"SIGNER_{result.decision}:{result.reason}"
                    )
            self.metrics.failed.labels(f"SIGNER_{result.decision}").inc()
            log.error(
                "the signer refused a sweep",
                extra={
                    "sweep_id": sweep.id,
                    "version": tx.version,
                    "decision": result.decision,
                    "reason": result.reason,
                },
            )
            return False
        assert isinstance(result, Signed)
        async with self.pool.acquire() as conn:
            await store.store_signed(conn, tx.id, result.raw_transaction, result.tx_hash)
            stored = next(v for v in await store.versions(conn, sweep.id) if v.id == tx.id)
        await self._broadcast(stored)
        if tx.version == 0:
            self.metrics.sent.inc()
        return True

    async def _broadcast(self, tx: ChainTx) -> None:
        assert tx.raw_transaction is not None
        outcome = await chain_io.broadcast(self.client, tx.raw_transaction)
        if outcome.reached:
            async with self.pool.acquire() as conn:
                await store.mark_broadcast(conn, tx.id)
        else:
            log.warning(
                "no provider took the sweep transaction; it is rebroadcast next pass",
                extra={"tx_hash": tx.tx_hash, "failed": outcome.failed},
            )

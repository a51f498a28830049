"""The scan: follow the head, find transfers to deposit addresses, notice reorgs, report finality.

One `tick` does, in order:
1. reads the ledger's address feed (new deposit addresses), and looks back over recently scanned blocks for
   transfers to the new ones (an invoice made while its block was being scanned is not missed);
2. reads the best head among the providers and the `finalized` block (or head minus the fallback depth);
3. checks the unfinalized blocks it scanned: if the one at the top no longer has the hash it had, walks down
   to the fork, reports every transfer seen above it as REORGED, and rescans from there;
4. scans forward from the cursor in chunks (`eth_getLogs`; a refused range halves the chunk, success grows it
   back): the configured token's Transfer logs (one query, matched in memory against addresses inside their
   monitoring window and those retained after it, `watcher/watchset.py`), and any token's Transfer logs to
   addresses inside their window; for blocks
   above the finalized one it reads every header and checks the parent-hash chain and each log's block hash,
   so a provider's inconsistent answer stops the tick instead of entering the books;
5. reads the finalized block again (a long pass may end well after it moved) and reports it to the ledger,
   with the canonical hashes of the scanned blocks below it, if the scan checked it (or everything scanned, if
   the finalized block is past the scan).

A chunk's transfers go to the ledger in batches (`RecordTransferObservations`, `LedgerReporter.batch_size` per
call, each batch one ledger transaction), in block and log order.

Transfers in blocks at or below the finalized block are reported FINAL at once; above it, SEEN. Reports come
before the cursor moves, and the ledger is idempotent, so a crash anywhere repeats work and loses nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

import asyncpg

from chain.abi import keccak256
from chain.client import ChainClient, RangeTooLarge, RpcError
from chain.types import (
    TRANSFER_TOPIC,
    BlockHeader,
    TransferLog,
    address_topic,
    parse_block,
    parse_transfer_logs,
    quantity,
)
from watcher.metrics import WatcherMetrics
from watcher.reporter import LedgerReporter
from watcher.store import state
from watcher.store.state import Observed
from watcher.watchset import WatchSet

log = logging.getLogger("stablegate.watcher.scanner")


class InconsistentChain(Exception):
    """A provider's answers do not fit together (a block's parent, a log's block hash): retry the tick."""


class MisconfiguredChain(InconsistentChain):
    """The chain does not hold what the configuration names (the token is no contract there)."""


def _balance(value: object) -> int:
    return quantity(value, "eth_getBalance")


def _hex_data(value: object) -> str:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise ValueError("eth_getCode: not hex data")
    return value


@dataclass(frozen=True)
class ScanOptions:
    """What to scan and how."""

    chain_id: int
    token: str
    """The configured token's contract, lowercase."""
    token_decimals: int | None = None
    """The token's pinned decimals, checked against `decimals()` on chain before the first scan (None: unchecked)."""
    finality_depth: int = 0
    """0: use the node's `finalized` block; N: head minus N where the node has no finality tag."""
    start_block: int | None = None
    """First block to scan on a fresh database; None: from the finalized block at first start."""
    max_range: int = 2000
    min_range: int = 1
    lookback_blocks: int = 1000
    """How far back new deposit addresses are looked for in already-scanned blocks (about 7.5 min of BSC
    blocks: an address the feed delivers late, behind a long transaction elsewhere, is still found)."""
    address_batch: int = 200
    """Watched addresses per topic filter when looking for other tokens' transfers."""
    lag_alert_blocks: int = 50
    factory: str | None = None
    """The forwarder factory, lowercase, checked for code at start like the token (None: not checked)."""
    native_check_seconds: float = 30.0
    """How often watched addresses' native balances are compared at the finalized block; 0: never."""
    retention: dt.timedelta = dt.timedelta(days=30)
    """How long after its monitoring window an address is still watched for the configured token (transfers
    then are held unallocated by the ledger); 0: not after the window."""


@dataclass
class ScanStatus:
    """The last tick's view, for GetStatus and metrics."""

    head: int = 0
    finalized: int = 0
    scanned: int = 0
    watched: int = 0
    reorgs: int = 0
    finality_tag: bool = True
    update_time: dt.datetime | None = None


@dataclass
class Scanner:
    """One chain's scan (run by the lease holder only)."""

    client: ChainClient
    pool: asyncpg.Pool
    reporter: LedgerReporter
    options: ScanOptions
    metrics: WatcherMetrics
    now: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.UTC))
    status: ScanStatus = field(default_factory=ScanStatus)
    _chunk: int = 0
    _watch: WatchSet | None = None
    _feed_cursor: str | None = None
    """The feed cursor this scanner last wrote: another one in the database means another replica held the
    lease meanwhile, and the watch set is read again from the database."""
    _token_checked: bool = False
    _native_checked_at: float = 0.0

    async def tick(self) -> None:
        """One pass: feed, head and finality, reorg check, forward scan, finality report."""
        chain = self.options.chain_id
        head = await self.client.head()
        if not self._token_checked:
            await self._check_token()
        finalized = await self._finalized(head)
        async with self.pool.acquire() as conn:
            start = self.options.start_block - 1 if self.options.start_block is not None else finalized.number
            cursor = await state.cursor(conn, chain, max(0, start))
        if head < cursor.scanned_number:
            # Every provider that answered is behind blocks already scanned: wait for one that is not.
            raise InconsistentChain(f"the providers' best head {head} is behind the scan at {cursor.scanned_number}")
        await self._sync_addresses(cursor)
        await self._check_reorg()
        async with self.pool.acquire() as conn:
            cursor = await state.cursor(conn, chain, 0)
        await self._scan(cursor.scanned_number, head, finalized)
        # A long pass (a burst of transfers) may end well after the finalized block read at its start moved on:
        # read it again, so the blocks scanned meanwhile are credited now rather than a whole pass later.
        # `_report_finality` still reports only a block the scan has checked (its hash is the one scanned).
        latest = await self._finalized(await self.client.head())
        await self._report_finality(latest if latest.number > finalized.number else finalized)
        async with self.pool.acquire() as conn:
            cursor = await state.cursor(conn, chain, 0)
        self.status.head, self.status.finalized, self.status.scanned = head, finalized.number, cursor.scanned_number
        self.status.watched, self.status.update_time = len(self.watch), self.now()
        self.metrics.observe_tick(head, finalized.number, cursor.scanned_number, self.options.lag_alert_blocks)

    async def _check_token(self) -> None:
        """Refuse to scan when the token (or the factory, if configured) is no contract on this chain."""
        named = {"token": (self.options.token, "TOKEN_CONTRACT")}
        if self.options.factory is not None:
            named["forwarder factory"] = (self.options.factory, "FORWARDER_FACTORY")
        for what, (address, variable) in named.items():
            code = await self.client.call("eth_getCode", [address, "latest"], _hex_data)
            if code in ("0x", ""):
                raise MisconfiguredChain(
                    f"the configured {what} {address} has no code on chain {self.options.chain_id}: check "
                    f"STABLEGATE_WATCHER_{variable} and the providers (a wrong address or the wrong chain)"
                )
        if self.options.token_decimals is not None:
            raw = await self.client.call(
                "eth_call", [{"to": self.options.token, "data": "0x313ce567"}, "latest"], _hex_data
            )
            on_chain = int(raw, 16) if raw not in ("0x", "") else None
            if on_chain != self.options.token_decimals:
                raise MisconfiguredChain(
                    f"the token {self.options.token} has {on_chain} decimals on chain {self.options.chain_id}, "
                    f"but {self.options.token_decimals} are pinned (STABLEGATE_WATCHER_TOKEN_DECIMALS, the "
                    "ledger's TOKEN_DECIMALS, the network profile): amounts would be off by a power of ten"
                )
        self._token_checked = True

    # -- the watch set -----------------------------------------------------------------------------------

    @property
    def watch(self) -> WatchSet:
        """The addresses watched: active (every asset) and retained after their window (the token only)."""
        if self._watch is None:
            self._watch = WatchSet(self.options.retention)
        return self._watch

    async def _sync_addresses(self, cursor: state.Cursor) -> None:
        chain, feed_cursor, new = self.options.chain_id, cursor.feed_cursor, []
        watch = self.watch
        if self._feed_cursor != feed_cursor:
            # First pass, or another replica moved the feed while this one did not hold the lease: the whole set
            # from the database (otherwise it is kept in memory: the feed adds, time moves and drops).
            async with self.pool.acquire() as conn:
                watch.load(await state.watched(conn, chain, self.now(), watch.retention), self.now())
            self._feed_cursor = feed_cursor
        while True:
            page = await self.reporter.feed(feed_cursor)
            async with self.pool.acquire() as conn, conn.transaction():
                await state.add_addresses(conn, chain, page.addresses)
                await state.set_feed_cursor(conn, chain, page.next_cursor)
            self._feed_cursor = page.next_cursor
            now = self.now()
            fresh = [(a.lower(), until) for a, _, until in page.addresses if watch.watched_at(until, now)]
            watch.add(fresh, now)
            new += [a for a, _ in fresh]
            feed_cursor = page.next_cursor
            if page.caught_up:
                break
        watch.advance(self.now())
        if new and cursor.scanned_number > 0:
            # Blocks already scanned may hold a payment to an address made while they were being scanned.
            low = max(1, cursor.scanned_number - self.options.lookback_blocks + 1)
            logs = await self._logs_to_in_chunks(low, cursor.scanned_number, new)
            # Past its window an address is watched for the configured token only (as in the forward scan).
            logs = [t for t in logs if t.token == self.options.token or watch.is_active(t.to_address)]
            async with self.pool.acquire() as conn:
                known = {h.number: h.hash for h in await state.headers(conn, chain)}
                last_final = (await state.cursor(conn, chain, 0)).finalized_number
            # A log above the finalized block not on the chain the scan followed is left to the reorg check.
            kept = [t for t in logs if t.block_number <= last_final or known.get(t.block_number) == t.block_hash]
            await self._report_all(kept, lambda t: "FINAL" if t.block_number <= last_final else "SEEN")

    async def _logs_to_in_chunks(self, low: int, high: int, addresses: list[str]) -> list[TransferLog]:
        """`_logs_to` over a range in chunks the providers accept (a refused range halves the chunk)."""
        found: list[TransferLog] = []
        chunk = self._chunk or self.options.max_range
        start = low
        while start <= high:
            end = min(high, start + chunk - 1)
            try:
                found += await self._logs_to(start, end, addresses, tokens=None)
            except RangeTooLarge:
                if chunk <= self.options.min_range:
                    raise
                chunk = max(self.options.min_range, chunk // 2)
                continue
            start = end + 1
        return found

    # -- head and finality -------------------------------------------------------------------------------

    async def _finalized(self, head: int) -> BlockHeader:
        depth = self.options.finality_depth
        if depth == 0:
            try:
                block = await self.client.call("eth_getBlockByNumber", ["finalized", False], parse_block)
                self.status.finality_tag = True
                if block is not None:
                    return block  # type: ignore[no-any-return]
            except RpcError:
                self.status.finality_tag = False
            depth = 15  # a node without the tag: fall back to a depth, and say so in the status
        return await self._block(max(0, head - depth))

    async def _block(self, number: int) -> BlockHeader:
        block = await self.client.call("eth_getBlockByNumber", [hex(number), False], parse_block, min_head=number)
        if block is None:
            raise InconsistentChain(f"no provider has block {number} although the head is past it")
        return block  # type: ignore[no-any-return]

    # -- reorgs ------------------------------------------------------------------------------------------

    async def _check_reorg(self) -> None:
        chain = self.options.chain_id
        async with self.pool.acquire() as conn:
            tracked = await state.headers(conn, chain)
        if not tracked:
            return
        fork: int | None = None
        for header in reversed(tracked):
            current = await self.client.call(
                "eth_getBlockByNumber", [hex(header.number), False], parse_block, min_head=header.number
            )
            if current is not None and current.hash == header.hash:
                break  # a block's hash commits to everything below it
            fork = header.number
        if fork is None:
            return
        self.status.reorgs += 1
        self.metrics.reorgs.inc()
        async with self.pool.acquire() as conn:
            lost = await state.seen_from(conn, chain, fork)
            below = [h for h in tracked if h.number < fork]
        log.warning("reorg", extra={"chainId": chain, "forkBlock": fork, "lostTransfers": len(lost)})
        reported = await self.reporter.transfers([(observed, "REORGED", None) for observed in lost])
        async with self.pool.acquire() as conn, conn.transaction():
            for observed, outcome in zip(lost, reported, strict=True):
                await state.record(conn, chain, observed, "REORGED")
                await state.set_outcome(conn, chain, observed, outcome)
        async with self.pool.acquire() as conn, conn.transaction():
            await state.drop_headers(conn, chain, from_number=fork)
            await state.set_scanned(conn, chain, fork - 1, below[-1].hash if below else None)

    # -- the forward scan --------------------------------------------------------------------------------

    async def _scan(self, scanned: int, head: int, finalized: BlockHeader) -> None:
        chain = self.options.chain_id
        if not self._chunk:
            self._chunk = self.options.max_range
        async with self.pool.acquire() as conn:
            tracked = {h.number: h for h in await state.headers(conn, chain)}
        start = scanned + 1
        # Transfers at or below this block are reported FINAL: the finalized block, or a later one it reached
        # while a long chunk was being reported (`moved_on`).
        final_upto = finalized.number

        def finality_of(item: TransferLog) -> str:
            return "FINAL" if item.block_number <= final_upto else "SEEN"

        while start <= head:
            end = min(head, start + self._chunk - 1)
            try:
                logs = await self._logs(start, end)
            except RangeTooLarge:
                if self._chunk <= self.options.min_range:
                    raise
                self._chunk = max(self.options.min_range, self._chunk // 2)
                self.metrics.range_shrunk.inc()
                continue
            headers = await self._headers(start, end, finalized.number, tracked)
            for item in logs:
                if item.block_number > finalized.number and headers[item.block_number].hash != item.block_hash:
                    raise InconsistentChain(f"a log's block hash is not block {item.block_number}'s: retrying")
            ordered = sorted(logs, key=lambda x: (x.block_number, x.log_index))

            async def moved_on(end: int = end, headers: dict[int, BlockHeader] = headers) -> None:
                # Between batches of a long chunk: if the chain finalized blocks of this chunk meanwhile, and the
                # final chain holds the very block this scan checked at that height (so every checked block
                # below it is canonical under it), the rest of their transfers are reported FINAL at once.
                nonlocal final_upto
                latest = await self._finalized(await self.client.head())
                top = min(latest.number, end)
                if top <= final_upto:
                    return
                checked = headers.get(top) or tracked.get(top)
                final = latest if latest.number == top else await self._block(top)
                if checked is not None and checked.hash == final.hash:
                    final_upto = top

            await self._report_all(ordered, finality_of, headers, moved_on)
            end_hash = headers[end].hash if end in headers else None
            async with self.pool.acquire() as conn, conn.transaction():
                await state.put_headers(conn, chain, [h for n, h in headers.items() if n > finalized.number])
                await state.set_scanned(conn, chain, end, end_hash)
            tracked.update({n: h for n, h in headers.items() if n > finalized.number})
            self.metrics.scanned_blocks.inc(end - start + 1)
            start = end + 1
            self._chunk = min(self.options.max_range, self._chunk * 2)

    async def _headers(
        self, start: int, end: int, finalized: int, tracked: dict[int, BlockHeader]
    ) -> dict[int, BlockHeader]:
        """Headers of the unfinalized blocks in [start, end], checked to chain onto what was scanned before."""
        found: dict[int, BlockHeader] = {}
        for number in range(max(start, finalized + 1), end + 1):
            block = await self._block(number)
            parent = found.get(number - 1) or tracked.get(number - 1)
            if parent is not None and block.parent_hash != parent.hash:
                raise InconsistentChain(f"block {number} does not build on the block {number - 1} scanned")
            found[number] = block
        return found

    async def _logs(self, start: int, end: int) -> list[TransferLog]:
        # One query for the configured token's transfers, matched here against active and retained addresses (so
        # a retained address costs no call); one per `address_batch` active addresses for any other token.
        token_logs = await self._get_logs({"address": self.options.token, "topics": [TRANSFER_TOPIC]}, start, end)
        matched = [t for t in token_logs if self.watch.matches(t.to_address) and not t.removed]
        self.metrics.matched.inc(len(matched))
        strays = await self._logs_to(start, end, sorted(self.watch.active), tokens="others")
        return matched + strays

    async def _logs_to(
        self, start: int, end: int, addresses: Iterable[str], *, tokens: str | None
    ) -> list[TransferLog]:
        """Transfer logs of any token to these addresses (`tokens="others"`: all but the configured token)."""
        found: list[TransferLog] = []
        batch: list[str] = []
        for addr in [*addresses, None]:
            if addr is not None:
                batch.append(addr)
            if batch and (addr is None or len(batch) >= self.options.address_batch):
                topics = [TRANSFER_TOPIC, None, [address_topic(a) for a in batch]]
                found += await self._get_logs({"topics": topics}, start, end)
                batch = []
        if tokens == "others":
            found = [t for t in found if t.token != self.options.token]
        return [t for t in found if not t.removed]

    async def _get_logs(self, query: dict[str, object], start: int, end: int) -> list[TransferLog]:
        params = [{**query, "fromBlock": hex(start), "toBlock": hex(end)}]
        # Only a provider known to have block `end` may say there are no logs up to it.
        logs: list[TransferLog] = await self.client.call("eth_getLogs", params, parse_transfer_logs, min_head=end)
        for item in logs:
            if not start <= item.block_number <= end:
                raise InconsistentChain(f"a log of block {item.block_number} came back for {start}..{end}")
        return logs

    async def _report_all(
        self,
        items: list[TransferLog],
        finality_of: Callable[[TransferLog], str],
        headers: dict[int, BlockHeader] | None = None,
        refresh: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Report transfers a batch at a time: store each batch's observations, report them, store the outcomes.

        `refresh`, awaited before every batch after the first, may move what `finality_of` answers (the
        finalized block read again during a long report).
        """
        chain = self.options.chain_id
        size = max(1, self.reporter.batch_size)
        for start in range(0, len(items), size):
            if start and refresh is not None:
                await refresh()
            observed = [
                (
                    Observed(
                        tx_hash=item.tx_hash,
                        log_index=item.log_index,
                        block_hash=item.block_hash,
                        block_number=item.block_number,
                        asset="TOKEN" if item.token == self.options.token else "OTHER_TOKEN",
                        token=item.token,
                        from_address=item.from_address,
                        to_address=item.to_address,
                        amount=item.amount,
                    ),
                    finality_of(item),
                )
                for item in items[start : start + size]
            ]
            async with self.pool.acquire() as conn:
                await state.record_many(conn, chain, observed)
            known = headers or {}
            reported = await self.reporter.transfers(
                [
                    (obs, finality, known[obs.block_number].timestamp if obs.block_number in known else None)
                    for obs, finality in observed
                ]
            )
            outcomes = list(zip((obs for obs, _ in observed), reported, strict=True))
            for (obs, finality), outcome in zip(observed, reported, strict=True):
                self.metrics.reported.labels(obs.asset, finality, outcome).inc()
            async with self.pool.acquire() as conn:
                await state.set_outcomes(conn, chain, outcomes)

    # -- native BNB ----------------------------------------------------------------------------------------

    async def _check_native(self, anchor: BlockHeader) -> None:
        """Report native BNB that reached watched addresses, by balance rises at a finalized block.

        No log shows BNB sent by a contract's internal call, so balances are compared (every
        `native_check_seconds`); a rise is reported FINAL as NATIVE, with an id derived from the address and the
        block, and the ledger records it without crediting it.
        """
        interval = self.options.native_check_seconds
        active = self.watch.active  # native BNB is looked for inside the monitoring window only
        if interval <= 0 or not active or time.monotonic() - self._native_checked_at < interval:
            return
        chain = self.options.chain_id
        async with self.pool.acquire() as conn:
            known = await state.native_balances(conn, chain)
        current: dict[str, int] = {}
        for address in sorted(active):
            current[address] = await self.client.call(
                "eth_getBalance", [address, hex(anchor.number)], _balance, min_head=anchor.number
            )
        rises = [
            Observed(
                tx_hash="0x" + keccak256(f"native:{address}:{anchor.hash}".encode()).hex(),
                log_index=0,
                block_hash=anchor.hash,
                block_number=anchor.number,
                asset="NATIVE",
                token="",
                from_address="",
                to_address=address,
                amount=balance - known.get(address, 0),
            )
            for address, balance in current.items()
            if balance > known.get(address, 0)
        ]
        if rises:
            async with self.pool.acquire() as conn:
                await state.record_many(conn, chain, [(r, "FINAL") for r in rises])
            reported = await self.reporter.transfers([(rise, "FINAL", None) for rise in rises])
            outcomes = list(zip(rises, reported, strict=True))
            for _rise, outcome in outcomes:
                self.metrics.reported.labels("NATIVE", "FINAL", outcome).inc()
            async with self.pool.acquire() as conn:
                await state.set_outcomes(conn, chain, outcomes)
        async with self.pool.acquire() as conn:
            await state.set_native_balances(conn, chain, anchor.number, current)
        self._native_checked_at = time.monotonic()

    # -- finality ----------------------------------------------------------------------------------------

    async def _report_finality(self, finalized: BlockHeader) -> None:
        chain = self.options.chain_id
        async with self.pool.acquire() as conn:
            cursor = await state.cursor(conn, chain, 0)
            tracked = await state.headers(conn, chain)
        if cursor.scanned_number == 0:
            return
        if finalized.number <= cursor.scanned_number:
            anchor = finalized
            by_number = {h.number: h for h in tracked}
            if finalized.number in by_number and by_number[finalized.number].hash != finalized.hash:
                return  # the scan followed another fork: the next tick's reorg check settles it first
        else:
            anchor = await self._block(cursor.scanned_number)  # everything scanned is final already
            by_number = {h.number: h for h in tracked}
            if anchor.number in by_number and by_number[anchor.number].hash != anchor.hash:
                return  # the block scanned at that height is not the final one: the reorg check settles it first
        if anchor.number <= cursor.finalized_number:
            return
        canonical = [(h.number, h.hash) for h in tracked if h.number < anchor.number]
        reply = await self.reporter.finality(anchor.number, anchor.hash, canonical)
        async with self.pool.acquire() as conn, conn.transaction():
            await state.finalize_seen(conn, chain, anchor.number)
            await state.drop_headers(conn, chain, below=anchor.number)
            await state.set_finalized(conn, chain, anchor.number)
        await self._check_native(anchor)
        log.info(
            "finality reported",
            extra={"chainId": chain, "finalizedBlock": anchor.number, "credited": reply.credited_payment_count},
        )

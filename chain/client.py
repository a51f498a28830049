"""A fault-tolerant JSON-RPC client over several providers, shared by the watcher and settlement.

Each provider sits behind its own circuit breaker (pybreaker): timeouts, transport errors, HTTP errors, rate
limits (429) and garbage (not JSON-RPC, the wrong id, no result) count against it, and an open breaker takes it
out of rotation until its reset timeout lets one trial call through (or until every other provider has failed a
call, which then gives it a trial rather than fail). A call tries the providers in order,
skipping open breakers and providers whose head has fallen behind the others, and goes round again with
exponential backoff and jitter. JSON-RPC errors that are the caller's (a refused range, invalid params) are not
the provider's fault: they pass straight up and do not trip the breaker. A provider's answer is never trusted
for what it cannot prove: the watcher reads blocks by hash and checks parent hashes itself.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiohttp
import pybreaker
from prometheus_client import CollectorRegistry, Counter, Gauge

from chain.types import quantity

_RANGE_REFUSAL = re.compile(
    r"block range|range (is )?too (large|wide|big)|query returned more than|too many (blocks|results|logs)"
    r"|limit exceeded|exceed(s|ed)? .*(range|limit)",
    re.IGNORECASE,
)
BREAKER_STATE = {"closed": 0, "half-open": 1, "open": 2}
T = TypeVar("T")


class ChainError(Exception):
    """Something went wrong reading the chain; the message says what."""


class RpcError(ChainError):
    """A JSON-RPC error object returned by a provider (the request's fault, not the provider's)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"JSON-RPC error {code}: {message}")
        self.code = code
        self.rpc_message = message


class RangeTooLarge(RpcError):
    """The provider refuses a block range this wide: ask again for a smaller one."""


class ProviderFailure(ChainError):
    """The provider did not answer usefully (timeout, transport, HTTP status, rate limit, garbage)."""


class NoProviderAvailable(ChainError):
    """Every provider failed, is lagging, or has its breaker open, for every attempt."""


def redact(url: str) -> str:
    """A provider's URL fit for logs and metric labels: scheme, host and port only (API keys live in paths)."""
    match = re.match(r"^(https?://)(?:[^@/]*@)?([^/?#]+)", url)
    return (match.group(1) + match.group(2)) if match else "provider"


@dataclass
class Provider:
    """One JSON-RPC endpoint with its breaker and the head it last reported."""

    url: str
    name: str
    breaker: pybreaker.CircuitBreaker
    head: int | None = None
    lagging: bool = False


class ChainMetrics:
    """Per-provider request outcomes and breaker state, on the service's registry."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        kwargs: dict[str, Any] = {"registry": registry}
        self.requests = Counter(
            "chain_rpc_requests_total", "JSON-RPC requests by provider and outcome", ["provider", "outcome"], **kwargs
        )
        self.breaker_state = Gauge(
            "chain_rpc_breaker_state",
            "Circuit breaker per provider: 0 closed, 1 half-open, 2 open",
            ["provider"],
            **kwargs,
        )
        self.breaker_opened = Counter(
            "chain_rpc_breaker_opened_total", "Times a provider's breaker opened", ["provider"], **kwargs
        )
        self.lagging = Gauge(
            "chain_rpc_provider_lagging",
            "1 while a provider's head is set aside as behind the others",
            ["provider"],
            **kwargs,
        )


class _BreakerMetrics(pybreaker.CircuitBreakerListener):
    def __init__(self, metrics: ChainMetrics, provider: str) -> None:
        self.metrics = metrics
        self.provider = provider

    def state_change(self, cb: pybreaker.CircuitBreaker, old_state: Any, new_state: Any) -> None:
        self.metrics.breaker_state.labels(self.provider).set(BREAKER_STATE.get(new_state.name, 0))
        if new_state.name == "open":
            self.metrics.breaker_opened.labels(self.provider).inc()


@dataclass(frozen=True)
class ClientOptions:
    """How hard the client tries and when it gives up on a provider."""

    timeout_seconds: float = 5.0
    rounds: int = 4
    """Passes over the providers before a call fails."""
    backoff_seconds: float = 0.2
    """First wait between passes; doubles each pass, with full jitter."""
    max_backoff_seconds: float = 5.0
    fail_max: int = 3
    """Consecutive failures that open a provider's breaker."""
    reset_timeout_seconds: float = 10.0
    """How long an open breaker keeps a provider out before one trial call."""
    max_head_lag_blocks: int = 8
    """A provider whose head is this far behind the best one is set aside for reads."""


@dataclass
class ChainClient:
    """JSON-RPC over several providers with breakers, failover, retries and lag detection."""

    urls: Sequence[str]
    options: ClientOptions = field(default_factory=ClientOptions)
    registry: CollectorRegistry | None = None
    rng: Callable[[], float] = random.random
    providers: list[Provider] = field(init=False)
    _session: aiohttp.ClientSession | None = field(default=None, init=False, repr=False)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1), init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.urls:
            raise ValueError("a chain client needs at least one provider URL")
        self.metrics = ChainMetrics(self.registry)
        self.providers = []
        for index, url in enumerate(self.urls):
            name = f"{index}:{redact(url)}"
            breaker = pybreaker.CircuitBreaker(
                fail_max=self.options.fail_max,
                reset_timeout=self.options.reset_timeout_seconds,
                exclude=[RpcError],
                listeners=[_BreakerMetrics(self.metrics, name)],
                name=name,
            )
            self.metrics.breaker_state.labels(name).set(0)
            self.metrics.lagging.labels(name).set(0)
            self.providers.append(Provider(url, name, breaker))

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            timeout = aiohttp.ClientTimeout(total=self.options.timeout_seconds)
            self._session = aiohttp.ClientSession(timeout=timeout, raise_for_status=False)
        return self._session

    async def call(
        self,
        method: str,
        params: list[Any] | None = None,
        parse: Callable[[Any], T] | None = None,
        *,
        min_head: int | None = None,
    ) -> Any:
        """The result of a JSON-RPC call from the first provider that answers usefully.

        `parse` checks and converts the result; a ValueError from it is the provider's fault (garbage), so the
        next provider is asked. `min_head` skips providers last seen below that block: a provider behind the
        range asked for would answer "no logs" for blocks it does not have yet. Raises RangeTooLarge / RpcError
        for the caller's own errors, NoProviderAvailable when every provider failed in every round.
        """
        last: Exception | None = None
        for round_ in range(self.options.rounds):
            for provider in self._candidates():
                if min_head is not None and provider.head is not None and provider.head < min_head:
                    continue
                try:
                    return await self._call_one(provider, method, params or [], parse)
                except RpcError:
                    raise
                except (ProviderFailure, pybreaker.CircuitBreakerError) as exc:
                    last = exc
            if round_ < self.options.rounds - 1:
                cap = min(self.options.max_backoff_seconds, self.options.backoff_seconds * 2**round_)
                await asyncio.sleep(cap * self.rng())
                # Every provider that was allowed failed: rather than fail the call, give the providers whose
                # breakers are open one trial each (a failed trial opens the breaker again at once).
                for provider in self.providers:
                    if provider.breaker.current_state == "open":
                        provider.breaker.half_open()
        if last is None and min_head is not None:
            heads = ", ".join(f"{p.name} at {p.head}" for p in self.providers)
            raise NoProviderAvailable(f"no provider has reached block {min_head} for {method} ({heads})")
        raise NoProviderAvailable(
            f"no provider answered {method} after {self.options.rounds} rounds"
            + (f"; last: {last}" if last is not None else "")
        )

    async def call_each(self, method: str, params: list[Any]) -> list[tuple[str, Any]]:
        """The same call to every provider at once (a broadcast): (provider name, its result or its ChainError).

        Nothing is retried and nothing raised: the caller judges each answer (a node that already knows a
        transaction answers with an error that is no failure). An open breaker answers ProviderFailure.
        """

        async def one(provider: Provider) -> tuple[str, Any]:
            try:
                return provider.name, await self._call_one(provider, method, params)
            except ChainError as exc:
                return provider.name, exc
            except pybreaker.CircuitBreakerError:
                return provider.name, ProviderFailure(f"{provider.name}: breaker open")

        return list(await asyncio.gather(*(one(p) for p in self.providers)))

    def _candidates(self) -> list[Provider]:
        """Providers to try, in configured order: closed breakers first, lagging ones last (never dropped)."""
        ready = [p for p in self.providers if p.breaker.current_state != "open" and not p.lagging]
        behind = [p for p in self.providers if p.breaker.current_state != "open" and p.lagging]
        # An open breaker still gets its trial once its timeout passes: pybreaker moves it to half-open on call.
        opened = [p for p in self.providers if p.breaker.current_state == "open"]
        return ready + behind + opened

    async def _call_one(
        self, provider: Provider, method: str, params: list[Any], parse: Callable[[Any], Any] | None = None
    ) -> Any:
        with provider.breaker.calling():
            try:
                result = await self._post(provider, method, params)
                if parse is not None:
                    try:
                        result = parse(result)
                    except (ValueError, TypeError, KeyError) as exc:
                        raise ProviderFailure(f"{provider.name} answered {method} with garbage: {exc}") from None
            except RpcError:
                self.metrics.requests.labels(provider.name, "rpc_error").inc()
                raise
            except ProviderFailure:
                self.metrics.requests.labels(provider.name, "failure").inc()
                raise
        self.metrics.requests.labels(provider.name, "ok").inc()
        return result

    async def _post(self, provider: Provider, method: str, params: list[Any]) -> Any:
        request_id = next(self._ids)
        body = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
        try:
            async with self._http().post(provider.url, json=body) as resp:
                if resp.status == 429:
                    raise ProviderFailure(f"{provider.name} rate-limited the call (429)")
                if resp.status >= 400:
                    raise ProviderFailure(f"{provider.name} answered HTTP {resp.status}")
                raw = await resp.read()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise ProviderFailure(f"{provider.name}: {type(exc).__name__}") from None
        try:
            reply = json.loads(raw)
        except ValueError:
            raise ProviderFailure(f"{provider.name} answered something that is not JSON") from None
        if not isinstance(reply, dict) or reply.get("jsonrpc") != "2.0" or reply.get("id") != request_id:
            raise ProviderFailure(f"{provider.name} answered something that is not a JSON-RPC reply to this call")
        if "error" in reply:
            error = reply["error"] if isinstance(reply["error"], dict) else {}
            code, message = int(error.get("code", 0) or 0), str(error.get("message", ""))
            if _RANGE_REFUSAL.search(message) or code == -32005:
                raise RangeTooLarge(code, message)
            if code in (-32603, -32000) and not message:
                raise ProviderFailure(f"{provider.name} failed internally")
            raise RpcError(code, message)
        if "result" not in reply:
            raise ProviderFailure(f"{provider.name} answered with neither result nor error")
        return reply["result"]

    async def head(self) -> int:
        """The best head among providers; those more than `max_head_lag_blocks` behind are set aside."""
        heads: dict[str, int] = {}

        async def ask(provider: Provider) -> None:
            try:
                heads[provider.name] = await self._call_one(provider, "eth_blockNumber", [], _block_number)
            except (ChainError, pybreaker.CircuitBreakerError):
                return

        # Every provider is asked, open breakers too: once its reset timeout has passed, this is its trial call
        # (before that the breaker refuses at once), so a provider that recovered rejoins without waiting for
        # every other one to fail first.
        await asyncio.gather(*(ask(p) for p in self.providers))
        if not heads:
            # Every breaker open or failing: fall back to a plain call, which waits and retries.
            head: int = await self.call("eth_blockNumber", [], _block_number)
            return head
        best = max(heads.values())
        for provider in self.providers:
            if provider.name in heads:
                provider.head = heads[provider.name]
                provider.lagging = best - heads[provider.name] > self.options.max_head_lag_blocks
                self.metrics.lagging.labels(provider.name).set(int(provider.lagging))
        return best


def _block_number(value: Any) -> int:
    return quantity(value, "eth_blockNumber")

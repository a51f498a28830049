"""A fault-injecting JSON-RPC proxy in front of anvil (DECISIONS, "Chain faults"): a real HTTP server that passes
calls through, or fails them the ways real providers do, as the test switches its mode."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from gateway import parts

MODES = ("ok", "down", "http_error", "garbage", "rpc_error", "stale", "range_limit", "rate_limited")


@dataclass
class FaultProxy:
    """Forwards JSON-RPC to `upstream` unless `mode` says to fail; counts what it did."""

    upstream: str
    mode: str = "ok"
    range_limit: int = 5
    stale_by: int = 100
    port: int = field(default_factory=parts.free_port)
    calls: dict[str, int] = field(default_factory=dict)
    refuse: set[str] = field(default_factory=set)
    """Methods answered with JSON-RPC error -32601, as a node that does not serve them answers (in any mode)."""
    answers: dict[str, Any] = field(default_factory=dict)
    """Methods answered with this `result` instead of the upstream's (a provider giving bad data, in any mode)."""
    method_calls: dict[str, int] = field(default_factory=dict)
    _runner: web.AppRunner | None = None
    _session: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        """Where clients reach the proxy."""
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        """Listen (again, after `stop`) on the same port."""
        app = web.Application()
        app.router.add_post("/", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        self._session = self._session or aiohttp.ClientSession()

    async def stop(self) -> None:
        """Stop listening: clients get connection refused (a killed provider)."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def close(self) -> None:
        """Stop and release everything."""
        await self.stop()
        if self._session is not None:
            await self._session.close()

    async def _handle(self, request: web.Request) -> web.StreamResponse:  # noqa: PLR0911 - one return per fault
        body: dict[str, Any] = await request.json()
        self.calls[self.mode] = self.calls.get(self.mode, 0) + 1
        method, ident = body.get("method"), body.get("id")
        self.method_calls[str(method)] = self.method_calls.get(str(method), 0) + 1
        if method in self.refuse:
            error = {"code": -32601, "message": f"the method {method} does not exist/is not available"}
            return web.json_response({"jsonrpc": "2.0", "id": ident, "error": error})
        if method in self.answers:
            return web.json_response({"jsonrpc": "2.0", "id": ident, "result": self.answers[method]})
        if self.mode == "http_error":
            return web.Response(status=502, text="bad gateway")
        if self.mode == "rate_limited":
            return web.Response(status=429, text="slow down")
        if self.mode == "garbage":
            return web.Response(status=200, text='{"jsonrpc": "2.0", "id": ' + json.dumps(ident) + ', "result": {"oops')
        if self.mode == "rpc_error":
            return web.json_response({"jsonrpc": "2.0", "id": ident, "error": {"code": -32603, "message": ""}})
        if self.mode == "range_limit" and method == "eth_getLogs":
            query = body["params"][0]
            if int(query["toBlock"], 16) - int(query["fromBlock"], 16) + 1 > self.range_limit:
                error = {"code": -32005, "message": f"block range too large, max {self.range_limit}"}
                return web.json_response({"jsonrpc": "2.0", "id": ident, "error": error})
        assert self._session is not None
        if self.mode == "stale":
            return web.json_response(await self._stale(body))
        async with self._session.post(self.upstream, json=body) as resp:
            reply = await resp.json()
        return web.json_response(reply)

    async def _forward(self, body: dict[str, Any]) -> dict[str, Any]:
        assert self._session is not None
        async with self._session.post(self.upstream, json=body) as resp:
            reply: dict[str, Any] = await resp.json()
            return reply

    async def _stale(self, body: dict[str, Any]) -> dict[str, Any]:
        """A provider `stale_by` blocks behind, answering as if newer blocks did not exist (lying by omission)."""
        head_reply = await self._forward({"jsonrpc": "2.0", "id": 0, "method": "eth_blockNumber", "params": []})
        stale_head = max(0, int(head_reply["result"], 16) - self.stale_by)
        method, ident, params = body.get("method"), body.get("id"), body.get("params") or []
        if method == "eth_blockNumber":
            return {"jsonrpc": "2.0", "id": ident, "result": hex(stale_head)}
        if method == "eth_getBlockByNumber" and str(params[0]).startswith("0x") and int(params[0], 16) > stale_head:
            return {"jsonrpc": "2.0", "id": ident, "result": None}
        if method == "eth_getLogs":
            query = dict(params[0])
            if int(query["fromBlock"], 16) > stale_head:
                return {"jsonrpc": "2.0", "id": ident, "result": []}
            query["toBlock"] = hex(min(int(query["toBlock"], 16), stale_head))
            body = {**body, "params": [query]}
        return await self._forward(body)

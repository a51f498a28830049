"""A minimal Ethereum JSON-RPC client over HTTP (standard library only), for tools, deployment and tests.

One provider, no retries: the watcher's fault-tolerant client (several providers, breakers, backoff) is a
separate piece. Errors are split into what the node said (`RpcError`) and not reaching it (`RpcUnavailable`).
"""

from __future__ import annotations

import itertools
import json
import urllib.error
import urllib.request
from typing import Any


class RpcError(RuntimeError):
    """The node answered with a JSON-RPC error (a revert, an unknown method, a bad parameter)."""

    def __init__(self, method: str, code: int, message: str, data: object = None) -> None:
        super().__init__(f"{method}: {message} (code {code})")
        self.method = method
        self.code = code
        self.message = message
        self.data = data


class RpcUnavailable(RuntimeError):
    """The node could not be reached or answered something that is not JSON-RPC."""


class JsonRpc:
    """JSON-RPC 2.0 calls to one node URL."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url
        self.timeout = timeout
        self._ids = itertools.count(1)

    def __repr__(self) -> str:
        return f"JsonRpc({self.url!r})"

    def request(self, method: str, *params: object) -> Any:
        """Call `method` with positional `params` and return its `result`."""
        body = json.dumps({"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": list(params)})
        req = urllib.request.Request(  # noqa: S310 - the operator's configured node URL
            self.url, data=body.encode(), headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310 - the Request above (the configured node URL)  # nosec B310
                reply = json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            # Some nodes send a JSON-RPC error with an HTTP error status; keep the node's words when they exist.
            try:
                reply = json.loads(exc.read())
            except ValueError:
                raise RpcUnavailable(f"{self.url} answered HTTP {exc.code} to {method}") from exc
        except (OSError, ValueError) as exc:
            raise RpcUnavailable(f"cannot reach the JSON-RPC node at {self.url}: {exc}") from exc
        if not isinstance(reply, dict):
            raise RpcUnavailable(f"{self.url} answered {method} with something that is not JSON-RPC")
        if reply.get("error") is not None:
            err = reply["error"]
            raise RpcError(method, int(err.get("code", 0)), str(err.get("message", "")), err.get("data"))
        if "result" not in reply:
            raise RpcUnavailable(f"{self.url} answered {method} with neither result nor error")
        return reply["result"]

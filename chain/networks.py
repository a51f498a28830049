"""Network profiles: one variable (`STABLEGATE_NETWORK`) names the chain every service reads.

A profile holds what is true of a network (its chain id, public RPC endpoints, the token that is USDT there
and its decimals, how finality is read) and feeds the services' own settings (`STABLEGATE_LEDGER_CHAIN_ID`,
`STABLEGATE_WATCHER_RPC_URLS`, ...) so that nothing is written twice. A service variable that contradicts the
profile (another chain id, token or decimals) is refused; RPC URLs and the finality depth may be overridden
per service. See docs/chain.md, "Networks".

Sources: BNB Chain's JSON-RPC endpoint list (https://docs.bnbchain.org/bnb-smart-chain/developers/rpc/) for
chain ids 56 and 97 and the public endpoints; BSC-USD (0x55d3…7955, 18 decimals) is the issue's and the
ledger's mainnet token. BSC testnet has no canonical USDT that we can cite, so `bsc-testnet` requires
`STABLEGATE_NETWORK_TOKEN_CONTRACT` and `STABLEGATE_NETWORK_TOKEN_DECIMALS`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

NETWORK_VAR = "STABLEGATE_NETWORK"
RPC_URLS_VAR = "STABLEGATE_NETWORK_RPC_URLS"
TOKEN_VAR = "STABLEGATE_NETWORK_TOKEN_CONTRACT"  # noqa: S105 - a variable name
DECIMALS_VAR = "STABLEGATE_NETWORK_TOKEN_DECIMALS"
FINALITY_VAR = "STABLEGATE_NETWORK_FINALITY_DEPTH"
NETWORK_VARS = (NETWORK_VAR, RPC_URLS_VAR, TOKEN_VAR, DECIMALS_VAR, FINALITY_VAR)

BSC_MAINNET_USDT = "0x55d398326f99059fF775485246999027B3197955"
"""BSC-USD on BNB Smart Chain mainnet: a real token there, and nowhere else."""


class NetworkConfigError(ValueError):
    """The network profile or its variables are wrong; the message names the variable and the fix."""


@dataclass(frozen=True)
class NetworkProfile:
    """What is true of one network, before the operator's overrides."""

    name: str
    chain_id: int
    rpc_urls: tuple[str, ...]
    token_contract: str | None
    token_decimals: int | None
    finality_depth: int
    """0: the node's `finalized` block (BSC's fast finality); N: head minus N."""
    head_max_age_seconds: int
    """How old the head block may be before a provider is called stale (doctor)."""


PROFILES: dict[str, NetworkProfile] = {
    "bsc-mainnet": NetworkProfile(
        "bsc-mainnet",
        56,
        ("https://bsc-dataseed.bnbchain.org", "https://bsc-dataseed-public.bnbchain.org"),
        BSC_MAINNET_USDT,
        18,
        0,
        60,
    ),
    "bsc-testnet": NetworkProfile(
        "bsc-testnet",
        97,
        ("https://bsc-testnet-dataseed.bnbchain.org", "https://bsc-testnet.bnbchain.org"),
        None,
        None,
        0,
        60,
    ),
    # `./dev up`'s anvil: chain id 97, `finalized` trailing the head (slots-in-an-epoch 2), the test token
    # (18 decimals) at the address `up` plans. Blocks are mined on demand, so the head may be old.
    "local": NetworkProfile("local", 97, ("http://127.0.0.1:8545",), None, 18, 0, 0),
}


@dataclass(frozen=True)
class Network:
    """A profile with the operator's overrides applied: what the services are fed."""

    profile: NetworkProfile
    chain_id: int
    rpc_urls: tuple[str, ...]
    token_contract: str | None
    token_decimals: int | None
    finality_depth: int
    rpc_urls_overridden: bool

    @property
    def name(self) -> str:
        """The profile's name."""
        return self.profile.name

    def service_values(self) -> dict[str, object]:
        """Settings this network gives every service that has a field of that name."""
        values: dict[str, object] = {
            "chain_id": self.chain_id,
            "rpc_urls": list(self.rpc_urls),
            "finality_depth": self.finality_depth,
        }
        if self.token_contract is not None:
            values["token_contract"] = self.token_contract
        if self.token_decimals is not None:
            values["token_decimals"] = self.token_decimals
        return values


PINNED = ("chain_id", "token_contract", "token_decimals")
"""Settings a service may not set differently from its network (the others are per-service overrides)."""


def _int(environ: Mapping[str, str], var: str, low: int, high: int) -> int | None:
    raw = environ.get(var, "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise NetworkConfigError(f"{var}: not an integer (got {raw!r})") from None
    if not low <= value <= high:
        raise NetworkConfigError(f"{var}: must be between {low} and {high} (got {value})")
    return value


def network_from_env(environ: Mapping[str, str]) -> Network | None:
    """The network `STABLEGATE_NETWORK` names, with its overrides; None when it is not set."""
    name = environ.get(NETWORK_VAR, "").strip()
    if not name:
        stray = [v for v in NETWORK_VARS[1:] if environ.get(v)]
        if stray:
            raise NetworkConfigError(f"{stray[0]}: set without {NETWORK_VAR}; name the network ({', '.join(PROFILES)})")
        return None
    profile = PROFILES.get(name)
    if profile is None:
        raise NetworkConfigError(f"{NETWORK_VAR}: unknown network {name!r}; one of {', '.join(PROFILES)}")
    urls: tuple[str, ...] = profile.rpc_urls
    raw_urls = environ.get(RPC_URLS_VAR, "").strip()
    if raw_urls:
        try:
            parsed = json.loads(raw_urls)
        except ValueError:
            parsed = None
        if not isinstance(parsed, list) or not parsed or not all(isinstance(u, str) for u in parsed):
            raise NetworkConfigError(f'{RPC_URLS_VAR}: must be a JSON list of URLs, e.g. ["https://node:8545"]')
        urls = tuple(parsed)
    token = environ.get(TOKEN_VAR, "").strip() or None
    if token is not None and (len(token) != 42 or not token.startswith("0x")):
        raise NetworkConfigError(f"{TOKEN_VAR}: not an address (0x + 40 hex), got {token!r}")
    if profile.token_contract is not None and token is not None and token.lower() != profile.token_contract.lower():
        raise NetworkConfigError(
            f"{TOKEN_VAR}: {name}'s USDT is {profile.token_contract}; {token} is not it (leave the variable unset)"
        )
    if token is not None and token.lower() == BSC_MAINNET_USDT.lower() and profile.chain_id != 56:
        raise NetworkConfigError(f"{TOKEN_VAR}: {BSC_MAINNET_USDT} is BSC-USD on mainnet, not on {name}")
    token = token or profile.token_contract
    decimals = _int(environ, DECIMALS_VAR, 0, 36)
    if profile.token_decimals is not None and decimals is not None and decimals != profile.token_decimals:
        raise NetworkConfigError(
            f"{DECIMALS_VAR}: {name}'s token has {profile.token_decimals} decimals, not {decimals} (leave it unset)"
        )
    decimals = decimals if decimals is not None else profile.token_decimals
    if name == "bsc-testnet" and (token is None or decimals is None):
        raise NetworkConfigError(
            f"{TOKEN_VAR} and {DECIMALS_VAR}: bsc-testnet has no canonical USDT; name the test token you use "
            "and its decimals"
        )
    depth = _int(environ, FINALITY_VAR, 0, 10000)
    return Network(
        profile=profile,
        chain_id=profile.chain_id,
        rpc_urls=urls,
        token_contract=token,
        token_decimals=decimals,
        finality_depth=profile.finality_depth if depth is None else depth,
        rpc_urls_overridden=bool(raw_urls),
    )


def network_overrides(
    fields: Mapping[str, object], prefix: str, environ: Mapping[str, str]
) -> tuple[dict[str, object], list[str]]:
    """Settings the network gives a service with these `fields`, and problems where the service contradicts it.

    A field the service sets itself keeps its value; for a PINNED field it must equal the network's.
    """
    network = network_from_env(environ)
    if network is None:
        return {}, []
    values, problems = {}, []
    for name, value in network.service_values().items():
        if name not in fields:
            continue
        var = prefix + name.upper()
        own = environ.get(var)
        if own is None or own == "":
            values[name] = value
        elif name in PINNED and str(own).strip().lower() != str(value).lower():
            problems.append(
                f"{var}: {own} contradicts {NETWORK_VAR}={network.name} ({name} {value}); unset it or fix it"
            )
    return values, problems

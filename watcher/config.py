"""The watcher's typed settings."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from service_runtime.config import TARGETS_PATTERN, ServiceSettings, check_http_urls


class WatcherSettings(ServiceSettings):
    """Settings of the chain watcher (env prefix STABLEGATE_WATCHER_)."""

    model_config = SettingsConfigDict(env_prefix="STABLEGATE_WATCHER_")
    service_name: ClassVar[str] = "watcher"
    mesh_role: ClassVar[str | None] = "watcher"

    chain_id: int = Field(default=97, gt=0, description="EVM chain id: 56 is BSC mainnet, 97 BSC testnet/anvil.")
    rpc_urls: list[str] = Field(
        default_factory=lambda: ["http://127.0.0.1:8545"],
        min_length=1,
        description="JSON-RPC providers, tried in order with failover (JSON list).",
    )
    ledger_target: str = Field(
        default="127.0.0.1:20051",
        pattern=TARGETS_PATTERN,
        description="host:port of the ledger; or IPv4:port,IPv4:port,… of its replicas (round-robin).",
    )
    database_url: str = Field(
        default="postgresql://postgres@127.0.0.1:5432/stablegate",
        pattern=r"^postgres(ql)?://",
        description="Postgres URL; the watcher owns schema `watcher` (its cursor, headers, observations, lease).",
    )
    migrate_on_start: bool = Field(
        default=False, description="Apply pending migrations at start (the dev profile always does)."
    )
    token_contract: str = Field(
        default="0x55d398326f99059fF775485246999027B3197955",
        pattern=r"^0x[0-9a-fA-F]{40}$",
        description="The token whose transfers are payments (the ledger's TOKEN_CONTRACT).",
    )
    token_decimals: int | None = Field(
        default=None,
        ge=0,
        le=36,
        description="The token's pinned decimals, checked against decimals() on chain before the first scan "
        "(empty: unchecked; the network profile sets it).",
    )
    forwarder_factory: str | None = Field(
        default=None,
        pattern=r"^0x[0-9a-fA-F]{40}$",
        description="The ledger's FORWARDER_FACTORY, checked for code at start like the token (empty: unchecked).",
    )
    finality_depth: int = Field(
        default=0, ge=0, le=10000, description="0: the node's `finalized` block; N: head minus N (nodes without it)."
    )
    start_block: int | None = Field(
        default=None, ge=1, description="First block to scan on a fresh database; empty: the finalized block then."
    )
    scan_interval_seconds: float = Field(default=1.0, gt=0, le=600, description="Pause between scan passes.")
    max_block_range: int = Field(default=2000, ge=1, le=100000, description="Largest eth_getLogs range asked for.")
    lookback_blocks: int = Field(
        default=1000, ge=1, le=100000, description="How far back a new deposit address is looked for."
    )
    native_check_seconds: float = Field(
        default=30.0, ge=0, le=86400, description="How often watched addresses' BNB balances are compared; 0: never."
    )
    watch_retention_days: int = Field(
        default=30,
        ge=0,
        le=366,
        description="How many days after its monitoring window a deposit address is still watched for the "
        "configured token, so a late payment is reported and held unallocated for the operator; 0: not after it.",
    )
    lag_alert_blocks: int = Field(
        default=50, ge=1, description="watcher_behind turns 1 when the scan is this many blocks behind the head."
    )
    rpc_timeout_seconds: float = Field(default=5.0, gt=0, le=120, description="Timeout of one JSON-RPC call.")
    breaker_fail_max: int = Field(default=3, ge=1, le=100, description="Failures in a row that open a breaker.")
    breaker_reset_seconds: float = Field(
        default=10.0, gt=0, le=3600, description="How long an open breaker keeps a provider out."
    )
    lease_retry_seconds: float = Field(
        default=2.0, gt=0, le=600, description="How often a standby tries to take the scanner lease."
    )

    @field_validator("rpc_urls")
    @classmethod
    def _urls(cls, value: list[str]) -> list[str]:
        return check_http_urls(value)

    @field_validator("start_block", "forwarder_factory", "token_decimals", mode="before")
    @classmethod
    def _empty_start(cls, value: object) -> object:
        return None if value == "" else value

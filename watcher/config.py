"""The watcher's typed settings."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from service_runtime.config import TARGET_PATTERN, ServiceSettings, check_http_urls


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
        default="127.0.0.1:50051", pattern=TARGET_PATTERN, description="host:port of the ledger."
    )

    @field_validator("rpc_urls")
    @classmethod
    def _urls(cls, value: list[str]) -> list[str]:
        return check_http_urls(value)

"""The ledger's typed settings."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from service_runtime.config import ServiceSettings


class LedgerSettings(ServiceSettings):
    """Settings of the ledger, the system of record (env prefix STABLEGATE_LEDGER_)."""

    model_config = SettingsConfigDict(env_prefix="STABLEGATE_LEDGER_")
    service_name: ClassVar[str] = "ledger"

    database_url: str = Field(
        default="postgresql://postgres@127.0.0.1:5432/stablegate",
        pattern=r"^postgres(ql)?://",
        description="Postgres connection URL (postgresql://user@host:port/db); the ledger owns schema `ledger`.",
    )
    redis_url: str = Field(
        default="redis://127.0.0.1:6379/0", pattern=r"^rediss?://", description="Redis URL for caches."
    )

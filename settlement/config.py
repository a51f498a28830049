"""Settlement's typed settings."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import SettingsConfigDict

from chain.fees import BSC_MIN_GAS_PRICE_WEI
from service_runtime.config import TARGET_PATTERN, ServiceSettings, check_http_urls

GWEI = 10**9


class SettlementSettings(ServiceSettings):
    """Settings of settlement: sweeps, payouts, reconciliation (env prefix STABLEGATE_SETTLEMENT_)."""

    model_config = SettingsConfigDict(env_prefix="STABLEGATE_SETTLEMENT_")
    service_name: ClassVar[str] = "settlement"
    mesh_role: ClassVar[str | None] = "settlement"

    database_url: str = Field(
        default="postgresql://postgres@127.0.0.1:5432/stablegate",
        pattern=r"^postgres(ql)?://",
        description="Postgres connection URL; settlement owns schema `settlement`.",
    )
    chain_id: int = Field(default=97, gt=0, description="EVM chain id: 56 is BSC mainnet, 97 BSC testnet/anvil.")
    rpc_urls: list[str] = Field(
        default_factory=lambda: ["http://127.0.0.1:8545"], min_length=1, description="JSON-RPC providers (JSON list)."
    )
    ledger_target: str = Field(
        default="127.0.0.1:50051", pattern=TARGET_PATTERN, description="host:port of the ledger."
    )
    signer_target: str = Field(
        default="127.0.0.1:50054", pattern=TARGET_PATTERN, description="host:port of the signer."
    )

    fee_floor_gas_price_wei: int = Field(
        default=BSC_MIN_GAS_PRICE_WEI,
        ge=0,
        description="The chain's minimum gas price, wei (BSC validators' floor: 0.05 gwei since late 2025).",
    )
    fee_max_gas_price_wei: int = Field(
        default=10 * GWEI, gt=0, description="Fee cap: a sweep whose gas price would pass it is held, not signed."
    )
    fee_priority_fee_wei: int = Field(default=GWEI // 10, ge=0, description="Priority fee (tip) offered, wei.")

    @field_validator("rpc_urls")
    @classmethod
    def _urls(cls, value: list[str]) -> list[str]:
        return check_http_urls(value)

    @field_validator("fee_max_gas_price_wei")
    @classmethod
    def _cap_above_floor(cls, value: int, info: ValidationInfo) -> int:
        floor = info.data.get("fee_floor_gas_price_wei")
        if isinstance(floor, int) and value < floor:
            raise ValueError(f"must be at least FEE_FLOOR_GAS_PRICE_WEI ({floor}): no transaction could go out")
        return value

"""Settlement's typed settings."""

from __future__ import annotations

import re
from typing import ClassVar

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import SettingsConfigDict

from chain.fees import BSC_MIN_GAS_PRICE_WEI
from service_runtime.config import TARGET_PATTERN, ServiceSettings, check_http_urls

GWEI = 10**9
ADDRESS_PATTERN = r"^0x[0-9a-fA-F]{40}$"


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

    # Reconciliation (docs/settlement.md, "Reconciliation").
    asset: str = Field(
        default="USDT", pattern=r"^[A-Z0-9]{2,12}$", description="The token's ledger asset (the ledger's ASSET)."
    )
    native_asset: str = Field(
        default="BNB", pattern=r"^[A-Z0-9]{2,12}$", description="The chain's native asset as the ledger names it."
    )
    token_contract: str = Field(
        default="0x55d398326f99059fF775485246999027B3197955",
        pattern=ADDRESS_PATTERN,
        description="The token whose balances are reconciled (the ledger's TOKEN_CONTRACT).",
    )
    treasury_address: str = Field(
        default="", description="The treasury contract (hot wallet); empty: the treasury line is skipped."
    )
    cold_safe_address: str = Field(
        default="", description="The cold Safe multisig; empty: the cold storage line is skipped (and says so)."
    )
    signing_key_addresses: list[str] = Field(
        default_factory=list, description="Addresses of the signing keys whose BNB is the gas float (JSON list)."
    )
    reconcile_interval_seconds: float = Field(
        default=3600.0,
        ge=0,
        le=7 * 86400,
        description="How often the periodic reconciliation runs; 0: never (the CLI and the API still run it).",
    )
    reconcile_concurrency: int = Field(
        default=16, ge=1, le=256, description="Balance reads in flight at once against the providers."
    )

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

    @field_validator("treasury_address", "cold_safe_address")
    @classmethod
    def _optional_address(cls, value: str) -> str:
        if value and not re.fullmatch(ADDRESS_PATTERN, value):
            raise ValueError("must be a 0x-prefixed 20-byte hex address, or empty")
        return value

    @field_validator("signing_key_addresses")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        bad = [a for a in value if not re.fullmatch(ADDRESS_PATTERN, a)]
        if bad:
            raise ValueError(f"not 0x-prefixed 20-byte hex addresses: {', '.join(bad)}")
        if len({a.lower() for a in value}) != len(value):
            raise ValueError("an address is listed twice")
        return value

    @field_validator("reconcile_interval_seconds")
    @classmethod
    def _interval(cls, value: float) -> float:
        if 0 < value < 10:
            raise ValueError("must be 0 (off) or at least 10 seconds: each run reads every deposit address")
        return value

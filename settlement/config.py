"""Settlement's typed settings."""

from __future__ import annotations

import re
from typing import ClassVar

from pydantic import Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from chain.fees import BSC_MIN_GAS_PRICE_WEI
from service_runtime.config import TARGET_PATTERN, TARGETS_PATTERN, ServiceSettings, check_http_urls

ADDRESS = r"^0x[0-9a-fA-F]{40}$"
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
    migrate_on_start: bool = Field(
        default=False, description="Apply pending migrations at start (the dev profile always does)."
    )
    chain_id: int = Field(default=97, gt=0, description="EVM chain id: 56 is BSC mainnet, 97 BSC testnet/anvil.")
    rpc_urls: list[str] = Field(
        default_factory=lambda: ["http://127.0.0.1:8545"],
        min_length=1,
        description="JSON-RPC providers (JSON list); reads fail over in order, transactions go to every one.",
    )
    ledger_target: str = Field(
        default="127.0.0.1:20051",
        pattern=TARGETS_PATTERN,
        description="host:port of the ledger; or IPv4:port,IPv4:port,… of its replicas (round-robin).",
    )
    signer_target: str = Field(
        default="127.0.0.1:20054", pattern=TARGET_PATTERN, description="host:port of the signer."
    )
    rpc_timeout_seconds: float = Field(default=5.0, gt=0, le=120, description="Timeout of one JSON-RPC call.")
    breaker_fail_max: int = Field(default=3, ge=1, le=100, description="Failures in a row that open a breaker.")
    breaker_reset_seconds: float = Field(
        default=10.0, gt=0, le=3600, description="How long an open breaker keeps a provider out."
    )

    # --- the sweeper (docs/settlement.md) ---
    sweeper_enabled: bool = Field(
        default=False, description="Run the sweeper loop (needs the SWEEPER key, factory and token below)."
    )
    sweeper_key_id: str = Field(default="", description="The signer's key id of the SWEEPER key that calls flushBatch.")
    sweeper_address: str | None = Field(
        default=None, pattern=ADDRESS, description="That key's address (holds SWEEPER_ROLE and the BNB for gas)."
    )
    forwarder_factory: str | None = Field(
        default=None, pattern=ADDRESS, description="The ForwarderFactory whose forwarders are swept."
    )
    token_contract: str | None = Field(
        default=None, pattern=ADDRESS, description="The token swept (the factory's and the ledger's token)."
    )
    sweep_batch_size: int = Field(
        default=50, ge=1, le=200, description="Most deposit addresses in one flushBatch (the signer allows 200)."
    )
    sweep_max_gas: int = Field(
        default=5_000_000, ge=100_000, le=100_000_000, description="Gas budget of one sweep transaction."
    )
    sweep_gas_per_forwarder: int = Field(
        default=60_000,
        ge=10_000,
        le=1_000_000,
        description="Gas one forwarder costs in a batch (deploy + flush; ~54k measured), for sizing batches.",
    )
    sweep_base_gas: int = Field(
        default=50_000, ge=21_000, le=1_000_000, description="A flushBatch call's own gas beyond its forwarders."
    )
    gas_margin_percent: int = Field(
        default=20, ge=0, le=200, description="Margin added to eth_estimateGas for the signed gas limit."
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
    fee_bump_percent: int = Field(
        default=12, ge=10, le=500, description="How much a replacement raises both fee fields (nodes need >= 10)."
    )
    legacy_fees: bool = Field(default=False, description="Sign legacy (type 0) transactions instead of EIP-1559.")
    stuck_after_seconds: float = Field(
        default=60.0, gt=0, le=86400, description="A broadcast sweep without a receipt this long is replaced."
    )
    rebroadcast_seconds: float = Field(
        default=15.0, gt=0, le=3600, description="How often an unmined sweep is sent to every provider again."
    )
    max_in_flight: int = Field(
        default=4, ge=1, le=64, description="Sweep transactions out (sent, not yet final) at once."
    )
    failure_backoff_seconds: float = Field(
        default=300.0, ge=0, le=86400, description="After a sweep fails, how long before new sweeps are planned."
    )
    sweep_interval_seconds: float = Field(default=5.0, gt=0, le=3600, description="Pause between sweeper passes.")
    lease_retry_seconds: float = Field(
        default=2.0, gt=0, le=600, description="How often a standby tries to take the sweeper lease."
    )

    # --- hot and cold (docs/settlement.md, "Hot and cold") ---
    hot_cold_enabled: bool = Field(
        default=False,
        description="Run the hot/cold loop: move the treasury's excess to the cold Safe, watch balances, alert.",
    )
    hot_key_id: str = Field(default="", description="The signer's key id of the HOT key that calls moveToCold.")
    hot_address: str | None = Field(
        default=None, pattern=ADDRESS, description="That key's address (holds HOT_ROLE on the treasury, pays the gas)."
    )
    treasury_ceiling_base_units: int = Field(
        default=0, ge=0, description="Above this token balance (finalized block), the treasury's excess moves to cold."
    )
    treasury_target_base_units: int = Field(
        default=0, ge=0, description="What the treasury keeps after a move into cold (at most the ceiling)."
    )
    treasury_floor_base_units: int = Field(
        default=0, ge=0, description="Below this token balance the treasury raises an alert (0: no floor alert)."
    )
    key_bnb_floor_wei: int = Field(
        default=0,
        ge=0,
        description="A signing key (SIGNING_KEY_ADDRESSES, the sweeper and HOT keys) with less BNB raises an alert.",
    )
    cold_owner_keys: dict[str, str] = Field(
        default_factory=dict,
        description="The signer's COLD_OWNER keys asked to sign moves out of cold: JSON {key id: owner address}.",
    )
    cold_scan_from_block: int = Field(
        default=0,
        ge=0,
        description="Where the search for cold moves lost with a restored database starts when settlement "
        "stores no block at all (the treasury's deployment block; 0: the finalized block of the first pass; "
        "docs/backup.md).",
    )
    cold_move_initiator_address: str = Field(
        default="",
        description="Ethereum address named as the initiator of automatic moves into cold (its approval never "
        "counts); empty: none, dual control rests on the signer's threshold alone.",
    )

    # --- payouts (docs/payouts.md, "For settlement") ---
    payouts_enabled: bool = Field(
        default=False,
        description="Run the payout executor: pay the ledger's queued payouts and refunds from the treasury with the "
        "HOT key (needs hot_key_id, hot_address, treasury_address, token_contract).",
    )
    payout_max_batch: int = Field(
        default=50, ge=1, le=200, description="Most payouts in one payoutBatch transaction (the signer allows 200)."
    )
    payout_approval_threshold_base_units: int = Field(
        default=0,
        ge=0,
        description="A payout above this many base units goes alone in its batch, so the signer's approval rule "
        "holds it alone; 0: no threshold.",
    )
    payout_max_gas: int = Field(
        default=10_000_000, ge=100_000, le=100_000_000, description="Gas budget of one payout batch transaction."
    )
    payout_scan_from_block: int = Field(
        default=0,
        ge=0,
        description="Where the search for payout batches lost with a restored database starts when settlement "
        "stores no batch at all (the treasury's deployment block; docs/backup.md).",
    )

    # Reconciliation (docs/settlement.md, "Reconciliation").
    asset: str = Field(
        default="USDT", pattern=r"^[A-Z0-9]{2,12}$", description="The token's ledger asset (the ledger's ASSET)."
    )
    native_asset: str = Field(
        default="BNB", pattern=r"^[A-Z0-9]{2,12}$", description="The chain's native asset as the ledger names it."
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

    @field_validator("sweeper_address", "forwarder_factory", "token_contract", "hot_address", mode="before")
    @classmethod
    def _empty(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("treasury_address", "cold_safe_address", "cold_move_initiator_address")
    @classmethod
    def _optional_address(cls, value: str) -> str:
        if value and not re.fullmatch(ADDRESS, value):
            raise ValueError("must be a 0x-prefixed 20-byte hex address, or empty")
        return value

    @field_validator("cold_owner_keys")
    @classmethod
    def _owners(cls, value: dict[str, str]) -> dict[str, str]:
        bad = [a for a in value.values() if not re.fullmatch(ADDRESS, a)]
        if bad:
            raise ValueError(f"owner addresses must be 0x-prefixed 20-byte hex: {', '.join(bad)}")
        if len({a.lower() for a in value.values()}) != len(value):
            raise ValueError("an owner address is listed twice")
        return value

    @field_validator("signing_key_addresses")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        bad = [a for a in value if not re.fullmatch(ADDRESS, a)]
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

    @model_validator(mode="after")
    def _sweeper_complete(self) -> SettlementSettings:
        hot = ("hot_key_id", "hot_address", "treasury_address", "token_contract")
        needs = {
            "sweeper_enabled": ("sweeper_key_id", "sweeper_address", "forwarder_factory", "token_contract"),
            "payouts_enabled": hot,
            "hot_cold_enabled": hot,
        }
        for switch, names in needs.items():
            missing = [name for name in names if getattr(self, switch) and not getattr(self, name)]
            if missing:
                raise ValueError(
                    f"{switch} needs "
                    + ", ".join(missing)
                    + " (STABLEGATE_SETTLEMENT_"
                    + ", STABLEGATE_SETTLEMENT_".join(m.upper() for m in missing)
                    + ")"
                )
        if self.hot_cold_enabled and self.treasury_ceiling_base_units <= 0:
            raise ValueError(
                "hot_cold_enabled needs a treasury ceiling above 0 (STABLEGATE_SETTLEMENT_TREASURY_CEILING_BASE_UNITS)"
            )
        if self.treasury_target_base_units > self.treasury_ceiling_base_units and self.treasury_ceiling_base_units:
            raise ValueError(
                "treasury_target_base_units is above treasury_ceiling_base_units: a move could never reach its target"
            )
        if self.treasury_floor_base_units > self.treasury_target_base_units and self.treasury_target_base_units:
            raise ValueError("treasury_floor_base_units is above treasury_target_base_units: every move would alert")
        if self.fee_floor_gas_price_wei > self.fee_max_gas_price_wei:
            raise ValueError("fee_floor_gas_price_wei is above fee_max_gas_price_wei: no gas price could be paid")
        if self.sweep_max_gas < self.sweep_base_gas + self.sweep_gas_per_forwarder:
            raise ValueError(
                "sweep_max_gas leaves no room for one forwarder (sweep_base_gas + sweep_gas_per_forwarder)"
            )
        return self

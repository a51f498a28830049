"""The ledger's typed settings."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from chain.networks import BSC_MAINNET_USDT
from ledger.domain.addresses import to_checksum_address
from ledger.secretbox import SecretKeyInvalid, parse_key
from service_runtime.config import DEMO_SECRET_PREFIX, FieldsRefused, Profile, ServiceSettings
from service_runtime.redis_client import REDIS_URL_DESCRIPTION, REDIS_URL_PATTERN

ZERO_HASH = "0x" + "00" * 32
# Placeholders for the chain, good for the ledger's own tests (deposit addresses are CREATE2 math, nothing is
# deployed) and refused under prod. `stablegate up` replaces them with the contracts it deploys on its anvil;
# `stablegate chain deploy` writes the real values to an env file (docs/chain.md).
DEV_TOKEN = "0x00000000000000000000000000000000000F0002"  # noqa: S105 - an address, not a secret
DEV_FACTORY = "0x00000000000000000000000000000000000F0001"
DEV_INIT_CODE_HASH = "0x" + "ab" * 32
BSC_MAINNET_CHAIN_ID = 56
SOFTHSM_MODULE = Path("/usr/lib/softhsm/libsofthsm2.so")


class LedgerSettings(ServiceSettings):
    """Settings of the ledger, the system of record (env prefix STABLEGATE_LEDGER_)."""

    model_config = SettingsConfigDict(env_prefix="STABLEGATE_LEDGER_")
    service_name: ClassVar[str] = "ledger"
    mesh_role: ClassVar[str | None] = "ledger"

    database_url: str = Field(
        default="postgresql://postgres@127.0.0.1:5432/stablegate",
        pattern=r"^postgres(ql)?://",
        description="Postgres connection URL (postgresql://user@host:port/db); the ledger owns schema `ledger`.",
    )
    database_pool_size: int = Field(default=10, ge=1, le=200, description="Connections in the asyncpg pool.")
    database_wait_seconds: float = Field(
        default=30.0, ge=0, le=600, description="How long startup waits for the database to accept connections."
    )
    migrate_on_start: bool = Field(
        default=False, description="Apply pending migrations at start (the dev profile always does)."
    )
    redis_url: str = Field(
        default="redis://127.0.0.1:6379/0",
        pattern=REDIS_URL_PATTERN,
        description="Redis URL for caches. " + REDIS_URL_DESCRIPTION,
    )
    chain_id: int = Field(default=97, gt=0, description="EVM chain id of invoices: 56 BSC mainnet, 97 testnet/anvil.")
    asset: str = Field(default="USDT", pattern=r"^[A-Z0-9]{2,12}$", description="The asset symbol invoices are in.")
    token_contract: str = Field(
        default=DEV_TOKEN, pattern=r"^0x[0-9a-fA-F]{40}$", description="The BEP20 token contract address."
    )
    token_decimals: int = Field(default=18, ge=0, le=36, description="The token's decimals, pinned from the chain.")
    forwarder_factory: str = Field(
        default=DEV_FACTORY, pattern=r"^0x[0-9a-fA-F]{40}$", description="CREATE2 deployer of deposit forwarders."
    )
    forwarder_init_code_hash: str = Field(
        default=DEV_INIT_CODE_HASH,
        pattern=r"^0x[0-9a-fA-F]{64}$",
        description="keccak256 of the forwarder's init code (0x + 64 hex), as the factory deploys it.",
    )
    checkout_base_url: str = Field(
        default="http://127.0.0.1:8080/checkout/",
        pattern=r"^https?://",
        description="Base URL of the hosted checkout page; the invoice id and its link token are appended "
        "(`<base><invoice id>/<token>`, docs/checkout.md).",
    )
    checkout_token_key: SecretStr = Field(
        default=SecretStr(""),
        description="Key of the checkout links' tokens (HMAC-SHA256): the base64 of 32 random bytes. Empty: derived "
        "from WEBHOOK_SECRET_KEY (a separate HMAC, never the key itself); with neither, a random key per process "
        "(links then change on restart; prod requires the webhook key, so never there).",
    )
    default_invoice_ttl_seconds: int = Field(
        default=900, ge=60, le=604800, description="Invoice expiry when neither request nor merchant sets one."
    )
    monitoring_window_seconds: int = Field(
        default=86400, ge=0, le=2592000, description="How long after expiry late payments are still credited."
    )
    expiry_interval_seconds: float = Field(
        default=5.0, gt=0, le=3600, description="How often the expiry job looks for invoices past their expiry."
    )
    credential_cache_seconds: float = Field(
        default=2.0, ge=0, le=5, description="How long a verified key stays cached; bounds revocation delay."
    )

    webhook_secret_key: SecretStr = Field(
        default=SecretStr(""),
        description="AES-256-GCM key sealing webhook signing secrets at rest: the base64 of 32 random bytes. "
        "Empty: webhook endpoints cannot be created unless the KEK token is set (then this key only opens "
        "secrets sealed before, until `stablegate ledger kek rewrap`). `stablegate up` makes a dev key.",
    )
    webhook_kek_token_label: str = Field(
        default="",
        pattern=r"^[A-Za-z0-9 ._/-]{0,32}$",
        description="Label of the ledger's own PKCS#11 token holding the key-encryption keys of webhook secrets "
        "(envelope encryption, docs/webhooks.md); empty: secrets are sealed with WEBHOOK_SECRET_KEY. Never the "
        "signer's token.",
    )
    webhook_kek_pkcs11_module: Path = Field(
        default=SOFTHSM_MODULE, description="PKCS#11 library of the KEK token (prod refuses SoftHSM)."
    )
    webhook_kek_pin: SecretStr = Field(
        default=SecretStr(""), description="User PIN of the KEK token (from a file or a secrets manager in production)."
    )
    webhook_allow_loopback: bool = Field(
        default=False, description="Let webhooks reach loopback addresses (dev and test only; prod refuses it)."
    )
    webhook_dispatch: bool = Field(
        default=True, description="Run the webhook fan-out (leased) and a sender in this process."
    )
    webhook_senders: int = Field(default=16, ge=1, le=256, description="Deliveries this process sends at once.")
    webhook_connect_timeout_seconds: float = Field(
        default=5.0, gt=0, le=60, description="How long a delivery may take to connect (TCP and TLS)."
    )
    webhook_timeout_seconds: float = Field(
        default=15.0, gt=0, le=120, description="How long a delivery may take in all, connect to read."
    )
    webhook_lease_margin_seconds: float = Field(
        default=30.0,
        ge=1,
        le=600,
        description="A claimed delivery is leased for the timeout plus this; a crashed sender's deliveries go to "
        "another replica when the lease runs out.",
    )
    webhook_response_limit_bytes: int = Field(
        default=65536, ge=1024, le=1048576, description="At most this much of a receiver's response is read."
    )
    webhook_disable_after_seconds: float = Field(
        default=5 * 86400.0,
        gt=0,
        le=30 * 86400.0,
        description="An endpoint failing every delivery for this long is disabled and the merchant told.",
    )

    default_fee_bps: int = Field(
        default=0,
        ge=0,
        le=10000,
        description="Platform fee of merchants without a plan of their own, in basis points of each invoice paid.",
    )
    default_fee_fixed_base_units: int = Field(
        default=0, ge=0, description="Fixed part of the default fee plan per invoice paid, in base units."
    )
    default_fee_minimum_base_units: int = Field(
        default=0, ge=0, description="Minimum fee of the default plan per invoice paid, in base units."
    )
    settlement_address_cooling_off_seconds: int = Field(
        default=86_400,
        ge=0,
        le=30 * 86_400,
        description="How long after registration a settlement address stays unusable, even once confirmed.",
    )
    settlement_address_code_ttl_seconds: int = Field(
        default=86_400,
        ge=60,
        le=7 * 86_400,
        description="How long the emailed confirmation code of an address is valid.",
    )
    settlement_address_code_attempts: int = Field(
        default=5, ge=1, le=20, description="Wrong confirmation codes accepted before an address can only be approved."
    )
    settlement_addresses_max: int = Field(
        default=20, ge=1, le=1000, description="Live (not revoked) settlement addresses a merchant may have."
    )
    payout_fee_base_units: int = Field(
        default=0, ge=0, description="Fee of one payout, charged on top of its amount, in base units (0: free)."
    )
    payout_minimum_base_units: int = Field(
        default=1, ge=1, description="The smallest payout amount accepted, in base units."
    )
    platform_revenue_address: str = Field(
        default="",
        pattern=r"^(0x[0-9a-fA-F]{40})?$",
        description="Where withdrawals of collected platform fees go (WithdrawPlatformRevenue); empty: refused.",
    )
    payout_schedule_interval_seconds: float = Field(
        default=300.0,
        ge=0,
        le=3600,
        description="How often the payout scheduler looks for due payout schedules; 0: never (run it with "
        "`stablegate payouts run-schedules`).",
    )
    smtp_host: str = Field(default="", description="SMTP server for email notifications; empty: email is off.")
    smtp_port: int = Field(default=25, ge=1, le=65535, description="SMTP server port.")
    smtp_starttls: bool = Field(default=False, description="Upgrade the SMTP connection with STARTTLS.")
    smtp_username: str = Field(default="", description="SMTP login; empty: no login.")
    smtp_password: SecretStr = Field(default=SecretStr(""), description="SMTP password (never logged).")
    email_from: str = Field(default="stablegate@localhost", description="From address of notification emails.")
    sms_api_url: str = Field(
        default="",
        description="Base URL of an SMS provider with Twilio's Messages API shape (https://api.twilio.com for "
        "Twilio); empty: SMS is off.",
    )
    sms_account_sid: str = Field(default="", description="SMS provider account SID (the basic-auth user).")
    sms_auth_token: SecretStr = Field(default=SecretStr(""), description="SMS provider auth token (never logged).")
    sms_from: str = Field(default="", description="Sender number of notification SMS, E.164.")

    @field_validator("webhook_secret_key", "checkout_token_key")
    @classmethod
    def _key_shape(cls, value: SecretStr) -> SecretStr:
        if value.get_secret_value():
            try:
                parse_key(value.get_secret_value())
            except SecretKeyInvalid as exc:
                raise ValueError(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _kek_needs_pin(self) -> LedgerSettings:
        if self.webhook_kek_token_label and not self.webhook_kek_pin.get_secret_value():
            raise FieldsRefused([("webhook_kek_pin", "set the KEK token's user PIN (WEBHOOK_KEK_TOKEN_LABEL is set)")])
        return self

    def _webhook_violations(self) -> list[tuple[str, str]]:
        """Production refuses a missing or demo webhook key (or a SoftHSM KEK token) and loopback webhooks."""
        found: list[tuple[str, str]] = []
        key = self.webhook_secret_key.get_secret_value()
        if self.webhook_kek_token_label:
            if "softhsm" in self.webhook_kek_pkcs11_module.name.lower():
                found.append(
                    ("webhook_kek_pkcs11_module", "prod refuses SoftHSM; point it at your HSM vendor's PKCS#11 library")
                )
            if key.startswith(DEMO_SECRET_PREFIX):
                found.append(("webhook_secret_key", "prod refuses a demo key; leave it empty or set the real one"))
            if not key and not self.checkout_token_key.get_secret_value():
                found.append(
                    ("checkout_token_key", "prod needs it when WEBHOOK_SECRET_KEY is empty; the base64 of 32 bytes")
                )
        elif not key or key.startswith(DEMO_SECRET_PREFIX):
            found.append(
                (
                    "webhook_secret_key",
                    "prod refuses a missing or demo key; set the base64 of 32 random bytes "
                    "(or WEBHOOK_KEK_TOKEN_LABEL)",
                )
            )
        if self.webhook_allow_loopback:
            found.append(("webhook_allow_loopback", "prod never lets webhooks reach loopback; set it false"))
        return found

    @property
    def webhooks_require_https(self) -> bool:
        """Webhook URLs must be https under prod."""
        return self.profile is Profile.PROD

    @field_validator("token_contract", "forwarder_factory")
    @classmethod
    def _checksummed(cls, value: str) -> str:
        # Observations arrive checksummed (EIP-55); compare like with like whatever case the operator typed.
        return to_checksum_address(value)

    @field_validator("forwarder_init_code_hash")
    @classmethod
    def _not_zero(cls, value: str) -> str:
        if value == ZERO_HASH:
            raise ValueError("must be the real init-code hash, not zero")
        return value

    @model_validator(mode="after")
    def _mainnet_token_only_on_mainnet(self) -> LedgerSettings:
        # Mainnet's token address on a test chain is somebody else's contract (or none): nothing paid there
        # is the money the invoice names, and a mix-up like this must stop the ledger, whatever the profile.
        if self.token_contract == BSC_MAINNET_USDT and self.chain_id != BSC_MAINNET_CHAIN_ID:
            raise FieldsRefused(
                [
                    (
                        "token_contract",
                        f"{BSC_MAINNET_USDT} is BSC-USD on mainnet (chain 56) but CHAIN_ID is {self.chain_id}; "
                        "name the token deployed on that chain (`stablegate chain deploy` writes it)",
                    )
                ]
            )
        return self

    def prod_violations(self) -> list[tuple[str, str]]:
        """Production also refuses the placeholder token, factory and init-code hash, and webhook dev settings."""
        found = super().prod_violations() + self._webhook_violations()
        if self.checkout_token_key.get_secret_value().startswith(DEMO_SECRET_PREFIX):
            found.append(
                ("checkout_token_key", "prod refuses a demo key; set the base64 of 32 random bytes or leave it empty")
            )
        fix = "prod refuses the placeholder; set the deployed value (`stablegate chain deploy` writes it)"
        if self.token_contract == to_checksum_address(DEV_TOKEN):
            found.append(("token_contract", fix))
        if self.forwarder_factory == to_checksum_address(DEV_FACTORY):
            found.append(("forwarder_factory", fix))
        if self.forwarder_init_code_hash.lower() == DEV_INIT_CODE_HASH:
            found.append(("forwarder_init_code_hash", fix))
        return found

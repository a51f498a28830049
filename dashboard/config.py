"""The dashboard service's typed settings."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from dashboard.oidc_settings import OidcSettings
from dashboard.sealing import SealingKeyInvalid, parse_key
from service_runtime.config import DEMO_SECRET_PREFIX, TARGETS_PATTERN, ServiceSettings
from service_runtime.redis_client import REDIS_URL_DESCRIPTION, REDIS_URL_PATTERN

OPTIONAL_TARGET = r"^$|^[A-Za-z0-9.-]+:[0-9]{1,5}$"
"""A host:port, or empty for a part the dashboard does not show."""


class DashboardSettings(ServiceSettings):
    """Settings of the dashboard (env prefix STABLEGATE_DASHBOARD_)."""

    model_config = SettingsConfigDict(env_prefix="STABLEGATE_DASHBOARD_")
    service_name: ClassVar[str] = "dashboard"
    mesh_role: ClassVar[str | None] = "dashboard"

    http_port: int = Field(
        default=8091,
        ge=1,
        le=65535,
        description="Port of the pages' HTTPS listener (mutual TLS: only Envoy, with its edge certificate, is "
        "answered). It binds `host`, like the gRPC port.",
    )
    public_url: str = Field(
        default="http://127.0.0.1:8080",
        pattern=r"^https?://[^/?#]+$",
        description="The origin the dashboard is reached at through Envoy (scheme://host[:port], no path): a POST "
        "whose Origin header differs is refused (CSRF), and emailed links start with it.",
    )
    database_url: str = Field(
        default="postgresql://postgres@127.0.0.1:5432/stablegate",
        description="Postgres connection URL; the dashboard owns schema `dashboard` and reads nothing else.",
    )
    database_pool_size: int = Field(default=5, ge=1, le=100, description="Connections in the pool.")
    migrate_on_start: bool = Field(
        default=False, description="Apply pending migrations at start (the dev profile always does)."
    )
    redis_url: str = Field(
        default="redis://127.0.0.1:6379/0",
        pattern=REDIS_URL_PATTERN,
        description="Redis: the sessions live there. " + REDIS_URL_DESCRIPTION,
    )
    ledger_target: str = Field(
        default="127.0.0.1:50051",
        pattern=TARGETS_PATTERN,
        description="host:port of the ledger (gRPC, mesh TLS); or IPv4:port,… of its replicas (round-robin).",
    )
    signer_target: str = Field(
        default="",
        pattern=OPTIONAL_TARGET,
        description="host:port of the signer (gRPC, mesh TLS with the `dashboard` certificate): the admin approvals "
        "queue and the signer's audit log read and relay through it, the health page reads its freeze state. "
        "Empty: those pages say the signer is not configured.",
    )
    token_decimals: int = Field(
        default=18, ge=0, le=36, description="Decimals of the token (BSC-USD has 18): amounts shown in token units."
    )
    watcher_target: str = Field(
        default="",
        pattern=OPTIONAL_TARGET,
        description="host:port of the watcher (gRPC, mesh TLS) for the admin health page; empty: not shown.",
    )
    settlement_target: str = Field(
        default="",
        pattern=OPTIONAL_TARGET,
        description="host:port of settlement (gRPC, mesh TLS) for the admin health and reconciliation pages; "
        "empty: not shown.",
    )
    ledger_admin_key: SecretStr = Field(
        default=SecretStr(""),
        description="An admin API key (`ak_…`) with the `admin` role: the dashboard onboards merchants and issues "
        "their API keys with it. Empty: `ledger_admin_key_path` is read instead; with neither, sign-up stops at "
        "business details with a clear error. Never logged.",
    )
    ledger_admin_key_path: Path | None = Field(
        default=None,
        description="A file holding that admin key, read each time the key is needed, so it may appear after the "
        "dashboard starts (`stablegate up` writes it once the ledger is up). Not `LEDGER_ADMIN_KEY_FILE`: that "
        "generic form (service_runtime/secrets.py) reads the file once, at start, and must exist then.",
    )
    secret_key: SecretStr = Field(
        default=SecretStr(""),
        description="Base64 of 32 random bytes: seals TOTP secrets and the dashboard's per-merchant read key at "
        "rest (AES-256-GCM), and the admin sign-in's login cookie; a key derived from it signs anonymous visitors' "
        "CSRF cookies (dashboard/csrf.py). Empty: a random key per process (TOTP enrolments then do not survive a "
        "restart, and a form opened on one replica is refused by another); prod requires one and refuses a "
        "`dev-only-` key.",
    )
    smtp_host: str = Field(default="", description="SMTP server for verification emails; empty: email is off.")
    smtp_port: int = Field(default=25, ge=1, le=65535, description="SMTP server port.")
    smtp_starttls: bool = Field(default=False, description="Upgrade the SMTP connection with STARTTLS.")
    smtp_username: str = Field(default="", description="SMTP login; empty: no login.")
    smtp_password: SecretStr = Field(default=SecretStr(""), description="SMTP password (never logged).")
    mail_dir: Path | None = Field(
        default=None,
        description="Development only: write each email as an .eml file here instead of sending it (`stablegate "
        "up` sets it; prod refuses it).",
    )
    email_from: str = Field(default="stablegate <no-reply@localhost>", description="From: of the emails sent.")
    session_idle_seconds: int = Field(
        default=30 * 60, ge=60, le=24 * 3600, description="A session unused this long ends (sliding)."
    )
    session_absolute_seconds: int = Field(
        default=12 * 3600, ge=300, le=7 * 24 * 3600, description="A session ends this long after login, used or not."
    )
    login_failure_limit: int = Field(
        default=10, ge=3, le=1000, description="Failed password attempts per account before sign-in is refused."
    )
    login_failure_window_seconds: int = Field(
        default=15 * 60, ge=60, le=24 * 3600, description="How long those failures count (from the first)."
    )
    reset_client_limit: int = Field(
        default=20,
        ge=1,
        le=10_000,
        description="Password reset requests per client address (IPv6: per /64) within `reset_client_window_seconds`, "
        "whatever addresses they name; past it the reset form answers 429 and sends nothing. The address is the one "
        "Envoy saw (dashboard/client_address.py); raise it for many users behind one NAT.",
    )
    reset_client_window_seconds: int = Field(
        default=3600, ge=60, le=24 * 3600, description="How long those reset requests count (from the first)."
    )
    verification_ttl_seconds: int = Field(
        default=24 * 3600, ge=300, le=7 * 24 * 3600, description="How long an email verification link works."
    )
    cookie_secure: bool = Field(
        default=True,
        description="Mark the session cookie Secure. Browsers accept Secure cookies from http://127.0.0.1 and "
        "localhost, so only a plain-http non-loopback deployment (never prod) needs false.",
    )

    oidc: OidcSettings | None = Field(
        default=None,
        description="Admin sign-in through an OpenID Connect provider (`STABLEGATE_DASHBOARD_OIDC__ISSUER`, "
        "`__CLIENT_ID`, `__CLIENT_SECRET_FILE`, `__REDIRECT_URI` = public_url + /dashboard/admin/callback, ...; "
        "docs/dashboard-oidc.md). Unset: admin sign-in is off and /dashboard/admin/login says how to configure it.",
    )
    admin_fresh_seconds: int = Field(
        default=15 * 60,
        ge=60,
        le=24 * 3600,
        description="An admin action that changes state (suspend, reactivate) needs a sign-in at most this old; "
        "an older one is sent to sign in again at the provider (with prompt=login).",
    )
    report_schedule_interval_seconds: float = Field(
        default=60.0,
        ge=0,
        le=3600,
        description="How often each replica looks for scheduled report emails that are due (docs/dashboard.md, "
        "Reports); 0 turns the scheduler off in this replica. Replicas never send one period twice.",
    )
    notify_interval_seconds: float = Field(
        default=30.0,
        ge=0,
        le=3600,
        description="How often each replica asks the ledger for newly paid invoices to email merchant teams about "
        "(docs/dashboard.md, Notification emails); 0 turns the notifier off in this replica. Replicas never send "
        "one email twice.",
    )

    @field_validator("secret_key")
    @classmethod
    def _key_is_32_bytes(cls, value: SecretStr) -> SecretStr:
        if value.get_secret_value():
            try:
                parse_key(value.get_secret_value())
            except SealingKeyInvalid as exc:
                raise ValueError(str(exc)) from None
        return value

    def prod_violations(self) -> list[tuple[str, str]]:
        """Production requires a real sealing key, Secure cookies, https and an admin key."""
        found = super().prod_violations()
        key = self.secret_key.get_secret_value()
        if not key or key.startswith(DEMO_SECRET_PREFIX):
            found.append(("secret_key", "prod refuses a missing or demo key; set the base64 of 32 random bytes"))
        if not self.cookie_secure:
            found.append(("cookie_secure", "prod always marks the session cookie Secure; set it true"))
        if self.mail_dir is not None:
            found.append(("mail_dir", "prod sends email over SMTP; unset MAIL_DIR and set SMTP_HOST"))
        if not self.public_url.startswith("https://"):
            found.append(("public_url", "prod serves the dashboard over https; set an https:// origin"))
        return found

    def admin_key(self) -> str:
        """The admin key: the setting, else the file's first line, else empty (onboarding is then refused)."""
        if key := self.ledger_admin_key.get_secret_value():
            return key
        if self.ledger_admin_key_path is not None:
            try:
                return self.ledger_admin_key_path.read_text().strip()
            except OSError:
                return ""
        return ""

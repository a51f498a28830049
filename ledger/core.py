"""What every ledger servicer shares: the pool, the settings, the chain terms, the verifier and a clock."""

from __future__ import annotations

import datetime as dt
import functools
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import asyncpg
from prometheus_client import CollectorRegistry

from ledger.auth import CredentialVerifier
from ledger.config import LedgerSettings
from ledger.dispatch import Dispatcher
from ledger.domain.checkout import CheckoutLinks, derive_key
from ledger.domain.fees import FeePlan
from ledger.domain.invoices import ChainTerms
from ledger.domain.models import Merchant
from ledger.domain.ssrf import Resolver, UrlPolicy
from ledger.kek import KekClient, KekConfig
from ledger.metrics import LedgerMetrics
from ledger.notify import Notifier, SmtpEmail, TwilioSms
from ledger.payments import PaymentRecorder
from ledger.payouts import PayoutBook, PayoutTerms
from ledger.schedules import PayoutScheduler
from ledger.secretbox import EnvelopeBox, Sealer, SecretBox, parse_key
from ledger.store import merchants as merchant_store
from ledger.webhook_http import SystemResolver, WebhookPoster

MERCHANT_CACHE_SECONDS = 5.0
"""How long a merchant's invoice defaults are reused before being read again."""


def utc_now() -> dt.datetime:
    """The current time, timezone-aware UTC."""
    return dt.datetime.now(dt.UTC)


@dataclass
class LedgerCore:
    """Dependencies of the ledger's servicers; `pool` and `verifier` are set at startup."""

    settings: LedgerSettings
    now: Callable[[], dt.datetime] = utc_now
    _pool: asyncpg.Pool | None = field(default=None, repr=False)
    _verifier: CredentialVerifier | None = field(default=None, repr=False)
    _recorder: PaymentRecorder | None = field(default=None, repr=False)
    _merchants: dict[str, tuple[float, Merchant]] = field(default_factory=dict, repr=False)
    metrics: LedgerMetrics = field(default_factory=LedgerMetrics, repr=False)
    """The ledger's own metrics; `bind_metrics` moves them into the serving runtime's registry."""
    resolver: Resolver = field(default_factory=SystemResolver, repr=False)
    """Resolves webhook hosts, at creation and at every send (tests inject their own)."""
    _dispatcher: Dispatcher | None = field(default=None, repr=False)
    _payouts: PayoutBook | None = field(default=None, repr=False)

    @property
    def pool(self) -> asyncpg.Pool:
        """The database pool (only after startup)."""
        assert self._pool is not None, "the ledger has not started"
        return self._pool

    @property
    def verifier(self) -> CredentialVerifier:
        """The API key verifier (only after startup)."""
        assert self._verifier is not None, "the ledger has not started"
        return self._verifier

    async def merchant(self, conn: asyncpg.Connection, merchant_id: str) -> Merchant | None:
        """A merchant's row for its invoice defaults, cached for a few seconds (defaults rarely change)."""
        cached = self._merchants.get(merchant_id)
        clock = time.monotonic()
        if cached is not None and cached[0] > clock:
            return cached[1]
        found = await merchant_store.get(conn, merchant_id)
        if found is not None:
            if len(self._merchants) > 10_000:
                self._merchants.clear()
            self._merchants[merchant_id] = (clock + MERCHANT_CACHE_SECONDS, found)
        return found

    @property
    def recorder(self) -> PaymentRecorder:
        """Records chain observations (only after startup)."""
        assert self._recorder is not None, "the ledger has not started"
        return self._recorder

    @functools.cached_property
    def secret_box(self) -> Sealer | None:
        """Seals webhook secrets: under the KEK token if configured, else with the configuration key.

        None when neither is configured (then no endpoint can be made).
        """
        s = self.settings
        key = s.webhook_secret_key.get_secret_value()
        legacy = SecretBox(parse_key(key)) if key else None
        if s.webhook_kek_token_label:
            config = KekConfig(
                s.webhook_kek_pkcs11_module, s.webhook_kek_token_label, s.webhook_kek_pin.get_secret_value()
            )
            return EnvelopeBox(KekClient(config), legacy)
        return legacy

    @functools.cached_property
    def checkout(self) -> CheckoutLinks:
        """Makes and checks checkout links (the key: CHECKOUT_TOKEN_KEY, else derived from the webhook key)."""
        own = self.settings.checkout_token_key.get_secret_value()
        webhook = self.settings.webhook_secret_key.get_secret_value()
        if own:
            key = parse_key(own)
        elif webhook:
            key = derive_key(parse_key(webhook))
        else:
            key = secrets.token_bytes(32)
        return CheckoutLinks(key, self.settings.checkout_base_url)

    @property
    def url_policy(self) -> UrlPolicy:
        """Which webhook URLs and addresses the profile allows."""
        s = self.settings
        return UrlPolicy(require_https=s.webhooks_require_https, allow_loopback=s.webhook_allow_loopback)

    @property
    def payouts(self) -> PayoutBook:
        """Payout operations (only after startup)."""
        assert self._payouts is not None, "the ledger has not started"
        return self._payouts

    @property
    def schedules(self) -> PayoutScheduler:
        """The payout scheduler (only after startup)."""
        return PayoutScheduler(self.payouts)

    @property
    def dispatcher(self) -> Dispatcher:
        """The webhook fan-out and sender (only after startup)."""
        assert self._dispatcher is not None, "the ledger has not started"
        return self._dispatcher

    def bind_metrics(self, registry: CollectorRegistry) -> None:
        """Register the ledger's metrics in the runtime's registry (before startup builds the recorder)."""
        self.metrics = LedgerMetrics(registry)

    def attach(self, pool: asyncpg.Pool) -> None:
        """Bind the started pool and build the verifier and the payment recorder on it."""
        s = self.settings
        self._pool = pool
        self._verifier = CredentialVerifier(pool, cache_seconds=s.credential_cache_seconds, now=self.now)
        self._recorder = PaymentRecorder(
            pool, chain_id=s.chain_id, token_contract=s.token_contract, asset=s.asset, metrics=self.metrics
        )
        self._payouts = PayoutBook(
            pool,
            PayoutTerms(
                asset=s.asset,
                chain_id=s.chain_id,
                token_contract=s.token_contract,
                decimals=s.token_decimals,
                fixed_fee=s.payout_fee_base_units,
                minimum=s.payout_minimum_base_units,
            ),
        )
        self._recorder.after_credit = self._payouts.auto_refund
        self._dispatcher = Dispatcher(
            database_url=s.database_url,
            pool=pool,
            box=lambda: self.secret_box,
            poster=WebhookPoster(
                policy=self.url_policy,
                resolver=self.resolver,
                connect_timeout=s.webhook_connect_timeout_seconds,
                total_timeout=s.webhook_timeout_seconds,
                response_limit=s.webhook_response_limit_bytes,
            ),
            now=self.now,
            senders=s.webhook_senders,
            metrics=self.metrics,
            lease_seconds=s.webhook_timeout_seconds + s.webhook_lease_margin_seconds,
            disable_after=dt.timedelta(seconds=s.webhook_disable_after_seconds),
            notifier=Notifier(
                database_url=s.database_url,
                pool=pool,
                email=SmtpEmail(
                    s.smtp_host,
                    s.smtp_port,
                    s.email_from,
                    s.smtp_username,
                    s.smtp_password.get_secret_value(),
                    s.smtp_starttls,
                )
                if s.smtp_host
                else None,
                sms=TwilioSms(s.sms_api_url, s.sms_account_sid, s.sms_auth_token.get_secret_value(), s.sms_from)
                if s.sms_api_url
                else None,
                now=self.now,
            ),
        )

    @functools.cached_property
    def default_fee_plan(self) -> FeePlan:
        """The fee plan of merchants without one of their own (from the settings)."""
        s = self.settings
        return FeePlan(
            bps=s.default_fee_bps, fixed=s.default_fee_fixed_base_units, minimum=s.default_fee_minimum_base_units
        )

    @functools.cached_property
    def terms(self) -> ChainTerms:
        """The chain, token and forwarder every invoice uses (read from the settings once)."""
        s = self.settings
        return ChainTerms(
            chain_id=s.chain_id,
            asset=s.asset,
            token_contract=s.token_contract,
            token_decimals=s.token_decimals,
            forwarder_factory=s.forwarder_factory,
            forwarder_init_code_hash=bytes.fromhex(s.forwarder_init_code_hash[2:]),
            monitoring_window=dt.timedelta(seconds=s.monitoring_window_seconds),
        )

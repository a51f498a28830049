"""Wiring of the ledger service: its pool, migrations in dev, authentication, and what it serves."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import grpc
from stablegate.admin.v1 import (
    api_key_admin_service_pb2_grpc,
    audit_log_service_pb2_grpc,
    merchant_admin_service_pb2_grpc,
    report_service_pb2_grpc,
    stray_funds_admin_service_pb2_grpc,
)
from stablegate.ledger.v1 import (
    chain_observation_service_pb2_grpc,
    checkout_service_pb2_grpc,
    credential_service_pb2_grpc,
    deposit_address_service_pb2_grpc,
    dispatcher_status_service_pb2_grpc,
    journal_service_pb2_grpc,
    operator_event_service_pb2_grpc,
    payout_ledger_service_pb2_grpc,
    sweep_ledger_service_pb2_grpc,
    treasury_ledger_service_pb2_grpc,
)
from stablegate.merchant.v1 import (
    balance_service_pb2_grpc,
    invoice_service_pb2_grpc,
    payout_schedule_service_pb2_grpc,
    payout_service_pb2_grpc,
    refund_service_pb2_grpc,
    settlement_address_service_pb2_grpc,
    statement_service_pb2_grpc,
    webhook_service_pb2_grpc,
)

from ledger.api.admin import ApiKeyAdmin, MerchantAdmin
from ledger.api.audit import AuditLog
from ledger.api.auth import AuthInterceptor
from ledger.api.checkout import Checkout
from ledger.api.credentials import Credentials
from ledger.api.deposit_addresses import DepositAddresses
from ledger.api.dispatcher_status import DispatcherStatus
from ledger.api.invoices import Balances, Invoices
from ledger.api.journal import Journal
from ledger.api.observations import ChainObservations
from ledger.api.operator_events import OperatorEvents
from ledger.api.payout_schedules import PayoutSchedules
from ledger.api.payouts import PayoutLedger, Payouts
from ledger.api.refunds import Refunds
from ledger.api.reports import Reports
from ledger.api.settlement_addresses import SettlementAddresses
from ledger.api.statements import Statements
from ledger.api.stray import StrayFundsAdmin
from ledger.api.sweeps import SweepLedger
from ledger.api.treasury import TreasuryLedger
from ledger.api.webhooks import WebhookEndpoints
from ledger.auth import DASHBOARD_KEY_METHODS
from ledger.config import LedgerSettings
from ledger.core import LedgerCore
from ledger.secretbox import EnvelopeBox
from ledger.store.db import apply_migrations, open_pool
from service_runtime.config import Profile
from service_runtime.mesh import MethodRoles, Role
from service_runtime.server import ServiceDefinition
from service_runtime.surface import register_unimplemented

log = logging.getLogger("stablegate.ledger")

SERVED = (
    "stablegate.merchant.v1.InvoiceService",
    "stablegate.merchant.v1.WebhookEndpointService",
    "stablegate.merchant.v1.BalanceService",
    "stablegate.merchant.v1.SettlementAddressService",
    "stablegate.merchant.v1.PayoutService",
    "stablegate.merchant.v1.RefundService",
    "stablegate.merchant.v1.PayoutScheduleService",
    "stablegate.merchant.v1.StatementService",
    "stablegate.admin.v1.MerchantAdminService",
    "stablegate.admin.v1.ApiKeyAdminService",
    "stablegate.admin.v1.AuditLogService",
    "stablegate.admin.v1.StrayFundsAdminService",
    "stablegate.admin.v1.ReportService",
    "stablegate.ledger.v1.ChainObservationService",
    "stablegate.ledger.v1.CheckoutService",
    "stablegate.ledger.v1.CredentialService",
    "stablegate.ledger.v1.DepositAddressService",
    "stablegate.ledger.v1.DispatcherStatusService",
    "stablegate.ledger.v1.JournalService",
    "stablegate.ledger.v1.SweepLedgerService",
    "stablegate.ledger.v1.OperatorEventService",
    "stablegate.ledger.v1.PayoutLedgerService",
    "stablegate.ledger.v1.TreasuryLedgerService",
)
# Drafted in the protos, built by later issues (Chain, the rest of Ledger): UNIMPLEMENTED for now.
NOT_BUILT: tuple[str, ...] = ()

# Who may call what (docs/security.md). Public APIs: Envoy (edge) and the dashboard, with a merchant or admin key
# on top. Internal APIs: only the service whose job it is.
DASHBOARD_MERCHANT_METHODS = tuple(
    f"/stablegate.merchant.v1.{method}"
    for method in (
        "InvoiceService/CreateInvoice",
        "InvoiceService/GetInvoice",
        "InvoiceService/ListInvoices",
        "WebhookEndpointService/CreateWebhookEndpoint",
        "WebhookEndpointService/GetWebhookEndpoint",
        "WebhookEndpointService/ListWebhookEndpoints",
        "WebhookEndpointService/ListWebhookDeliveries",
        "WebhookEndpointService/RedeliverWebhook",
        "WebhookEndpointService/ReplayFailedWebhooks",
        "BalanceService/GetBalance",
        "SettlementAddressService/CreateSettlementAddress",
        "SettlementAddressService/ListSettlementAddresses",
        "PayoutService/GetPayoutQuote",
        "PayoutService/CreatePayout",
        "PayoutService/ListPayouts",
        "RefundService/CreateRefund",
        "RefundService/ListRefunds",
    )
)
"""The merchant methods the dashboard's pages call (with a merchant's key), and the only ones its certificate may."""
DASHBOARD_ADMIN_METHODS = tuple(sorted(DASHBOARD_KEY_METHODS))
"""The admin methods the dashboard calls, and the only ones its certificate may: those its admin key's role
`dashboard` allows (ledger/auth.py `DASHBOARD_KEY_METHODS`, the one list)."""
DASHBOARD_METHODS = DASHBOARD_MERCHANT_METHODS + DASHBOARD_ADMIN_METHODS
"""Every public method the dashboard's certificate may call: the rest of the merchant and admin APIs is the edge's
(keys through Envoy). A test keeps this list equal to the calls in dashboard/
(tests/ledger/test_ledger_dashboard_scope.py); a page that needs another method adds it here and to
docs/security.md."""

ROLES: MethodRoles = {
    "/stablegate.merchant.v1.": frozenset({Role.EDGE}),
    "/stablegate.admin.v1.": frozenset({Role.EDGE}),
    **{method: frozenset({Role.EDGE, Role.DASHBOARD}) for method in DASHBOARD_METHODS},
    "/stablegate.ledger.v1.CredentialService/": frozenset({Role.EDGE}),
    "/stablegate.ledger.v1.ChainObservationService/": frozenset({Role.WATCHER}),
    "/stablegate.ledger.v1.CheckoutService/": frozenset({Role.CHECKOUT}),
    "/stablegate.ledger.v1.DepositAddressService/ListDepositAddresses": frozenset({Role.WATCHER, Role.SETTLEMENT}),
    "/stablegate.ledger.v1.DepositAddressService/ListDepositAddressChanges": frozenset({Role.WATCHER}),
    "/stablegate.ledger.v1.DepositAddressService/RegisterDepositAddress": frozenset({Role.SETTLEMENT}),
    "/stablegate.ledger.v1.JournalService/": frozenset({Role.SETTLEMENT}),
    "/stablegate.ledger.v1.SweepLedgerService/": frozenset({Role.SETTLEMENT}),
    "/stablegate.ledger.v1.OperatorEventService/": frozenset({Role.SETTLEMENT}),
    "/stablegate.ledger.v1.PayoutLedgerService/": frozenset({Role.SETTLEMENT}),
    "/stablegate.ledger.v1.TreasuryLedgerService/": frozenset({Role.SETTLEMENT}),
    # The dashboard's admin health page: the webhook dispatcher's backlog (read-only).
    "/stablegate.ledger.v1.DispatcherStatusService/": frozenset({Role.OPERATOR, Role.DASHBOARD}),
}


def definition(settings: LedgerSettings, core: LedgerCore | None = None) -> ServiceDefinition:
    """The ledger's gRPC surface, with its startup (pool, dev migrations) and shutdown."""
    core = core or LedgerCore(settings)

    expiry_task: list[asyncio.Task[None]] = []

    async def expire_forever() -> None:
        # Every replica runs it; rows are claimed with SKIP LOCKED, so the work is shared, never doubled.
        while True:
            try:
                await core.recorder.expire_due(core.now())
            except Exception:
                log.exception("expiry pass failed; retrying")
            await asyncio.sleep(settings.expiry_interval_seconds)

    async def startup() -> None:
        pool = await open_pool(
            settings.database_url, settings.database_pool_size, wait_seconds=settings.database_wait_seconds
        )
        if settings.migrate_on_start or settings.profile is Profile.DEV:
            applied = await apply_migrations(settings.database_url)
            if applied:
                log.info("migrated", extra={"migrations": applied})
        core.attach(pool)
        box = core.secret_box
        if isinstance(box, EnvelopeBox):
            # Fail at start, naming the token, when it cannot be opened or holds no KEK yet.
            version = await asyncio.to_thread(box.current_version, fresh=True)
            log.info("webhook secrets sealed under the token's KEK", extra={"kek_version": version})
        expiry_task.append(asyncio.create_task(expire_forever()))
        if settings.payout_schedule_interval_seconds > 0:
            expiry_task.append(
                asyncio.create_task(core.schedules.run_forever(settings.payout_schedule_interval_seconds, core.now))
            )
        if settings.webhook_dispatch:
            core.dispatcher.start()

    async def shutdown() -> None:
        if settings.webhook_dispatch:
            await core.dispatcher.stop()
        for task in expiry_task:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await core.pool.close()
        box = core.secret_box
        if isinstance(box, EnvelopeBox):
            await asyncio.to_thread(box.close)

    def register(server: grpc.aio.Server) -> None:
        servicers: list[tuple[Any, Any]] = [
            (invoice_service_pb2_grpc.add_InvoiceServiceServicer_to_server, Invoices),
            (balance_service_pb2_grpc.add_BalanceServiceServicer_to_server, Balances),
            (merchant_admin_service_pb2_grpc.add_MerchantAdminServiceServicer_to_server, MerchantAdmin),
            (api_key_admin_service_pb2_grpc.add_ApiKeyAdminServiceServicer_to_server, ApiKeyAdmin),
            (audit_log_service_pb2_grpc.add_AuditLogServiceServicer_to_server, AuditLog),
            (stray_funds_admin_service_pb2_grpc.add_StrayFundsAdminServiceServicer_to_server, StrayFundsAdmin),
            (report_service_pb2_grpc.add_ReportServiceServicer_to_server, Reports),
            (credential_service_pb2_grpc.add_CredentialServiceServicer_to_server, Credentials),
            (chain_observation_service_pb2_grpc.add_ChainObservationServiceServicer_to_server, ChainObservations),
            (deposit_address_service_pb2_grpc.add_DepositAddressServiceServicer_to_server, DepositAddresses),
            (checkout_service_pb2_grpc.add_CheckoutServiceServicer_to_server, Checkout),
            (webhook_service_pb2_grpc.add_WebhookEndpointServiceServicer_to_server, WebhookEndpoints),
            (sweep_ledger_service_pb2_grpc.add_SweepLedgerServiceServicer_to_server, SweepLedger),
            (journal_service_pb2_grpc.add_JournalServiceServicer_to_server, Journal),
            (operator_event_service_pb2_grpc.add_OperatorEventServiceServicer_to_server, OperatorEvents),
            (settlement_address_service_pb2_grpc.add_SettlementAddressServiceServicer_to_server, SettlementAddresses),
            (payout_service_pb2_grpc.add_PayoutServiceServicer_to_server, Payouts),
            (refund_service_pb2_grpc.add_RefundServiceServicer_to_server, Refunds),
            (payout_schedule_service_pb2_grpc.add_PayoutScheduleServiceServicer_to_server, PayoutSchedules),
            (statement_service_pb2_grpc.add_StatementServiceServicer_to_server, Statements),
            (payout_ledger_service_pb2_grpc.add_PayoutLedgerServiceServicer_to_server, PayoutLedger),
            (treasury_ledger_service_pb2_grpc.add_TreasuryLedgerServiceServicer_to_server, TreasuryLedger),
            (dispatcher_status_service_pb2_grpc.add_DispatcherStatusServiceServicer_to_server, DispatcherStatus),
        ]
        for add, servicer in servicers:
            add(servicer(core), server)
        register_unimplemented(server, NOT_BUILT)

    return ServiceDefinition(
        "ledger",
        register,
        SERVED,
        startup=startup,
        shutdown=shutdown,
        metrics=core.bind_metrics,
        interceptors=(AuthInterceptor(lambda: core.verifier, trust_domain=settings.tls.trust_domain),),
        roles=ROLES,
    )

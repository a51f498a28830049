"""The person acting through the dashboard lands in the ledger's audit next to the key, believed only from the
dashboard's mesh role.

A real ledger on a real Postgres, called over mutual TLS: with the dashboard's own channel (its certificate and its
interceptor, dashboard/acting.py) an operator's suspension is audited naming that operator; the same metadata sent
with the edge's certificate (any key holder through Envoy) is ignored; a malformed name from the dashboard is
refused and changes nothing.
"""

from __future__ import annotations

import contextvars
import json
from typing import Any

import grpc
import pytest
from google.protobuf.json_format import MessageToDict
from stablegate.admin.v1 import audit_log_service_pb2 as audit_pb
from stablegate.admin.v1 import audit_log_service_pb2_grpc as audit_grpc
from stablegate.admin.v1 import merchant_admin_service_pb2 as merchants_pb
from stablegate.admin.v1 import merchant_admin_service_pb2_grpc as merchants_grpc

from dashboard import acting
from ledger.api.acting import EMAIL_HEADER, ID_HEADER, KIND_HEADER
from ledger.domain.audit import AuditEvent, chain_hash
from service_runtime import mesh
from service_runtime.mesh import Role
from tests.ledger.ledger_harness import Ledger, running_ledger

ACTING_KEYS = ("actingUserKind", "actingUserId", "actingUserEmail")


async def suspend_events(ledger: Ledger, merchant_id: str) -> list[dict[str, Any]]:
    """The audit rows of suspensions of this merchant, as the admin API returns them (newest first)."""
    reply = await audit_grpc.AuditLogServiceStub(ledger.channel).ListAuditEvents(
        audit_pb.ListAuditEventsRequest(subject=f"merchants/{merchant_id}", action="merchant.suspend"),
        metadata=ledger.auth(ledger.admin_key),
    )
    return [MessageToDict(e, preserving_proto_field_name=True) for e in reply.audit_events]


async def test_an_operators_suspension_through_the_dashboard_channel_names_the_operator(ledger_db: str) -> None:
    async with running_ledger(ledger_db) as ledger:
        merchant_id, _ = await ledger.merchant_with_key()
        target = f"127.0.0.1:{ledger.grpc_port}"
        channel = acting.ledger_channel(target, ledger.pki.files(Role.DASHBOARD))

        async def as_operator() -> None:
            # What the dashboard's middleware does for an admin session; a UTF-8 email survives the metadata.
            acting.act_as("operator", "oidc|alice", "zoë@example.test")
            await merchants_grpc.MerchantAdminServiceStub(channel).SuspendMerchant(
                merchants_pb.SuspendMerchantRequest(id=merchant_id, reason="chargebacks"),
                metadata=ledger.auth(ledger.admin_key),
            )

        async with channel:
            await contextvars.copy_context().run(as_operator)

        [event] = await suspend_events(ledger, merchant_id)
        assert event["actor"] == "admin_key:adm_test"  # the key stays the actor
        assert event["details"]["actingUserKind"] == "operator"
        assert event["details"]["actingUserId"] == "oidc|alice"
        assert event["details"]["actingUserEmail"] == "zoë@example.test"
        assert event["details"]["reason"] == "chargebacks"
        # The name is inside the hash chain: the row's hash is the one recomputed over what it says.
        [row] = await ledger.fetch(
            "SELECT sequence, id, actor, action, subject, event_time, details::text, request_id, prev_hash, hash "
            "FROM ledger.audit_events WHERE id = $1",
            event["id"],
        )
        stored = AuditEvent(
            id=row["id"],
            sequence=row["sequence"],
            actor=row["actor"],
            action=row["action"],
            subject=row["subject"],
            event_time=row["event_time"],
            details=json.loads(row["details"]),
            request_id=row["request_id"],
        )
        assert stored.details["actingUserEmail"] == "zoë@example.test"
        assert chain_hash(row["prev_hash"], stored) == row["hash"]


async def test_acting_user_metadata_from_a_caller_other_than_the_dashboard_is_not_recorded(ledger_db: str) -> None:
    async with running_ledger(ledger_db) as ledger:
        merchant_id, _ = await ledger.merchant_with_key()
        forged = (
            *ledger.auth(ledger.admin_key),
            (KIND_HEADER, "operator"),
            (ID_HEADER, "oidc|alice"),
            (EMAIL_HEADER, "alice@example.test"),
        )
        # `ledger.channel` holds the edge's certificate: what any admin key holder reaches through Envoy.
        await ledger.merchants.SuspendMerchant(
            merchants_pb.SuspendMerchantRequest(id=merchant_id, reason="forged actor"), metadata=forged
        )
        [event] = await suspend_events(ledger, merchant_id)
        assert event["actor"] == "admin_key:adm_test"
        assert not set(ACTING_KEYS) & set(event["details"]), event["details"]
        assert "alice" not in str(event)


@pytest.mark.parametrize(
    ("headers", "field"),
    [
        (((KIND_HEADER, "superuser"), (ID_HEADER, "oidc|alice")), "kind"),
        (((KIND_HEADER, "operator"),), "id"),
        (((KIND_HEADER, "operator"), (ID_HEADER, "oidc%0Aalice")), "id"),
        (((KIND_HEADER, "operator"), (ID_HEADER, "oidc|alice"), (EMAIL_HEADER, "not-an-email")), "email"),
    ],
)
async def test_a_malformed_acting_user_from_the_dashboard_is_refused_and_changes_nothing(
    ledger_db: str, headers: tuple[tuple[str, str], ...], field: str
) -> None:
    async with running_ledger(ledger_db) as ledger:
        merchant_id, _ = await ledger.merchant_with_key()
        target = f"127.0.0.1:{ledger.grpc_port}"
        async with mesh.channel(target, ledger.pki.files(Role.DASHBOARD)) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await merchants_grpc.MerchantAdminServiceStub(channel).SuspendMerchant(
                    merchants_pb.SuspendMerchantRequest(id=merchant_id, reason="x"),
                    metadata=(*ledger.auth(ledger.admin_key), *headers),
                )
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert f"acting user's {field}" in (refused.value.details() or "")
        assert await suspend_events(ledger, merchant_id) == []
        status = await ledger.value("SELECT status FROM ledger.merchants WHERE id = $1", merchant_id)
        assert status == "ACTIVE"

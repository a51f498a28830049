"""dashboard/acting.py without a server: who a session names, the metadata it becomes, how the audit shows it;
and the ledger's reading of that metadata (ledger/api/acting.py), so the two ends agree."""

from __future__ import annotations

import pytest

from dashboard.acting import ActingUser, acting_user_cell, from_session, shown_actor
from dashboard.sessions import Session, Stage
from ledger.api.acting import asserted_acting_user
from service_runtime.errors import InvalidArgument
from service_runtime.mesh import Role


def test_an_admin_session_is_an_operator_and_a_signed_in_one_a_merchant_user() -> None:
    admin = Session(csrf="c", stage=Stage.ADMIN, user_id="sub-1", data={"email": "ops@example.test"})
    assert from_session(admin) == ActingUser("operator", "sub-1", "ops@example.test")
    assert from_session(Session(csrf="c", stage=Stage.SIGNED_IN, user_id="usr_1")) == ActingUser(
        "merchant_user", "usr_1"
    )
    # Half-way through a login, or nobody: no one acts.
    for stage in (Stage.ANONYMOUS, Stage.ENROL, Stage.SECOND_FACTOR):
        assert from_session(Session(csrf="c", stage=stage, user_id="usr_1")) is None
    assert from_session(Session(csrf="c", stage=Stage.ADMIN)) is None
    assert from_session(None) is None


def test_the_metadata_the_dashboard_sends_is_what_the_ledger_reads_back_from_the_dashboard_only() -> None:
    user = ActingUser("operator", "oidc|zoë 1", "zoë+ops@example.test")
    metadata = dict(user.metadata())
    assert all(v.isascii() and v.isprintable() for v in metadata.values()), metadata
    read = asserted_acting_user(metadata, Role.DASHBOARD)
    assert read is not None and (read.kind, read.id, read.email) == (user.kind, user.id, user.email)
    for role in (Role.EDGE, Role.SETTLEMENT, Role.OPERATOR, None):
        assert asserted_acting_user(metadata, role) is None
    assert asserted_acting_user({}, Role.DASHBOARD) is None  # a scheduler's call names no one


def test_metadata_that_is_not_percent_encoded_utf8_is_refused() -> None:
    with pytest.raises(InvalidArgument) as refused:
        asserted_acting_user(
            {"x-stablegate-acting-user-kind": "operator", "x-stablegate-acting-user-id": "%ff"}, Role.DASHBOARD
        )
    assert refused.value.reason == "ACTING_USER_INVALID"


def test_the_audit_shows_the_person_with_the_key() -> None:
    details = {"actingUserKind": "merchant_user", "actingUserId": "usr_1", "actingUserEmail": "a@shop.example"}
    assert shown_actor("admin_key:adm_1", details) == "a@shop.example (merchant user) via admin_key:adm_1"
    assert acting_user_cell(details) == "merchant_user:usr_1 <a@shop.example>"
    no_email = {"actingUserKind": "operator", "actingUserId": "sub-1"}
    assert shown_actor("admin_key:adm_1", no_email) == "sub-1 (operator) via admin_key:adm_1"
    assert acting_user_cell(no_email) == "operator:sub-1"
    assert shown_actor("cli:root", {"reason": "x"}) == "cli:root"
    assert acting_user_cell({}) == ""

"""Issue 22, acceptance 3: two approvers approve a cold-storage move in the browser and it lands on chain; the audit
viewer shows their decisions with a chain the dashboard verified itself.

The whole needed mesh runs as processes: anvil with our treasury (its HOT role on an HSM key), the signer (SoftHSM,
a policy holding cold moves above 50 tokens for 2 of the officers), settlement's hot/cold mover, the ledger, the
edge, Envoy, the dashboard (relaying to the signer with its `dashboard` mesh certificate) and npm oidc-provider.
Each approver signs in through the provider's own login page in Chromium, opens the held request, and the test
signs the page's typed data with that approver's eth_account key, as their wallet would, and pastes the signature.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from playwright.sync_api import Browser, BrowserContext, Page, expect
from stablegate.signer.v1 import approval_service_pb2 as apb
from stablegate.signer.v1 import approval_service_pb2_grpc as apb_grpc
from stablegate.signer.v1 import audit_service_pb2 as audit_pb
from stablegate.signer.v1 import audit_service_pb2_grpc as audit_grpc
from stablegate.signer.v1 import signing_service_pb2 as signing_pb
from stablegate.signer.v1 import signing_service_pb2_grpc as signing_grpc

from dashboard.admin_exports import APPROVALS, LEDGER_AUDIT, SIGNER_AUDIT
from dashboard.app import CSP
from edge.envoy_config import DASHBOARD_CSP
from gateway import parts
from service_runtime.devcerts import DevMesh
from service_runtime.mesh import Role
from signer.domain.eip712 import unfreeze_typed_data
from signer.domain.purpose import KeyPurpose
from signer.keystore.base import KeyInfo
from signer.keystore.workers import WorkerKeyStore
from tests.conftest import mesh_sync_channel
from tests.dashboard.conftest import DESKTOP, PHONE, DashboardStack, Mailbox
from tests.dashboard.flows import SHOTS, assert_accessible, assert_readable, download_csv, open_page
from tests.dashboard.oidc_fixture import OidcTestProvider, start_oidc_provider
from tests.dashboard.test_dashboard_admin import post_as, sign_in
from tests.edge.conftest import launch_stack
from tests.settlement.settlement_harness import (
    UNIT,
    SignerProcess,
    SweepChain,
    cold_move_rules,
    start_signer,
    start_sweep_chain,
)
from tests.signer.conftest import hsm_config

if TYPE_CHECKING:
    from tests.conftest import PostgresServer, RedisServer

pytestmark = pytest.mark.timeout(240)

OFFICERS: list[LocalAccount] = [Account.create() for _ in range(2)]
INITIATOR: LocalAccount = Account.create()
STRANGER: LocalAccount = Account.create()
CEILING, TARGET, THRESHOLD = 50 * UNIT, 20 * UNIT, 50 * UNIT
FUNDED = 80 * UNIT
"""The treasury gets 80 tokens: 60 above the target, a move over the approval threshold."""

PHONE_ROOM = 150
"""Pixels the approval page's decisive facts must leave free below them on a phone (it once passed by 1 px)."""


def cold_move_policy(chain: SweepChain) -> str:
    """Cold moves up to 50 tokens are signed at once; larger ones wait for two officers (the initiator never counts)."""
    approvers = [a.address for a in [*OFFICERS, INITIATOR]]
    return "\nversion: 1\nrules:" + cold_move_rules(chain, THRESHOLD, approvers, unfreeze=True)


@dataclass
class ApprovalMesh:
    """The running mesh: the dashboard stack, the provider, the chain, the signer, the held request's id."""

    dash: DashboardStack
    provider: OidcTestProvider
    chain: SweepChain
    signer: SignerProcess
    pki: DevMesh
    approval_id: str = ""

    def approve_records(self) -> list[dict[str, object]]:
        """Bodies of the signer's audit records of action `approve`, in order (read as an operator's tool)."""
        channel = mesh_sync_channel(self.pki, Role.OPERATOR, self.signer.port)
        try:
            request = audit_pb.ListAuditRecordsRequest(action="approve", page_size=1000)
            reply = audit_grpc.AuditServiceStub(channel).ListAuditRecords(request, timeout=10)
        finally:
            channel.close()
        return [json.loads(r.body_json) for r in reply.records]

    def audit(self, action: str) -> list[dict[str, object]]:
        """Bodies of the signer's audit records of one action, in order (read as an operator's tool)."""
        channel = mesh_sync_channel(self.pki, Role.OPERATOR, self.signer.port)
        try:
            request = audit_pb.ListAuditRecordsRequest(action=action, page_size=1000)
            reply = audit_grpc.AuditServiceStub(channel).ListAuditRecords(request, timeout=10)
        finally:
            channel.close()
        return [json.loads(r.body_json) for r in reply.records]

    def freeze(self, reason: str) -> signing_pb.FreezeState:
        """Freeze all signing as the operator's tool does; the state afterwards."""
        channel = mesh_sync_channel(self.pki, Role.OPERATOR, self.signer.port)
        try:
            stub = signing_grpc.SigningServiceStub(channel)
            return stub.FreezeSigning(signing_pb.FreezeSigningRequest(reason=reason), timeout=10).state
        finally:
            channel.close()

    def freeze_state(self) -> signing_pb.FreezeState:
        """The signer's freeze state (read as an operator's tool)."""
        channel = mesh_sync_channel(self.pki, Role.OPERATOR, self.signer.port)
        try:
            stub = signing_grpc.SigningServiceStub(channel)
            return stub.GetFreezeState(signing_pb.GetFreezeStateRequest(), timeout=10).state
        finally:
            channel.close()

    def held(self) -> list[apb.Approval]:
        """The signer's held requests (read as an operator's tool)."""
        channel = mesh_sync_channel(self.pki, Role.OPERATOR, self.signer.port)
        try:
            reply = apb_grpc.ApprovalServiceStub(channel).ListApprovals(
                apb.ListApprovalsRequest(page_size=100), timeout=10
            )
        finally:
            channel.close()
        return list(reply.approvals)


def make_hot_key(token: parts.SoftHsmToken) -> KeyInfo:
    """The HOT key, made in the module's HSM token (in a thread: Playwright's sync API owns this thread's loop)."""

    async def make() -> KeyInfo:
        store = WorkerKeyStore(hsm_config(token), workers=1)
        await store.start()
        try:
            return await store.create_key(KeyPurpose.HOT, "hot")
        finally:
            await store.close()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, make()).result(timeout=60)


def wait_for(condition: Callable[[], bool], what: str, *, within: float = 90.0, mine: SweepChain | None = None) -> None:
    """Poll until `condition()` holds (mining a few blocks between polls when asked: finality trails the head)."""
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        if mine is not None:
            mine.mine(3)
        time.sleep(0.3)


@pytest.fixture(scope="module")
def mesh(  # noqa: PLR0917 - one fixture per part
    postgres: PostgresServer,
    redis_server: RedisServer,
    mesh_pki: DevMesh,
    mailbox: tuple[Mailbox, int],
    softhsm_token: parts.SoftHsmToken,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ApprovalMesh]:
    """Every part running, and the treasury's excess waiting at the signer for two officers."""
    started: list[parts.RunningProcess] = []
    base = Path(tmp_path_factory.mktemp("dashboard-approvals"))
    try:
        hot = make_hot_key(softhsm_token)
        chain = start_sweep_chain(started, hot.address, hot=hot.address)
        signer = start_signer(base / "signer", mesh_pki, softhsm_token, cold_move_policy(chain), started)
        listen_port = parts.free_port()
        callback = f"http://127.0.0.1:{listen_port}/dashboard/admin/callback"
        provider = start_oidc_provider(base / "oidc", [callback])
        started.append(provider.process)
        env = {
            **provider.dashboard_env(callback),
            "STABLEGATE_DASHBOARD_SIGNER_TARGET": signer.target,
            "STABLEGATE_DASHBOARD_LOG_LEVEL": "INFO",
        }
        stack, ledger_port = launch_stack(
            postgres, redis_server, mesh_pki, base, started, dashboard_env=env, listen_port=listen_port
        )
        spec, ready = parts.prepare_service(
            "settlement",
            base,
            {
                "STABLEGATE_SETTLEMENT_PROFILE": "test",
                "STABLEGATE_SETTLEMENT_DATABASE_URL": stack.database_url,
                "STABLEGATE_SETTLEMENT_MIGRATE_ON_START": "true",
                "STABLEGATE_SETTLEMENT_RPC_URLS": json.dumps([chain.url]),
                "STABLEGATE_SETTLEMENT_LEDGER_TARGET": f"127.0.0.1:{ledger_port}",
                "STABLEGATE_SETTLEMENT_SIGNER_TARGET": signer.target,
                "STABLEGATE_SETTLEMENT_TOKEN_CONTRACT": chain.token,
                "STABLEGATE_SETTLEMENT_TREASURY_ADDRESS": chain.treasury,
                "STABLEGATE_SETTLEMENT_COLD_SAFE_ADDRESS": chain.cold_safe,
                "STABLEGATE_SETTLEMENT_HOT_COLD_ENABLED": "true",
                "STABLEGATE_SETTLEMENT_HOT_KEY_ID": hot.key_id,
                "STABLEGATE_SETTLEMENT_HOT_ADDRESS": hot.address,
                "STABLEGATE_SETTLEMENT_TREASURY_CEILING_BASE_UNITS": str(CEILING),
                "STABLEGATE_SETTLEMENT_TREASURY_TARGET_BASE_UNITS": str(TARGET),
                "STABLEGATE_SETTLEMENT_COLD_MOVE_INITIATOR_ADDRESS": INITIATOR.address,
                "STABLEGATE_SETTLEMENT_SWEEP_INTERVAL_SECONDS": "0.5",
                "STABLEGATE_SETTLEMENT_REBROADCAST_SECONDS": "1",
                "STABLEGATE_SETTLEMENT_LOG_LEVEL": "INFO",
                **mesh_pki.files(Role.SETTLEMENT).env("settlement"),
            },
        )
        started.append(parts.start(spec))
        parts.read_ready_file(ready)
        made = ApprovalMesh(
            DashboardStack(stack, mailbox[0], base / "dashboard.log"), provider, chain, signer, mesh_pki
        )
        chain.chain.mint(chain.token, chain.treasury, FUNDED)
        wait_for(lambda: bool(made.held()), "the cold move to be held at the signer", mine=chain)
        [held] = made.held()
        assert held.status == apb.APPROVAL_STATUS_PENDING and held.amount_base_units == str(FUNDED - TARGET)
        made.approval_id = held.id
        yield made
    finally:
        for proc in reversed(started):
            proc.stop()


def open_approval(context: BrowserContext, mesh: ApprovalMesh, user: str) -> Page:
    """Sign in as `user` through the provider, then open the held request from the queue."""
    sign_in(context, mesh.dash, mesh.provider, user)
    page, errors = open_page(context)
    page.goto(mesh.dash.url + "admin/approvals")
    row = page.locator(f"#approval-{mesh.approval_id}")
    expect(row.locator(".status")).to_have_text("PENDING")
    row.locator("a").click()
    page.wait_for_url(f"{mesh.dash.url}admin/approvals/{mesh.approval_id}")
    assert errors == []  # no CSP refusal: the wallet script is same-origin
    return page


def wallet_signature(page: Page, who: LocalAccount) -> str:
    """What the approver's wallet makes: eth_signTypedData_v4 over the typed data the page shows, as shown."""
    typed = json.loads(page.locator("#typed-data").text_content() or "")
    assert typed["primaryType"] == "SigningApproval"
    assert str(typed["message"]["deadline"]) == page.get_attribute("#deadline", "value")
    signed = who.sign_message(encode_typed_data(full_message=typed))
    return "0x" + signed.signature.hex()


def browser_wallet(context: BrowserContext, who: LocalAccount) -> None:
    """A browser wallet in every page of the context: window.ethereum answering eth_requestAccounts and
    eth_signTypedData_v4 with `who`'s key (the signing done by the test, as the wallet's extension would)."""

    def sign_typed_data(address: str, typed_json: str) -> str:
        assert address.lower() == who.address.lower()
        return "0x" + who.sign_message(encode_typed_data(full_message=json.loads(typed_json))).signature.hex()

    context.expose_function("testWalletSign", sign_typed_data)
    context.add_init_script(
        "window.ethereum = {request: async ({method, params}) => {"
        f"  if (method === 'eth_requestAccounts') return ['{who.address}'];"
        "  if (method === 'eth_signTypedData_v4') return await window.testWalletSign(params[0], params[1]);"
        "  throw new Error('unsupported ' + method);"
        "}};"
    )


def submit(page: Page, signature: str) -> None:
    page.fill("#signature", signature)
    page.click("#approve")
    page.wait_for_load_state()


def test_bad_signatures_are_refused_with_their_reason_and_a_read_only_admin_relays_nothing(
    mesh: ApprovalMesh, context: BrowserContext, browser: Browser
) -> None:
    assert CSP == DASHBOARD_CSP  # the service and Envoy send the same policy
    page = open_approval(context, mesh, "alice")
    expect(page.locator("#intent-kind")).to_have_text("cold_move")
    expect(page.locator("#amount")).to_have_text("60 USDT")
    expect(page.locator("#quorum")).to_have_text("0 of 2")
    expect(page.locator("#rule")).to_have_text("large-cold-moves")
    expect(page.locator("#destination")).to_contain_text("cold Safe")
    deadline = int(page.get_attribute("#deadline", "value") or 0)
    assert 0 < deadline - time.time() <= 3600
    assert_accessible(page)

    # Malformed hex: refused by the dashboard with a specific message; nothing reaches the signer.
    submit(page, "0x1234zz")
    expect(page.locator("#form-error")).to_contain_text("Nothing was sent to the signer")
    expect(page.locator("#form-error")).to_contain_text("65 bytes")
    assert mesh.approve_records() == []

    # A deadline further ahead than the policy allows (a forged form): refused here too, nothing relayed.
    csrf = page.get_attribute("input[name=csrf_token]", "value") or ""
    path = f"/dashboard/admin/approvals/{mesh.approval_id}/approve"
    far = post_as(
        context,
        mesh.dash,
        path,
        {"csrf_token": csrf, "deadline": str(int(time.time()) + 7200), "signature": "0x" + "11" * 64 + "1b"},
    )
    assert far.status == 400 and b"further ahead than the policy allows" in far.body
    assert mesh.approve_records() == []

    # A key outside the group: relayed, and the signer's refusal is shown verbatim.
    page.goto(mesh.dash.url + f"admin/approvals/{mesh.approval_id}")
    submit(page, wallet_signature(page, STRANGER))
    expect(page.locator("#refusal-reason")).to_have_text("APPROVER_NOT_IN_GROUP")
    expect(page.locator("#refusal-message")).to_contain_text("not an approver of this group")
    assert_accessible(page)
    # The initiator is in the group, yet never counts.
    page.goto(mesh.dash.url + f"admin/approvals/{mesh.approval_id}")
    submit(page, wallet_signature(page, INITIATOR))
    expect(page.locator("#refusal-reason")).to_have_text("INITIATOR_CANNOT_APPROVE")
    refused = mesh.approve_records()
    assert [(r["decision"], r["reason"], r["approver"]) for r in refused] == [
        ("REFUSED", "APPROVER_NOT_IN_GROUP", STRANGER.address),
        ("REFUSED", "INITIATOR_CANNOT_APPROVE", INITIATOR.address),
    ]

    # A read-only admin sees the request but the server refuses her POST (a valid signature, CSRF token and Origin).
    readonly = browser.new_context(viewport=PHONE, device_scale_factor=1)
    try:
        page = open_approval(readonly, mesh, "rita")
        expect(page.locator("#read-only")).to_be_visible()
        # No form, and her nav does not offer the signing-freeze page she cannot act on.
        assert page.locator("#approve-form").count() == 0 and page.locator("#nav-signing").count() == 0
        assert_accessible(page)
        # What the approver decides on fits a phone's first screen with room to spare (the facts lead).
        assert_readable(page, ("h1", "#intent-kind", "#amount", "#quorum"), PHONE, room=PHONE_ROOM)
        page.screenshot(path=str(SHOTS / "dashboard-admin-approval-readonly-phone.png"))
        deadline = int(page.locator("#deadline-shown").text_content() or 0)
        typed = json.loads(page.locator("#typed-data").text_content() or "")
        signature = "0x" + OFFICERS[0].sign_message(encode_typed_data(full_message=typed)).signature.hex()
        csrf = page.get_attribute("input[name=csrf_token]", "value") or ""
        form = {"csrf_token": csrf, "deadline": str(deadline), "signature": signature}
        reply = post_as(readonly, mesh.dash, path, form)
        assert reply.status == 403 and b'id="forbidden"' in reply.body and b"read-only" in reply.body
    finally:
        readonly.close()
    assert len(mesh.approve_records()) == 2  # nothing more reached the signer
    [held] = mesh.held()
    assert held.status == apb.APPROVAL_STATUS_PENDING and list(held.approvers) == []


def test_two_approvers_approve_in_the_browser_the_move_lands_and_the_audit_chain_verifies(
    mesh: ApprovalMesh, context: BrowserContext, browser: Browser
) -> None:
    cold_before = mesh.chain.token_balance(mesh.chain.cold_safe)
    page = open_approval(context, mesh, "alice")
    page.set_viewport_size(DESKTOP)
    submit(page, wallet_signature(page, OFFICERS[0]))
    expect(page.locator("#recovered")).to_have_text(OFFICERS[0].address)
    expect(page.locator("#quorum-progress")).to_have_text("1 of 2 approvals so far.")
    expect(page.locator("#approved-by")).to_contain_text(OFFICERS[0].address)
    assert_accessible(page)
    assert_readable(page, ("h1", "#relay-result", "#intent-kind", "#amount"), DESKTOP)
    page.screenshot(path=str(SHOTS / "dashboard-admin-approval-desktop.png"), full_page=True)
    assert mesh.chain.token_balance(mesh.chain.cold_safe) == cold_before  # one approval moves nothing

    # The second approver has the `approver` role only: it may relay approvals. Bob has a browser wallet (an
    # EIP-1193 provider holding his key): the page's own script asks it to sign and fills the field in.
    second = browser.new_context(viewport=PHONE, device_scale_factor=1)
    try:
        browser_wallet(second, OFFICERS[1])
        page2 = open_approval(second, mesh, "bob")
        expect(page2.locator("#approved-by")).to_contain_text(OFFICERS[0].address)
        assert_readable(page2, ("h1", "#intent-kind", "#amount", "#quorum"), PHONE, room=PHONE_ROOM)
        # An approver's nav links the signing-freeze page.
        expect(page2.locator("#nav-signing")).to_have_attribute("href", "/dashboard/admin/signing")
        page2.click("#wallet-sign")
        expect(page2.locator("#wallet-status")).to_contain_text("Signed.")
        assert page2.input_value("#signature") == wallet_signature(page2, OFFICERS[1])
        page2.click("#approve")
        page2.wait_for_load_state()
        expect(page2.locator("#recovered")).to_have_text(OFFICERS[1].address)
        expect(page2.locator("#quorum-progress")).to_contain_text("The quorum is reached")
        expect(page2.locator("#status")).to_have_text("APPROVED")
        tx_hash = page2.locator("#tx-hash").text_content() or ""
        assert re.fullmatch(r"0x[0-9a-f]{64}", tx_hash), tx_hash
    finally:
        second.close()

    # Settlement's mover picks the signed move up on its next pass and it lands: the excess is in cold storage.
    moved = FUNDED - TARGET
    wait_for(
        lambda: mesh.chain.token_balance(mesh.chain.cold_safe) == cold_before + moved,
        "the move to land on chain",
        mine=mesh.chain,
    )
    assert mesh.chain.token_balance(mesh.chain.treasury) == TARGET

    # The queue shows it approved.
    page.goto(mesh.dash.url + "admin/approvals?status=APPROVED")
    expect(page.locator(f"#approval-{mesh.approval_id} .status")).to_have_text("APPROVED")
    expect(page.locator(f"#approval-{mesh.approval_id} .progress")).to_have_text("2 of 2")
    assert_accessible(page)
    assert_readable(page, ("h1", f"#approval-{mesh.approval_id} .status"), DESKTOP)
    page.screenshot(path=str(SHOTS / "dashboard-admin-approvals-desktop.png"))
    # The queue as CSV, with the page's filter: the request's row, its amount the exact decimal the page shows.
    amount = (page.locator(f"#approval-{mesh.approval_id} td.num").first.text_content() or "").removesuffix(" USDT")
    queue = download_csv(page, mesh.dash.url + "admin/approvals.csv?status=APPROVED")
    assert queue[0] == list(APPROVALS)
    mine = [r for r in queue if r[0] == mesh.approval_id]
    assert len(mine) == 1 and [mine[0][3], *mine[0][4:8], mine[0][12]] == [
        amount,
        "USDT",
        "APPROVED",
        "2",
        "2",
        tx_hash,
    ]

    shows_both_decisions_with_verified_chains(page, mesh, tx_hash)


def shows_both_decisions_with_verified_chains(page: Page, mesh: ApprovalMesh, tx_hash: str) -> None:
    """The audit viewer: both decisions, the signed transaction, and both chains verified by the dashboard."""
    # The audit viewer: both decisions, and the chain recomputed by the dashboard from the first record; the
    # ledger's admin audit beside it (an admin action first, so it is not empty).
    onboarded = mesh.dash.stack.call(
        "POST",
        "/admin/v1/merchants",
        {"name": "Audit Me Ltd", "contact_email": "ops@shop.example"},
        mesh.dash.stack.admin_key,
    )
    assert onboarded.status == 200, onboarded.body
    page.goto(mesh.dash.url + "admin/audit")
    expect(page.locator("#signer-verdict")).to_contain_text("Chain verified:")
    approvals = page.locator("#signer-audit tr", has=page.locator("td.action", has_text="approve"))
    expect(approvals).to_have_count(4)  # the stranger's and the initiator's refusals, then the two officers
    for officer, relayed_for in zip(OFFICERS, ("alice", "bob"), strict=True):
        row = page.locator("#signer-audit tr", has_text=f"approver {officer.address}")
        expect(row.locator("td").nth(4)).to_have_text("ACCEPTED")
        # The signer recorded the operator the dashboard relayed for (signer/api/acting.py).
        expect(row.locator("td").nth(2)).to_have_text(f"{relayed_for}@example.test (operator) via dashboard")
    expect(page.locator("#signer-audit")).to_contain_text(tx_hash)
    expect(page.locator("#admin-verdict")).to_contain_text("Chain verified:")
    expect(page.locator("#admin-audit")).to_contain_text("merchant.onboard")
    assert_accessible(page)
    assert_readable(page, ("h1", "#signer-verdict", "#admin-verdict"), DESKTOP)
    page.screenshot(path=str(SHOTS / "dashboard-admin-audit-desktop.png"))
    page.set_viewport_size(PHONE)
    assert_readable(page, ("h1", "#signer-verdict", "#admin-verdict"), PHONE)
    page.screenshot(path=str(SHOTS / "dashboard-admin-audit-phone.png"))
    page.set_viewport_size(DESKTOP)
    # From the first record on: the signer's start (its policy) opens the chain.
    page.goto(mesh.dash.url + "admin/audit?after=0")
    expect(page.locator("#signer-record-1 .action")).to_have_text("policy_load")
    expect(page.locator("#newest-page")).to_be_visible()
    accepted = [r for r in mesh.approve_records() if r["decision"] == "ACCEPTED"]
    # Both audits as CSV: every record read, in chain order, each naming the previous one's hash.
    for path, header in (("admin/audit/signer.csv", SIGNER_AUDIT), ("admin/audit/ledger.csv", LEDGER_AUDIT)):
        rows = download_csv(page, mesh.dash.url + path)
        assert rows[0] == list(header) and len(rows) > 2, rows
        assert [int(r[0]) for r in rows[1:]] == sorted(int(r[0]) for r in rows[1:])
        assert all(row[-2] == before[-1] for before, row in itertools.pairwise(rows[1:])), path
    signer_rows = download_csv(page, mesh.dash.url + "admin/audit/signer.csv")[1:]
    assert signer_rows[0][3] == "policy_load" and len([r for r in signer_rows if r[3] == "approve"]) == 4
    assert tx_hash in [r[7] for r in signer_rows]
    assert "merchant.onboard" in [r[3] for r in download_csv(page, mesh.dash.url + "admin/audit/ledger.csv")]
    assert [r["approver"] for r in accepted] == [o.address for o in OFFICERS]


def unfreeze_signature(page: Page, who: LocalAccount) -> str:
    """What an approver's wallet makes over the freeze page's typed data, as shown."""
    typed = json.loads(page.locator("#typed-data").text_content() or "")
    assert typed["primaryType"] == "SigningUnfreeze"
    assert str(typed["message"]["deadline"]) == page.get_attribute("#deadline", "value")
    return "0x" + who.sign_message(encode_typed_data(full_message=typed)).signature.hex()


def test_two_approvers_signatures_lift_a_freeze_from_the_dashboard_and_a_read_only_admin_relays_nothing(
    mesh: ApprovalMesh, context: BrowserContext, browser: Browser
) -> None:
    # Runs last in this module: the freeze it sets is lifted again before it ends.
    sign_in(context, mesh.dash, mesh.provider, "alice")
    page, errors = open_page(context)
    page.goto(mesh.dash.url + "admin/signing")
    expect(page.locator("#freeze-state")).to_contain_text("not frozen")
    assert page.locator("#unfreeze-form").count() == 0

    frozen = mesh.freeze("incident drill")
    assert frozen.frozen
    page.reload()
    expect(page.locator("#freeze-id")).to_have_text(frozen.freeze_id)
    expect(page.locator("#freeze-reason")).to_have_text("incident drill")
    deadline = int(page.get_attribute("#deadline", "value") or 0)
    assert 0 < deadline - time.time() <= 3600
    # Exactly the signer's typed data (signer/domain/eip712.py) with the deadline the server filled in.
    expected = unfreeze_typed_data(frozen.freeze_id)
    expected["message"] = {"freezeId": frozen.freeze_id, "deadline": deadline}
    assert json.loads(page.locator("#typed-data").text_content() or "") == expected
    assert_accessible(page)
    assert_readable(page, ("h1", "#freeze-state", "#freeze-id", "#freeze-reason"), DESKTOP)
    page.screenshot(path=str(SHOTS / "dashboard-admin-signing-frozen-desktop.png"), full_page=True)
    share = page.get_attribute("#share-link", "href") or ""
    officer_signatures = [unfreeze_signature(page, officer) for officer in OFFICERS]
    assert errors == []  # no CSP refusal (later the 400 and 409 answers are logged as failed loads, by design)

    # A read-only admin sees the freeze; the server refuses her POST of valid signatures, and nothing is relayed.
    read_only_relays_nothing(mesh, browser, frozen.freeze_id, deadline, officer_signatures)
    assert mesh.freeze_state().frozen
    assert mesh.audit("unfreeze") == []

    # Malformed input: refused by the dashboard, nothing relayed.
    page.fill("#signatures", officer_signatures[0] + "\n0x1234")
    page.click("#unfreeze")
    page.wait_for_load_state()
    expect(page.locator("#form-error")).to_contain_text("Line 2 is not a signature")
    assert mesh.audit("unfreeze") == []
    the_signers_ttl_caps_the_validity(mesh, page, context, frozen.freeze_id, officer_signatures)

    # A stranger's key does not count: one officer and a stranger are below the quorum; the signer says so.
    page.goto(mesh.dash.url + share.removeprefix("/dashboard/"))
    assert page.get_attribute("#deadline", "value") == str(deadline)  # the shared link keeps the typed data
    page.fill("#signatures", unfreeze_signature(page, STRANGER) + "\n" + officer_signatures[0])
    page.click("#unfreeze")
    page.wait_for_load_state()
    expect(page.locator("#refusal-reason")).to_have_text("QUORUM_NOT_MET")
    expect(page.locator("#refusal-message")).to_contain_text("1 of 2 approvers signed")
    assert_accessible(page)
    assert mesh.freeze_state().frozen

    # Bob (role approver) relays both officers' signatures, collected in one form: the freeze is lifted.
    approver_lifts_the_freeze(mesh, browser, share, officer_signatures)
    assert not mesh.freeze_state().frozen
    records = mesh.audit("unfreeze")
    assert [(r["decision"], r["reason"]) for r in records] == [("REFUSED", "QUORUM_NOT_MET"), ("UNFROZEN", "")]
    assert records[-1]["approvers"] == [o.address for o in OFFICERS]


def the_signers_ttl_caps_the_validity(
    mesh: ApprovalMesh, page: Page, context: BrowserContext, freeze_id: str, signatures: list[str]
) -> None:
    """The page offers no validity beyond the signer's approval TTL (1 hour in this policy, read from
    GetFreezeState), and a longer deadline posted anyway is refused by the dashboard: nothing is relayed."""
    page.goto(mesh.dash.url + "admin/signing")
    offered = [int(v) for v in page.locator("#validity option").evaluate_all("(os) => os.map((o) => o.value)")]
    assert offered == [300, 900, 3600]
    expect(page.locator("#approval-ttl")).to_have_text("1 hour")
    csrf = page.get_attribute("input[name=csrf_token]", "value") or ""
    form = {
        "csrf_token": csrf,
        "freeze_id": freeze_id,
        "deadline": str(int(time.time()) + 4 * 3600),
        "signatures": "\n".join(signatures),
    }
    reply = post_as(context, mesh.dash, "/dashboard/admin/signing/unfreeze", form)
    assert reply.status == 400
    assert b"at most 1 hour (its policy&#x27;s approval_ttl_seconds)" in reply.body, reply.body
    assert mesh.audit("unfreeze") == []
    assert mesh.freeze_state().frozen


def read_only_relays_nothing(
    mesh: ApprovalMesh, browser: Browser, freeze_id: str, deadline: int, signatures: list[str]
) -> None:
    """`rita` (admin-readonly) sees the freeze, has no form, and her direct POST of valid signatures is a 403."""
    readonly = browser.new_context(viewport=PHONE, device_scale_factor=1)
    try:
        sign_in(readonly, mesh.dash, mesh.provider, "rita")
        ro_page, _ = open_page(readonly)
        ro_page.goto(mesh.dash.url + "admin/signing")
        expect(ro_page.locator("#read-only")).to_be_visible()
        assert ro_page.locator("#unfreeze-form").count() == 0
        assert_accessible(ro_page)
        assert_readable(ro_page, ("h1", "#freeze-state", "#freeze-id"), PHONE)
        ro_page.screenshot(path=str(SHOTS / "dashboard-admin-signing-readonly-phone.png"))
        csrf = ro_page.get_attribute("input[name=csrf_token]", "value") or ""
        form = {
            "csrf_token": csrf,
            "freeze_id": freeze_id,
            "deadline": str(deadline),
            "signatures": "\n".join(signatures),
        }
        reply = post_as(readonly, mesh.dash, "/dashboard/admin/signing/unfreeze", form)
        assert reply.status == 403 and b'id="forbidden"' in reply.body
    finally:
        readonly.close()


def approver_lifts_the_freeze(mesh: ApprovalMesh, browser: Browser, share: str, signatures: list[str]) -> None:
    """`bob` (approver) opens the shared link on a phone and relays the officers' signatures: the freeze lifts."""
    second = browser.new_context(viewport=PHONE, device_scale_factor=1)
    try:
        sign_in(second, mesh.dash, mesh.provider, "bob")
        bob, _ = open_page(second)
        bob.goto(mesh.dash.url + share.removeprefix("/dashboard/"))
        assert unfreeze_signature(bob, OFFICERS[1]) == signatures[1]  # the same typed data
        bob.fill("#signatures", "\n".join(signatures))
        bob.click("#unfreeze")
        bob.wait_for_load_state()
        expect(bob.locator("#unfreeze-result")).to_contain_text("no longer frozen")
        expect(bob.locator("#freeze-state")).to_contain_text("not frozen")
        assert_accessible(bob)
        assert_readable(bob, ("h1", "#unfreeze-result", "#freeze-state"), PHONE)
    finally:
        second.close()

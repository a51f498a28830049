"""The admin approvals queue and the audit viewer: the dashboard as the approvers' relay to the signer.

Routes (installed by the OIDC admin module, behind an admin session; docs/dashboard.md, "Approvals"):

- `GET /dashboard/admin/approvals` lists the signer's held signing requests (status filter, pages);
- `GET /dashboard/admin/approvals/{id}` shows one: the intent, who approved so far, and the exact EIP-712 typed
  data with the deadline the server filled in (now + the chosen validity, within the policy's approval TTL),
  which the approver signs with their own wallet;
- `POST …/{id}/approve` relays `{signature, deadline}` to the signer and shows its answer (the recovered
  address and quorum progress, or its refusal reason verbatim). Only the roles `admin` and `approver` may post;
  `admin-readonly` gets 403 and nothing is relayed. A malformed signature or a deadline outside (now, now + TTL]
  is refused here with a specific message and nothing is relayed. The relay adds no authority: the signer
  recovers the approver from the signature and checks its policy's group (DECISIONS, "Approvals");
- `GET /dashboard/admin/audit` shows the signer's audit records (paged) and the ledger's admin audit, each
  chain recomputed by the dashboard itself (dashboard/domain/audit_chain.py).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping

from aiohttp import web
from google.protobuf import json_format

from dashboard import approval_pages as pages
from dashboard.acting import shown_actor
from dashboard.app import PARTS, PREFIX, SETTINGS, current_session, html, see_other
from dashboard.domain import approvals as rules
from dashboard.domain.audit_chain import Verdict, admin_event_link, signer_link, verify_links
from dashboard.ledger_client import LedgerRefused, LedgerUnavailable
from dashboard.oidc_settings import AdminRole
from dashboard.pages import message_page
from dashboard.sessions import Session, Stage
from dashboard.signer_client import (
    HeldRequest,
    SignerAuditRecord,
    SignerClient,
    SignerRefused,
    SignerUnavailable,
)

log = logging.getLogger("stablegate.dashboard.approvals")

APPROVAL_ID = r"[A-Za-z0-9_-]{1,80}"
ASSET = "USDT"
DEFAULT_TTL = 900
AUDIT_PAGE = 50
SIGNER_AUDIT_PAGES = 20
"""Pages of 1,000 signer records read to verify the chain from its first record (20,000 records)."""
ADMIN_AUDIT_PAGES = 10
ADMIN_EVENTS_SHOWN = 50
MAY_APPROVE = frozenset({AdminRole.ADMIN, AdminRole.APPROVER})
"""Roles that may relay an approval (the signature is the authority; the role only admits the relay)."""
NOT_CONFIGURED = (
    "The signer is not configured for this dashboard (STABLEGATE_DASHBOARD_SIGNER_TARGET), so held requests and "
    "the signer's audit cannot be shown."
)
UNAVAILABLE = "The signer is unavailable right now; try again."


def role_of(session: Session) -> AdminRole | None:
    """The admin role of an admin session (None for any other session)."""
    if session.stage != Stage.ADMIN:
        return None
    try:
        return AdminRole(session.data.get("role", ""))
    except ValueError:
        return None


def may_approve(role: AdminRole | None) -> bool:
    """RBAC: `admin` and `approver` may relay approvals; `admin-readonly` may only look."""
    return role in MAY_APPROVE


def relay_refused(request: web.Request, session: Session, role: AdminRole, what: str) -> web.Response | None:
    """The 403 page when this admin may not relay `what` now (a read-only role, or a sign-in too old); else None."""
    if not may_approve(role):
        log.info(f"refused: {what}", extra={"subject": session.user_id, "role": role.value})
        words = f"Your admin role is read-only: it cannot relay {what}. Nothing was sent to the signer."
        return html(message_page("Not allowed", words, ident="forbidden"), 403)
    settings = request.app[SETTINGS]
    signed_in_at = int(session.data.get("signed_in_at", "0") or 0)
    if request.app[PARTS].clock() - signed_in_at > settings.admin_fresh_seconds:
        words = (
            "This action needs a recent sign-in. Sign in again at the identity provider, then retry: "
            f"{settings.public_url.rstrip('/')}{PREFIX}/admin/login?fresh=1"
        )
        return html(message_page("Sign in again", words, ident="stale-sign-in"), 403)
    return None


def form_text(form: Mapping[str, object], name: str, limit: int) -> str:
    """A posted text field, cut at `limit` characters (empty when missing or not text)."""
    value = form.get(name, "")
    return value[:limit] if isinstance(value, str) else ""


def _who(session: Session) -> str:
    return session.data.get("email") or session.data.get("name") or session.user_id


def install(app: web.Application) -> None:  # noqa: PLR0915 - one closure per route, as in app.py
    """Add the approvals and audit routes (the caller has installed the admin sign-in)."""
    settings = app[SETTINGS]
    decimals = settings.token_decimals

    def admin(request: web.Request) -> tuple[Session, AdminRole]:
        session = current_session(request)
        role = role_of(session)
        if role is None:
            raise see_other("/admin/login")
        return session, role

    def signer() -> SignerClient | None:
        return app[PARTS].signer

    def now() -> int:
        return int(app[PARTS].clock())

    async def queue(request: web.Request) -> web.StreamResponse:
        session, role = admin(request)
        status = request.query.get("status", "")
        if status not in {value for value, _ in pages.FILTERS}:
            status = ""
        token = request.query.get("page_token", "")
        if token and not token.isdigit():
            token = ""
        client = signer()
        held: list[HeldRequest] | None = None
        following, problem = "", ""
        if client is None:
            problem = NOT_CONFIGURED
        else:
            try:
                held, following = await client.list_approvals(status, token)
            except (SignerUnavailable, SignerRefused):
                log.warning("approvals unavailable", exc_info=True)
                problem = UNAVAILABLE
        body = pages.approvals_page(
            csrf=session.csrf,
            who=_who(session),
            role=role.value,
            held=held,
            status=status,
            next_token=following,
            decimals=decimals,
            asset=ASSET,
            unavailable=problem,
        )
        return html(body, 200 if held is not None else 503)

    async def find(request: web.Request) -> HeldRequest | web.Response:
        client = signer()
        if client is None:
            return html(message_page("Signer not configured", NOT_CONFIGURED, ident="signer-unavailable"), 503)
        try:
            held = await client.find_approval(request.match_info["approval_id"])
        except (SignerUnavailable, SignerRefused):
            log.warning("approval unavailable", exc_info=True)
            return html(message_page("Signer unavailable", UNAVAILABLE, ident="signer-unavailable"), 503)
        if held is None:
            return html(message_page("Not found", "The signer holds no such request.", ident="not-found"), 404)
        return held

    def render(
        request: web.Request,
        session: Session,
        role: AdminRole,
        held: HeldRequest,
        *,
        ttl: int,
        deadline: int | None = None,
        outcome: pages.Outcome | None = None,
        signature: str = "",
        comment: str = "",
        status: int = 200,
    ) -> web.Response:
        limit = held.ttl_seconds
        choices = rules.ttl_choices(limit)
        if ttl not in choices:
            ttl = min(choices, key=lambda t: abs(t - DEFAULT_TTL)) if choices else 0
        deadline = deadline if deadline is not None else now() + ttl
        body = pages.approval_page(
            csrf=session.csrf,
            who=_who(session),
            role=role.value,
            held=held,
            intent=rules.intent_of(held.request_json),
            typed_data=rules.typed_data_with_deadline(held.typed_data_json, deadline),
            deadline=deadline,
            ttl=ttl,
            ttl_choices=choices,
            may_approve=may_approve(role),
            decimals=decimals,
            asset=ASSET,
            outcome=outcome,
            signature=signature,
            comment=comment,
        )
        return html(body, status)

    async def detail(request: web.Request) -> web.StreamResponse:
        session, role = admin(request)
        found = await find(request)
        if isinstance(found, web.Response):
            return found
        raw = request.query.get("ttl", "")
        ttl = int(raw) if raw.isdigit() and len(raw) < 8 else DEFAULT_TTL
        return render(request, session, role, found, ttl=ttl)

    async def approve(request: web.Request) -> web.StreamResponse:
        session, role = admin(request)
        approval_id = request.match_info["approval_id"]
        if (denied := relay_refused(request, session, role, "approvals")) is not None:
            return denied
        form = await request.post()

        signature, deadline, comment = (
            form_text(form, "signature", 400),
            form_text(form, "deadline", 40),
            form_text(form, "comment", 1000),
        )
        found = await find(request)
        if isinstance(found, web.Response):
            return found
        limit = found.ttl_seconds
        try:
            checked = rules.check_form(signature, deadline, comment, now=now(), limit=limit)
        except rules.FormProblem as problem:
            outcome = pages.Outcome(form_error=problem.message, form_field=problem.field)
            shown = int(deadline) if deadline.isdigit() and now() < int(deadline) <= now() + limit else None
            return render(
                request,
                session,
                role,
                found,
                ttl=DEFAULT_TTL,
                deadline=shown,
                outcome=outcome,
                signature=signature,
                comment=comment,
                status=400,
            )
        client = signer()
        assert client is not None  # find() answered, so the signer is configured
        try:
            relayed = await client.approve(approval_id, checked.signature, checked.deadline, checked.comment)
        except SignerRefused as refused:
            log.info(
                "approval refused by the signer",
                extra={"subject": session.user_id, "approval_id": approval_id, "reason": refused.reason},
            )
            status = 404 if refused.code == "NOT_FOUND" else 409 if refused.code == "FAILED_PRECONDITION" else 400
            return render(
                request,
                session,
                role,
                found,
                ttl=DEFAULT_TTL,
                deadline=checked.deadline,
                outcome=pages.Outcome(refused=refused),
                signature=signature,
                comment=comment,
                status=status,
            )
        except SignerUnavailable:
            log.warning("approval not relayed", exc_info=True)
            return html(message_page("Signer unavailable", UNAVAILABLE, ident="signer-unavailable"), 503)
        log.info(
            "approval relayed",
            extra={
                "subject": session.user_id,
                "approval_id": approval_id,
                "approver": relayed.approver_address,
                "status": relayed.held.status,
            },
        )
        return render(request, session, role, relayed.held, ttl=DEFAULT_TTL, outcome=pages.Outcome(relayed=relayed))

    async def signer_chain(client: SignerClient) -> tuple[list[SignerAuditRecord], Verdict, str]:
        records: list[SignerAuditRecord] = []
        more, note = True, ""
        for _ in range(SIGNER_AUDIT_PAGES):
            page, more = await client.audit_records(records[-1].sequence if records else 0)
            records.extend(page)
            if not more or not page:
                break
        if more:
            note = f"Only the first {len(records)} records were read and verified."
        links = (
            signer_link(
                r.sequence,
                r.prev_hash,
                r.hash,
                r.body_json,
                {"actor": r.actor, "action": r.action, "request_id": r.request_id},
            )
            for r in records
        )
        return records, verify_links(links), note

    async def admin_chain() -> tuple[list[pages.AdminEventRow], Verdict | None] | None:
        ledger = app[PARTS].ledger
        if ledger is None:
            return None
        events = []
        token = ""
        try:
            for _ in range(ADMIN_AUDIT_PAGES):
                page, token = await ledger.list_audit_events(token)
                events.extend(page)
                if not token:
                    break
        except (LedgerUnavailable, LedgerRefused):
            log.warning("admin audit unavailable", exc_info=True)
            return None
        events.reverse()  # the ledger lists newest first; the chain runs from the first
        links = [
            admin_event_link(
                id_=ev.id,
                sequence=ev.sequence,
                actor=ev.actor,
                action=ev.action,
                subject=ev.subject,
                event_time=ev.event_time.ToDatetime(tzinfo=dt.UTC),
                details=json_format.MessageToDict(ev.details),
                request_id=ev.request_id,
                prev_hash=ev.prev_hash,
                hash_=ev.hash,
            )
            for ev in events
        ]
        # More events than the viewer reads cannot be checked from the first one: no verdict then (the page says).
        verdict = verify_links(links) if not token else None
        rows = [
            pages.AdminEventRow(
                ev.sequence,
                ev.event_time.ToDatetime(tzinfo=dt.UTC),
                shown_actor(ev.actor, json_format.MessageToDict(ev.details)),  # the person too (dashboard/acting.py)
                ev.action,
                ev.subject,
            )
            for ev in reversed(events[-ADMIN_EVENTS_SHOWN:])
        ]
        return rows, verdict

    async def audit(request: web.Request) -> web.StreamResponse:
        session, role = admin(request)
        raw = request.query.get("after", "")
        after = int(raw) if raw.isdigit() and len(raw) < 12 else None  # None: the newest page
        client = signer()
        signer_verdict: Verdict | None = None
        shown: list[SignerAuditRecord] = []
        more, note = False, ""
        if client is None:
            note = NOT_CONFIGURED
        else:
            try:
                records, signer_verdict, note = await signer_chain(client)
            except (SignerUnavailable, SignerRefused):
                log.warning("signer audit unavailable", exc_info=True)
                note = UNAVAILABLE
            else:
                following = [r for r in records if r.sequence > after] if after is not None else records[-AUDIT_PAGE:]
                shown, more = following[:AUDIT_PAGE], len(following) > AUDIT_PAGE
        admin_part = await admin_chain()
        body = pages.audit_page(
            csrf=session.csrf,
            who=_who(session),
            role=role.value,
            signer_verdict=signer_verdict,
            signer_records=shown,
            after=after,
            more=more,
            admin_verdict=admin_part[1] if admin_part is not None else None,
            admin_events=admin_part[0] if admin_part is not None else [],
            signer_note=note,
        )
        return html(body)

    route: Callable[[str], str] = lambda tail: f"{PREFIX}/admin/{tail}"  # noqa: E731 - a one-line path helper
    app.router.add_get(route("approvals"), queue)
    app.router.add_get(route(f"approvals/{{approval_id:{APPROVAL_ID}}}"), detail)
    app.router.add_post(route(f"approvals/{{approval_id:{APPROVAL_ID}}}/approve"), approve)
    app.router.add_get(route("audit"), audit)

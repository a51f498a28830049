"""The admin signing-freeze page: the freeze state, and the approvers' unfreeze signatures relayed to the signer.

Routes (installed by the OIDC admin module beside the approvals; docs/dashboard.md, "Unfreezing signing"):

- `GET /dashboard/admin/signing` shows whether the signer is frozen (GetFreezeState) and, while it is, the exact
  `SigningUnfreeze` typed data (the freeze's id and a deadline the server fills in: now + the chosen validity, or
  the `deadline` of a shared link, so every approver signs the same data) and a form for the signatures;
- `POST /dashboard/admin/signing/unfreeze` relays `{freeze_id, deadline, signatures}` (one per line) in one
  UnfreezeSigning call and shows the signer's answer (lifted, or its refusal reason verbatim: QUORUM_NOT_MET
  when too few group members signed). Only `admin` and `approver` may post, after a recent sign-in;
  `admin-readonly` gets 403 and nothing is relayed. Malformed input is refused here and nothing is relayed. The
  relay adds no authority: the signer recovers each approver and checks its policy's unfreeze group (DECISIONS,
  "Approvals").
"""

from __future__ import annotations

import logging

from aiohttp import web

from dashboard import freeze_pages as pages
from dashboard.app import PARTS, PREFIX, current_session, html, see_other
from dashboard.approvals import NOT_CONFIGURED, UNAVAILABLE, form_text, may_approve, relay_refused, role_of
from dashboard.domain import unfreeze as rules
from dashboard.domain.approvals import FormProblem
from dashboard.oidc_settings import AdminRole
from dashboard.pages import message_page
from dashboard.sessions import Session
from dashboard.signer_client import FreezeState, SignerClient, SignerRefused, SignerUnavailable

log = logging.getLogger("stablegate.dashboard.freeze")


def install(app: web.Application) -> None:  # noqa: PLR0915 - one closure per route, as in app.py
    """Add the signing-freeze routes (the caller has installed the admin sign-in)."""

    def admin(request: web.Request) -> tuple[Session, AdminRole]:
        session = current_session(request)
        role = role_of(session)
        if role is None:
            raise see_other("/admin/login")
        return session, role

    def now() -> int:
        return int(app[PARTS].clock())

    def who(session: Session) -> str:
        return session.data.get("email") or session.data.get("name") or session.user_id

    async def read_state() -> tuple[FreezeState | None, str]:
        client: SignerClient | None = app[PARTS].signer
        if client is None:
            return None, NOT_CONFIGURED
        try:
            return await client.get_freeze_state(), ""
        except (SignerUnavailable, SignerRefused):
            log.warning("freeze state unavailable", exc_info=True)
            return None, UNAVAILABLE

    def render(
        session: Session,
        role: AdminRole,
        state: FreezeState | None,
        *,
        deadline: int | None = None,
        validity: int = 0,
        outcome: pages.Outcome | None = None,
        signatures: str = "",
        unavailable: str = "",
        status: int = 200,
    ) -> web.Response:
        ttl = state.approval_ttl_seconds if state is not None else 0
        choices = rules.deadline_choices(ttl)
        if validity not in choices:
            validity = rules.default_validity(ttl)
        deadline = deadline if deadline is not None else now() + validity
        body = pages.freeze_page(
            csrf=session.csrf,
            who=who(session),
            role=role.value,
            state=state,
            typed_data=rules.typed_data(state.freeze_id, deadline) if state is not None and state.frozen else "",
            deadline=deadline,
            validity=validity,
            choices=choices,
            limit=rules.max_ahead(ttl) if ttl else 0,
            may_relay=may_approve(role),
            outcome=outcome,
            signatures=signatures,
            unavailable=unavailable,
        )
        return html(body, status if state is not None else 503)

    async def show(request: web.Request) -> web.StreamResponse:
        session, role = admin(request)
        state, problem = await read_state()
        raw = request.query.get("validity", "")
        validity = int(raw) if raw.isdigit() and len(raw) < 8 else 0
        ttl = state.approval_ttl_seconds if state is not None else 0
        deadline = rules.shared_deadline(request.query.get("deadline", ""), now=now(), ttl=ttl)
        return render(session, role, state, deadline=deadline, validity=validity, unavailable=problem)

    async def unfreeze(request: web.Request) -> web.StreamResponse:
        session, role = admin(request)
        if (denied := relay_refused(request, session, role, "unfreeze signatures")) is not None:
            return denied
        form = await request.post()

        freeze_id, deadline = form_text(form, "freeze_id", 100), form_text(form, "deadline", 40)
        signatures = form_text(form, "signatures", 200 * rules.MAX_SIGNATURES)
        state, problem = await read_state()
        if state is None:
            return render(session, role, state, unavailable=problem)
        ttl = state.approval_ttl_seconds
        shown = rules.shared_deadline(deadline, now=now(), ttl=ttl)
        try:
            checked = rules.check_form(freeze_id, deadline, signatures, now=now(), ttl=ttl)
        except FormProblem as bad:
            outcome = pages.Outcome(form_error=bad.message, form_field=bad.field)
            return render(session, role, state, deadline=shown, outcome=outcome, signatures=signatures, status=400)
        client = app[PARTS].signer
        assert client is not None  # read_state() answered, so the signer is configured
        try:
            after = await client.unfreeze(checked.freeze_id, list(checked.signatures), checked.deadline)
        except SignerRefused as refused:
            log.info(
                "unfreeze refused by the signer",
                extra={"subject": session.user_id, "freeze_id": checked.freeze_id, "reason": refused.reason},
            )
            state, problem = await read_state()
            code = 409 if refused.code == "FAILED_PRECONDITION" else 400
            outcome = pages.Outcome(refused=refused)
            return render(
                session,
                role,
                state,
                deadline=shown,
                outcome=outcome,
                signatures=signatures,
                status=code,
                unavailable=problem,
            )
        except SignerUnavailable:
            log.warning("unfreeze not relayed", exc_info=True)
            return html(message_page("Signer unavailable", UNAVAILABLE, ident="signer-unavailable"), 503)
        log.info("signing unfrozen", extra={"subject": session.user_id, "freeze_id": checked.freeze_id})
        return render(session, role, after, outcome=pages.Outcome(unfrozen=True))

    app.router.add_get(f"{PREFIX}/admin/signing", show)
    app.router.add_post(f"{PREFIX}/admin/signing/unfreeze", unfreeze)

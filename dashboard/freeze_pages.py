"""HTML of the admin signing-freeze page (pure functions, every value escaped; dashboard/pages.py's layout)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from dashboard.domain.unfreeze import REFUSALS, duration_words
from dashboard.pages import PREFIX, ROLE_LABELS, admin_nav, csrf_field, e, layout
from dashboard.signer_client import FreezeState, SignerRefused


@dataclass(frozen=True)
class Outcome:
    """What the signer answered to relayed unfreeze signatures, or why nothing was relayed."""

    unfrozen: bool = False
    refused: SignerRefused | None = None
    form_error: str = ""
    form_field: str = ""


def _time(value: dt.datetime) -> str:
    text = value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f'<time datetime="{e(value.astimezone(dt.UTC).isoformat())}">{e(text)}</time>'


def _outcome(outcome: Outcome | None) -> str:
    if outcome is None:
        return ""
    if outcome.unfrozen:
        return (
            '<div class="notice" id="unfreeze-result" role="status"><p>The signer accepted the signatures: '
            "signing is no longer frozen.</p></div>"
        )
    if outcome.refused is not None:
        refused = outcome.refused
        words = REFUSALS.get(refused.reason, "")
        return (
            '<div class="refusal" id="unfreeze-refused" role="alert"><p><strong>The signer refused to lift the '
            f'freeze:</strong> <span class="mono" id="refusal-reason">{e(refused.reason)}</span></p>'
            f'<p id="refusal-message">Signer: “{e(refused.message)}”</p>'
            + (f'<p id="refusal-explained">{e(words)}</p>' if words else "")
            + "</div>"
        )
    return f'<p class="error" id="form-error" role="alert">Nothing was sent to the signer: {e(outcome.form_error)}</p>'


def freeze_page(
    *,
    csrf: str,
    who: str,
    role: str,
    state: FreezeState | None,
    typed_data: str,
    deadline: int,
    validity: int,
    choices: Sequence[int],
    limit: int = 0,
    may_relay: bool,
    outcome: Outcome | None = None,
    signatures: str = "",
    unavailable: str = "",
) -> str:
    """The freeze state and, while frozen, the typed data to sign and the form collecting the quorum's signatures."""
    signed_in = f'<p class="hint">Signed in as {e(who)} · {e(ROLE_LABELS.get(role, role))}</p>'
    head = f"{admin_nav('signing', role)}{signed_in}{_outcome(outcome)}"
    if state is None:
        body = f'{head}<p class="error" id="freeze-unavailable">{e(unavailable)}</p>'
        return layout("Signing freeze", body, csrf=csrf, who=who)
    if not state.frozen:
        body = (
            f'{head}<p class="notice" id="freeze-state" role="status">Signing is not frozen: the signer signs what '
            "its policy allows.</p>"
            '<p class="hint">Operators freeze all signing at once during an incident (<span class="mono">'
            "stablegate signer freeze</span>); lifting it takes the policy's unfreeze quorum of approver signatures, "
            "relayed from this page.</p>"
        )
        return layout("Signing freeze", body, csrf=csrf, who=who)
    when = f" since {_time(state.freeze_time)}" if state.freeze_time is not None else ""
    facts = (
        '<dl class="facts" id="freeze">'
        f'<dt>Freeze</dt><dd class="mono" id="freeze-id">{e(state.freeze_id)}</dd>'
        f'<dt>Reason</dt><dd id="freeze-reason">{e(state.reason)}</dd>'
        f"<dt>Frozen</dt><dd>{when.removeprefix(' ') or 'yes'}</dd></dl>"
    )
    options = "".join(
        f'<option value="{t}"' + (" selected" if t == validity else "") + f">{duration_words(t)}</option>"
        for t in choices
    )
    share = f"{PREFIX}/admin/signing?deadline={deadline}"
    ttl_note = (
        f' (<span id="approval-ttl">{e(duration_words(limit))}</span>), so no longer validity is offered.'
        if limit
        else "."
    )
    validity_form = (
        f'<form method="get" action="{PREFIX}/admin/signing" class="inline" id="validity-form">'
        '<label for="validity">Signatures valid for</label>'
        f'<select id="validity" name="validity">{options}</select>'
        '<button type="submit">Fill in a new deadline</button></form>'
    )
    if may_relay:
        problem = outcome.form_error if outcome is not None else ""
        invalid = (
            ' aria-invalid="true" aria-describedby="form-error"'
            if problem and outcome is not None and outcome.form_field == "signatures"
            else ""
        )
        form = (
            f'<form method="post" action="{PREFIX}/admin/signing/unfreeze" id="unfreeze-form">{csrf_field(csrf)}'
            f'<input type="hidden" name="freeze_id" value="{e(state.freeze_id)}">'
            f'<input type="hidden" name="deadline" id="deadline" value="{deadline}">'
            '<label for="signatures">Approvers\' signatures, one per line (each 0x + 130 hex digits)</label>'
            f'<textarea id="signatures" name="signatures" rows="5" required spellcheck="false" autocomplete="off"'
            f"{invalid}>{e(signatures)}</textarea>"
            '<button type="submit" id="unfreeze">Relay the signatures and lift the freeze</button></form>'
        )
    else:
        form = (
            '<p class="hint" id="read-only">Your role is read-only: you can see the freeze, not relay signatures '
            "to lift it.</p>"
        )
    body = (
        f'{head}<p class="refusal" id="freeze-state" role="status"><strong>Signing is frozen:</strong> the signer '
        "refuses every signing request until the policy's unfreeze quorum of approvers signs this freeze's id.</p>"
        f"{facts}<h2>Typed data to sign</h2>"
        f'<p class="hint">Deadline <span id="deadline-shown">{deadline}</span> (Unix time, '
        f"{_time(dt.datetime.fromtimestamp(deadline, dt.UTC))}). Every approver signs this same typed data with "
        "their own wallet (eth_signTypedData_v4); send them this page's link with the deadline fixed: "
        f'<a id="share-link" href="{e(share)}">{e(share)}</a>. The signer refuses a deadline further ahead than its '
        f"policy's approval TTL{ttl_note}</p>"
        f"{validity_form}"
        f'<pre class="typed-data" id="typed-data" tabindex="0" aria-label="EIP-712 typed data">{e(typed_data)}</pre>'
        "<h2>Lift the freeze</h2>"
        '<p class="hint">Collect the approvers\' signatures and relay them together: the signer recovers each '
        "address, counts distinct members of its unfreeze group with live deadlines, and lifts the freeze only when "
        "they reach the quorum. The dashboard keeps no signature between visits.</p>"
        f"{form}"
    )
    return layout("Signing freeze", body, csrf=csrf, who=who)

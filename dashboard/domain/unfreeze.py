"""What the signing-freeze page checks and shows, as plain functions (no grpc, no aiohttp).

Approvers lift an emergency freeze by each signing the signer's `SigningUnfreeze(string freezeId, uint256
deadline)` typed data (docs/signer.md, "Emergency freeze") with their own wallet. The dashboard collects the
quorum's signatures in one form (one per line, all over the same typed data: the freeze's id and the deadline
the server filled in) and relays them together; it stores nothing between approvers (docs/dashboard.md,
"Unfreezing signing").
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from dashboard.domain.approvals import RECOVERY_IDS, SIGNATURE, FormProblem

FREEZE_ID = re.compile(r"frz_[0-9a-f]{1,64}")
"""The signer's freeze ids (`frz_` + hex)."""
DEADLINE_CHOICES = (300, 900, 3600, 4 * 3600, 24 * 3600)
"""Validity periods offered (seconds from now), up to the signer's approval TTL (`max_ahead`)."""
DEFAULT_VALIDITY = 900
MAX_AHEAD = max(DEADLINE_CHOICES)
"""The furthest ahead a deadline may lie whatever the signer says (and all a signer that does not say gets)."""
MAX_SIGNATURES = 20
"""More lines than any quorum needs are refused before anything is relayed."""

REFUSALS: dict[str, str] = {
    "QUORUM_NOT_MET": "Too few of the policy's unfreeze approvers signed this freeze's typed data with a live "
    "deadline (a signature from a key outside the group, or over other typed data, does not count).",
    "FREEZE_ID_MISMATCH": "The freeze in force is not the one signed: it was lifted and a new one set. Reload "
    "the page and sign its typed data.",
    "NOT_FROZEN": "Signing is not frozen (any more): there is nothing to lift.",
    "UNFREEZE_NOT_CONFIGURED": "The signer's policy names no unfreeze quorum: only a restart with a policy that "
    "names one can lift this freeze.",
    "APPROVAL_DEADLINE_INVALID": "The signed deadline is in the past or further ahead than the signer's policy "
    "allows (approval_ttl_seconds): choose a shorter validity, reload and sign again.",
}
"""The signer's unfreeze refusal reasons, in words (the reason itself is shown beside them, verbatim)."""

_DOMAIN = {"name": "stablegate-signer", "version": "1"}
_TYPES = {
    "EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"}],
    "SigningUnfreeze": [{"name": "freezeId", "type": "string"}, {"name": "deadline", "type": "uint256"}],
}


def typed_data(freeze_id: str, deadline: int) -> str:
    """The exact eth_signTypedData_v4 JSON an approver signs to lift this freeze (signer/domain/eip712.py)."""
    typed = {
        "domain": _DOMAIN,
        "message": {"deadline": deadline, "freezeId": freeze_id},
        "primaryType": "SigningUnfreeze",
        "types": _TYPES,
    }
    return json.dumps(typed, indent=2, sort_keys=True)


def max_ahead(ttl: int = 0) -> int:
    """How far ahead a deadline may lie: the signer's `approval_ttl_seconds`, at most `MAX_AHEAD`.

    `ttl` comes from GetFreezeState; 0 (a signer that does not say) gives `MAX_AHEAD`.
    """
    return min(MAX_AHEAD, ttl) if ttl > 0 else MAX_AHEAD


def deadline_choices(ttl: int = 0) -> tuple[int, ...]:
    """The validity periods the page offers: the usual ones the signer accepts, and its limit itself."""
    limit = max_ahead(ttl)
    offered = tuple(choice for choice in DEADLINE_CHOICES if choice < limit)
    return (*offered, limit)


def default_validity(ttl: int = 0) -> int:
    """The validity the page starts with: 15 minutes, or the signer's limit when that is shorter."""
    return min(DEFAULT_VALIDITY, max_ahead(ttl))


def duration_words(seconds: int) -> str:
    """A validity in words ("1 hour", "15 minutes", "90 seconds")."""
    if seconds % 3600 == 0:
        return f"{seconds // 3600} hour" + ("s" if seconds != 3600 else "")
    if seconds % 60 == 0:
        return f"{seconds // 60} minute" + ("s" if seconds != 60 else "")
    return f"{seconds} seconds"


def shared_deadline(raw: str, *, now: int, ttl: int = 0) -> int | None:
    """A deadline carried in the page's link (so every approver signs the same typed data), if still usable."""
    if not raw.isdigit() or len(raw) > 12:
        return None
    value = int(raw)
    return value if now < value <= now + max_ahead(ttl) else None


@dataclass(frozen=True)
class UnfreezeForm:
    """A checked unfreeze form, ready to relay."""

    freeze_id: str
    deadline: int
    signatures: tuple[str, ...]


def check_form(freeze_id: str, deadline: str, signatures: str, *, now: int, ttl: int = 0) -> UnfreezeForm:
    """The form's values checked for shape and range; FormProblem names the first bad field.

    `ttl` is the signer's approval TTL (0 if it did not say): a deadline further ahead is refused here.
    """
    if not FREEZE_ID.fullmatch(freeze_id):
        raise FormProblem("freeze_id", "The form names no freeze; reload the page.")
    if not deadline.isdigit() or len(deadline) > 12:
        raise FormProblem("deadline", "The deadline must be the Unix time the page filled in; reload the page.")
    value = int(deadline)
    if value <= now:
        raise FormProblem("deadline", "The deadline has passed: reload the page and sign the new typed data.")
    limit = max_ahead(ttl)
    if value > now + limit:
        why = (
            f"the signer accepts unfreeze signatures valid for at most {duration_words(limit)} (its policy's "
            "approval_ttl_seconds)"
            if limit < MAX_AHEAD
            else f"the dashboard relays signatures valid for at most {duration_words(limit)}"
        )
        raise FormProblem(
            "deadline",
            f"The deadline is more than {duration_words(limit)} ahead: {why}. Choose a shorter validity, reload the "
            "page and sign its typed data.",
        )
    lines = [line.strip() for line in signatures.splitlines() if line.strip()]
    if not lines:
        raise FormProblem("signatures", "Paste the approvers' signatures, one per line.")
    if len(lines) > MAX_SIGNATURES:
        raise FormProblem("signatures", f"At most {MAX_SIGNATURES} signatures, one per line.")
    unique: list[str] = []
    for number, line in enumerate(lines, start=1):
        if not SIGNATURE.fullmatch(line):
            raise FormProblem(
                "signatures",
                f"Line {number} is not a signature: 0x followed by 130 hex digits (it has {len(line)} characters).",
            )
        if int(line[-2:], 16) not in RECOVERY_IDS:
            raise FormProblem("signatures", f"Line {number}: the signature's last byte (v) must be 0, 1, 27 or 28.")
        if line.lower() not in {u.lower() for u in unique}:
            unique.append(line)
    return UnfreezeForm(freeze_id, value, tuple(unique))

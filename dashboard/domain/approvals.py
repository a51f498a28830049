"""What the approvals pages check and show, as plain functions (no grpc, no aiohttp).

An approver signs the signer's `SigningApproval` typed data with their own wallet (eth_signTypedData_v4); the
dashboard fills in the deadline, checks the form's shape before relaying anything (a 65-byte hex signature, a
deadline in the future within the policy's approval TTL) and explains the signer's refusal reasons in words.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

SIGNATURE = re.compile(r"0x[0-9a-fA-F]{130}")
"""65 bytes r || s || v as 0x-prefixed hex."""
RECOVERY_IDS = frozenset({0, 1, 27, 28})
TTL_CHOICES = (300, 900, 3600, 4 * 3600, 24 * 3600)
"""Deadlines an approver may choose (seconds from now), each offered only within the policy's approval TTL."""
MAX_COMMENT = 500

REFUSALS: dict[str, str] = {
    "APPROVER_NOT_IN_GROUP": "The signature recovered to an address that is not in this request's approver group "
    "(a wrong key signed, or the signed data was not this request's).",
    "INITIATOR_CANNOT_APPROVE": "The signature is the initiator's: whoever raised a request never counts as its "
    "approver.",
    "APPROVAL_EXPIRED": "The held request lapsed before the quorum was reached; nothing was recorded.",
    "APPROVAL_NOT_PENDING": "The request is signed already; no further approval is needed.",
    "APPROVAL_DEADLINE_INVALID": "The signed deadline is in the past or further ahead than the policy allows.",
    "BAD_SIGNATURE": "The signature is not a valid signature over this request's typed data.",
    "APPROVAL_NOT_FOUND": "The signer holds no such request.",
}
"""The signer's refusal reasons, in words (the reason itself is shown beside them, verbatim)."""


class FormProblem(ValueError):
    """A form value refused before anything is relayed: which field and why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class ApprovalForm:
    """A checked approval form, ready to relay."""

    signature: str
    deadline: int
    comment: str


def ttl_choices(limit: int) -> tuple[int, ...]:
    """The deadline choices within the policy's TTL (the TTL itself when it is shorter than every choice)."""
    within = tuple(t for t in TTL_CHOICES if t <= limit)
    return within or ((limit,) if limit > 0 else ())


def deadline_for(now: int, ttl: int, limit: int) -> int:
    """Now + the chosen TTL, refused when the choice is not one the page offers."""
    if ttl not in ttl_choices(limit):
        raise FormProblem("ttl", "Choose one of the offered validity periods.")
    return now + ttl


def check_form(signature: str, deadline: str, comment: str, *, now: int, limit: int) -> ApprovalForm:
    """The form's values checked for shape and range; FormProblem names the first bad field."""
    text = signature.strip()
    if not text:
        raise FormProblem("signature", "Paste the signature your wallet made (0x followed by 130 hex digits).")
    if not SIGNATURE.fullmatch(text):
        raise FormProblem(
            "signature",
            f"The signature must be 65 bytes: 0x followed by 130 hex digits (this one has {len(text)} characters).",
        )
    if int(text[-2:], 16) not in RECOVERY_IDS:
        raise FormProblem("signature", "The signature's last byte (v) must be 0, 1, 27 or 28.")
    if not deadline.isdigit() or len(deadline) > 12:
        raise FormProblem("deadline", "The deadline must be the Unix time the page filled in; reload the page.")
    value = int(deadline)
    if value <= now:
        raise FormProblem("deadline", "The deadline has passed: reload the page and sign the new typed data.")
    if value > now + limit:
        raise FormProblem(
            "deadline",
            f"The deadline is further ahead than the policy allows ({limit} seconds); reload the page and sign "
            "the typed data it shows.",
        )
    if len(comment) > MAX_COMMENT:
        raise FormProblem("comment", f"The comment is at most {MAX_COMMENT} characters.")
    return ApprovalForm(text, value, comment.strip())


def typed_data_with_deadline(typed_data_json: str, deadline: int) -> str:
    """The signer's typed data with `message.deadline` set: exactly what eth_signTypedData_v4 takes."""
    typed = json.loads(typed_data_json)
    typed["message"]["deadline"] = deadline
    return json.dumps(typed, indent=2, sort_keys=True)


def token_units(base_units: int, decimals: int) -> str:
    """An exact decimal string in token units (10**decimals base units each), never rounded."""
    whole, frac = divmod(base_units, 10**decimals)
    if not frac:
        return str(whole)
    return f"{whole}.{str(frac).rjust(decimals, '0').rstrip('0')}"


@dataclass(frozen=True)
class Intent:
    """What a held request would do, as the detail page shows it."""

    kind: str
    contract: str
    token: str
    destinations: tuple[tuple[str, int], ...]
    """(destination address, base units) per transfer; empty when the contract fixes the destination."""
    fixed_destination: str
    """Words naming the destination a contract fixes (a move into cold: the treasury's cold Safe)."""


def intent_of(request_json: str) -> Intent:
    """The intent inside a held request's canonical JSON (what its digest covers)."""
    try:
        intent = json.loads(request_json).get("intent", {})
    except (ValueError, AttributeError):
        intent = {}
    if not isinstance(intent, dict):
        intent = {}
    kind = str(intent.get("kind", ""))
    contract = str(intent.get("treasury") or intent.get("safe") or intent.get("factory") or "")
    token = str(intent.get("token", ""))
    if kind == "payout":
        lines = tuple((str(x.get("destination", "")), int(x.get("amount", 0))) for x in intent.get("lines", []))
        return Intent(kind, contract, token, lines, "")
    if "destination" in intent:
        return Intent(kind, contract, token, ((str(intent["destination"]), int(intent.get("amount", 0))),), "")
    fixed = "the cold Safe the treasury contract holds (fixed in the contract)" if kind == "cold_move" else ""
    return Intent(kind, contract, token, (), fixed)

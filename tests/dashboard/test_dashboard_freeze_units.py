"""The signing-freeze page's checks and typed data (dashboard/domain/unfreeze.py), without a mesh."""

from __future__ import annotations

import json

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data

from dashboard.domain.approvals import FormProblem
from dashboard.domain.unfreeze import (
    DEADLINE_CHOICES,
    DEFAULT_VALIDITY,
    MAX_AHEAD,
    check_form,
    deadline_choices,
    default_validity,
    duration_words,
    shared_deadline,
    typed_data,
)
from signer.domain.eip712 import recover_signer, unfreeze_digest

NOW = 1_800_000_000
FREEZE = "frz_0123456789abcdef01234567"


def test_a_wallet_signature_over_the_pages_typed_data_recovers_at_the_signer() -> None:
    who = Account.create()
    typed = json.loads(typed_data(FREEZE, NOW + 900))
    signature = "0x" + who.sign_message(encode_typed_data(full_message=typed)).signature.hex()
    assert recover_signer(unfreeze_digest(FREEZE, NOW + 900), signature) == who.address
    assert recover_signer(unfreeze_digest(FREEZE, NOW + 901), signature) != who.address


def test_a_good_form_is_checked_and_duplicate_signatures_are_relayed_once() -> None:
    one, two = "0x" + "ab" * 64 + "1b", "0x" + "cd" * 64 + "1c"
    form = check_form(FREEZE, str(NOW + 60), f"{one}\n\n {two} \n{one.upper().replace('0X', '0x')}", now=NOW)
    assert form.signatures == (one, two) and form.deadline == NOW + 60 and form.freeze_id == FREEZE


@pytest.mark.parametrize(
    ("freeze_id", "deadline", "signatures", "field", "words"),
    [
        ("nope", str(NOW + 60), "0x" + "ab" * 65, "freeze_id", "names no freeze"),
        (FREEZE, "soon", "0x" + "ab" * 64 + "1b", "deadline", "Unix time"),
        (FREEZE, str(NOW), "0x" + "ab" * 64 + "1b", "deadline", "has passed"),
        (FREEZE, str(NOW + MAX_AHEAD + 1), "0x" + "ab" * 64 + "1b", "deadline", "ahead"),
        (FREEZE, str(NOW + 60), " \n ", "signatures", "one per line"),
        (FREEZE, str(NOW + 60), "0x" + "ab" * 64 + "1b\n0x12", "signatures", "Line 2 is not a signature"),
        (FREEZE, str(NOW + 60), "0x" + "ab" * 65, "signatures", "last byte (v)"),
        (FREEZE, str(NOW + 60), "\n".join(["0x" + "ab" * 64 + "1b"] * 21), "signatures", "At most 20"),
    ],
)
def test_bad_forms_name_their_field(freeze_id: str, deadline: str, signatures: str, field: str, words: str) -> None:
    with pytest.raises(FormProblem) as bad:
        check_form(freeze_id, deadline, signatures, now=NOW)
    assert bad.value.field == field and words in bad.value.message


def test_a_shared_links_deadline_is_kept_only_while_usable() -> None:
    assert shared_deadline(str(NOW + 600), now=NOW) == NOW + 600
    assert shared_deadline(str(NOW), now=NOW) is None
    assert shared_deadline(str(NOW + MAX_AHEAD + 1), now=NOW) is None
    assert shared_deadline("12ab", now=NOW) is None


def test_the_signers_approval_ttl_caps_the_validities_offered_and_the_deadline_accepted() -> None:
    assert deadline_choices(3600) == (300, 900, 3600)
    assert deadline_choices(600) == (300, 600) and default_validity(600) == 600
    assert deadline_choices(120) == (120,) and default_validity(120) == 120
    # A signer that does not say (0), or one allowing more than a day: the usual choices, up to 24 h.
    assert deadline_choices(0) == deadline_choices(7 * 24 * 3600) == DEADLINE_CHOICES
    assert default_validity(0) == DEFAULT_VALIDITY
    signature = "0x" + "ab" * 64 + "1b"
    assert check_form(FREEZE, str(NOW + 3600), signature, now=NOW, ttl=3600).deadline == NOW + 3600
    with pytest.raises(FormProblem) as bad:
        check_form(FREEZE, str(NOW + 3601), signature, now=NOW, ttl=3600)
    assert bad.value.field == "deadline"
    assert "at most 1 hour (its policy's approval_ttl_seconds)" in bad.value.message
    assert shared_deadline(str(NOW + 3601), now=NOW, ttl=3600) is None
    assert shared_deadline(str(NOW + 3600), now=NOW, ttl=3600) == NOW + 3600
    assert (
        duration_words(90) == "90 seconds" and duration_words(600) == "10 minutes" and duration_words(60) == "1 minute"
    )

"""The approvals pages' rules without any server: the form checks, the typed data the page shows (signed by a
wallet, it recovers at the signer), exact amounts, and the dashboard's own check of both audit chains against
records made by the signer's and the ledger's own hashing code."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from google.protobuf import json_format, struct_pb2

from dashboard.domain import approvals as rules
from dashboard.domain.audit_chain import ChainLink, Verdict, admin_event_link, signer_link, verify_links
from ledger.domain.audit import GENESIS_HASH, AuditEvent
from ledger.domain.audit import chain_hash as ledger_chain_hash
from signer.domain.audit import GENESIS, canonical_body
from signer.domain.audit import chain_hash as signer_chain_hash
from signer.domain.eip712 import ApprovalSubject, recover_signer

NOW = 1_800_000_000
GOOD = "0x" + "ab" * 64 + "1b"


def test_the_typed_data_the_page_shows_signed_by_a_wallet_recovers_to_the_wallet_at_the_signer() -> None:
    subject = ApprovalSubject(
        "req-1", os.urandom(32), "key_hot", 97, "cold_move", 60 * 10**18, Account.create().address
    )
    wallet = Account.create()
    shown = rules.typed_data_with_deadline(json.dumps(subject.typed_data()), NOW + 900)
    signature = wallet.sign_message(encode_typed_data(full_message=json.loads(shown))).signature.hex()
    assert recover_signer(subject.digest(NOW + 900), "0x" + signature) == wallet.address
    # A different deadline is a different digest: the signature does not carry over.
    assert recover_signer(subject.digest(NOW + 901), "0x" + signature) != wallet.address


@pytest.mark.parametrize(
    ("signature", "deadline", "field", "words"),
    [
        ("", str(NOW + 60), "signature", "Paste the signature"),
        ("0x1234zz", str(NOW + 60), "signature", "65 bytes"),
        ("ab" * 65, str(NOW + 60), "signature", "65 bytes"),  # no 0x
        ("0x" + "ab" * 64 + "05", str(NOW + 60), "signature", "(v) must be 0, 1, 27 or 28"),
        (GOOD, "soon", "deadline", "Unix time"),
        (GOOD, str(NOW), "deadline", "has passed"),
        (GOOD, str(NOW + 3601), "deadline", "further ahead than the policy allows (3600 seconds)"),
    ],
)
def test_a_bad_form_is_refused_naming_its_field(signature: str, deadline: str, field: str, words: str) -> None:
    with pytest.raises(rules.FormProblem) as refused:
        rules.check_form(signature, deadline, "", now=NOW, limit=3600)
    assert refused.value.field == field and words in refused.value.message


def test_a_good_form_passes_as_given() -> None:
    checked = rules.check_form(f" {GOOD} ", str(NOW + 3600), " ok ", now=NOW, limit=3600)
    assert checked == rules.ApprovalForm(GOOD, NOW + 3600, "ok")
    with pytest.raises(rules.FormProblem):
        rules.check_form(GOOD, str(NOW + 60), "x" * 501, now=NOW, limit=3600)


def test_validity_choices_stay_within_the_policy_ttl() -> None:
    assert rules.ttl_choices(3600) == (300, 900, 3600)
    assert rules.ttl_choices(120) == (120,)
    assert rules.ttl_choices(0) == ()
    assert rules.deadline_for(NOW, 900, 3600) == NOW + 900
    with pytest.raises(rules.FormProblem):
        rules.deadline_for(NOW, 7200, 3600)


def test_amounts_are_exact_token_units() -> None:
    assert rules.token_units(60 * 10**18, 18) == "60"
    assert rules.token_units(25 * 10**18 + 7, 18) == "25.000000000000000007"
    assert rules.token_units(1, 6) == "0.000001"


def test_the_intent_names_what_it_moves_and_where() -> None:
    cold = json.dumps({"intent": {"kind": "cold_move", "treasury": "0xT", "token": "0xK", "amount": "5"}})
    assert rules.intent_of(cold).fixed_destination.startswith("the cold Safe")
    payout = {"kind": "payout", "treasury": "0xT", "token": "0xK", "lines": [{"destination": "0xD", "amount": "7"}]}
    assert rules.intent_of(json.dumps({"intent": payout})).destinations == (("0xD", 7),)
    assert rules.intent_of("not json").kind == ""


def signer_records(count: int) -> list[dict[str, object]]:
    """Records chained exactly as the signer's state file chains them."""
    records, prev = [], GENESIS
    for sequence in range(1, count + 1):
        body = canonical_body({"actor": "dashboard", "action": "approve", "request_id": f"r{sequence}", "time": 1.5})
        digest = signer_chain_hash(prev, body)
        records.append({"sequence": sequence, "prev_hash": prev, "hash": digest, "body": body})
        prev = digest
    return records


def links(records: list[dict[str, object]]) -> list[ChainLink]:
    return [
        signer_link(
            int(str(r["sequence"])),
            str(r["prev_hash"]),
            str(r["hash"]),
            str(r["body"]),
            {"action": "approve", "request_id": json.loads(str(r["body"]))["request_id"]},
        )
        for r in records
    ]


def test_the_signer_chain_verifies_and_the_first_broken_record_is_named() -> None:
    records = signer_records(5)
    assert verify_links(links(records)) == Verdict(True, 5)

    edited = [dict(r) for r in records]
    edited[2]["body"] = str(edited[2]["body"]).replace("approve", "sign")
    verdict = verify_links(links(edited))
    assert (verdict.ok, verdict.broken_sequence, verdict.records) == (False, 3, 2)

    rehashed = [dict(r) for r in records]  # a forger rehashes the edited record: its successor no longer links
    rehashed[2]["body"] = str(rehashed[2]["body"]).replace('"r3"', '"r9"')
    rehashed[2]["hash"] = signer_chain_hash(str(rehashed[2]["prev_hash"]), str(rehashed[2]["body"]))
    verdict = verify_links(links(rehashed))
    assert (verdict.broken_sequence, verdict.problem) == (4, "its prev_hash is not the previous record's hash")

    verdict = verify_links(links(records[:1] + records[2:]))
    assert (verdict.broken_sequence, verdict.problem) == (2, "record 2 is missing (found 3 in its place)")

    shown_wrong = links(records)
    shown_wrong[1] = signer_link(
        2, str(records[1]["prev_hash"]), str(records[1]["hash"]), str(records[1]["body"]), {"action": "freeze"}
    )
    verdict = verify_links(shown_wrong)
    assert (verdict.broken_sequence, verdict.problem) == (2, "its action differs from the content its hash covers")


def test_the_ledger_admin_chain_verifies_through_the_api_shapes_and_a_change_is_caught() -> None:
    events, prev = [], GENESIS_HASH
    for sequence in range(1, 4):
        event = AuditEvent(
            id=f"aud_{sequence}",
            sequence=sequence,
            actor="admin_key:ak_1",
            action="merchant.onboard",
            subject=f"merchants/mer_{sequence}",
            event_time=dt.datetime(2026, 11, 26, 6, 0, sequence, 123456, tzinfo=dt.UTC),
            details={"adminName": "dash", "attempt": sequence, "nested": {"n": 2}},
            request_id="rq",
            prev_hash=prev,
        )
        event = dataclasses.replace(event, hash=ledger_chain_hash(prev, event))
        events.append(event)
        prev = event.hash

    def as_listed(event: AuditEvent, **change: object) -> ChainLink:
        # What the dashboard receives: details through a protobuf Struct (numbers become doubles).
        details = struct_pb2.Struct()
        details.update(event.details)
        values = {
            "id_": event.id,
            "sequence": event.sequence,
            "actor": event.actor,
            "action": event.action,
            "subject": event.subject,
            "event_time": event.event_time,
            "details": json_format.MessageToDict(details),
            "request_id": event.request_id,
            "prev_hash": event.prev_hash,
            "hash_": event.hash,
        } | change
        return admin_event_link(**values)  # type: ignore[arg-type]

    verdict = verify_links([as_listed(e) for e in events])
    assert verdict.ok and verdict.records == 3
    tampered = [as_listed(e) for e in events]
    tampered[1] = as_listed(events[1], subject="merchants/someone_else")
    verdict = verify_links(tampered)
    assert (verdict.ok, verdict.broken_sequence) == (False, 2)

"""The invoice lifecycle: status, exception flags and amounts from an invoice's payments and the time."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.domain.lifecycle import (
    EXCEPTION_FLAGS,
    MULTIPLE_PAYMENTS,
    OVERPAID,
    PAID_LATE,
    UNDERPAID,
    Evaluation,
    InvoiceTerms,
    PaymentFact,
    PaymentStatus,
    admit_payment,
    evaluate,
    is_late,
)

T0 = dt.datetime(2025, 1, 1, 12, 0, tzinfo=dt.UTC)
EXPIRE = T0 + dt.timedelta(minutes=15)
MONITOR_UNTIL = EXPIRE + dt.timedelta(hours=24)
AMOUNT = 100_000_000
SECOND = dt.timedelta(seconds=1)


def terms(*, amount: int = AMOUNT, tolerance: int = 0, cancel_time: dt.datetime | None = None) -> InvoiceTerms:
    return InvoiceTerms(
        amount=amount,
        tolerance=tolerance,
        expire_time=EXPIRE,
        monitor_until=MONITOR_UNTIL,
        canceled=cancel_time is not None,
        cancel_time=cancel_time,
    )


def pay(pid: str, amount: int, status: PaymentStatus, at: dt.datetime) -> PaymentFact:
    return PaymentFact(id=pid, amount=amount, status=status, observe_time=at)


def test_new_invoice_is_open() -> None:
    assert evaluate(terms(), [], T0) == Evaluation("OPEN", frozenset(), 0, 0, None)


def test_exact_payment_is_processing_when_seen_and_paid_when_final() -> None:
    at = T0 + 60 * SECOND
    seen = evaluate(terms(), [pay("p1", AMOUNT, "SEEN", at)], at)
    assert seen == Evaluation("PROCESSING", frozenset(), amount_paid=0, amount_pending=AMOUNT, paid_time=None)

    final = evaluate(terms(), [pay("p1", AMOUNT, "FINAL", at)], at + SECOND)
    assert final == Evaluation("PAID", frozenset(), amount_paid=AMOUNT, amount_pending=0, paid_time=at)


def test_exact_payment_stays_paid_after_expiry() -> None:
    at = T0 + 60 * SECOND
    result = evaluate(terms(), [pay("p1", AMOUNT, "FINAL", at)], MONITOR_UNTIL + SECOND)
    assert result.status == "PAID"
    assert result.exceptions == frozenset()


def test_underpaid_within_tolerance_is_paid_with_underpaid_flag() -> None:
    at = T0 + 60 * SECOND
    result = evaluate(terms(tolerance=1_000), [pay("p1", AMOUNT - 1_000, "FINAL", at)], at)
    assert result == Evaluation("PAID", frozenset({UNDERPAID}), AMOUNT - 1_000, 0, at)


def test_underpaid_beyond_tolerance_is_processing_then_expires_with_underpaid_flag() -> None:
    at = T0 + 60 * SECOND
    payments = [pay("p1", AMOUNT - 1_001, "FINAL", at)]
    before = evaluate(terms(tolerance=1_000), payments, EXPIRE - SECOND)
    assert before == Evaluation("PROCESSING", frozenset(), AMOUNT - 1_001, 0, None)

    after = evaluate(terms(tolerance=1_000), payments, EXPIRE)
    assert after == Evaluation("EXPIRED", frozenset({UNDERPAID}), AMOUNT - 1_001, 0, None)


def test_overpaid_invoice_is_paid_with_overpaid_flag() -> None:
    at = T0 + 60 * SECOND
    result = evaluate(terms(), [pay("p1", AMOUNT + 5, "FINAL", at)], at)
    assert result == Evaluation("PAID", frozenset({OVERPAID}), AMOUNT + 5, 0, at)


def test_two_payments_pay_the_invoice_with_multiple_payments_flag() -> None:
    first, second = T0 + 60 * SECOND, T0 + 120 * SECOND
    payments = [pay("p1", AMOUNT // 2, "FINAL", first), pay("p2", AMOUNT - AMOUNT // 2, "FINAL", second)]
    result = evaluate(terms(), payments, second)
    # The second payment completed it, so it is the paid time.
    assert result == Evaluation("PAID", frozenset({MULTIPLE_PAYMENTS}), AMOUNT, 0, second)


def test_one_final_and_one_pending_payment_is_processing_with_multiple_payments() -> None:
    payments = [pay("p1", AMOUNT // 2, "FINAL", T0 + SECOND), pay("p2", AMOUNT // 2, "SEEN", T0 + 2 * SECOND)]
    result = evaluate(terms(), payments, T0 + 3 * SECOND)
    assert result == Evaluation("PROCESSING", frozenset({MULTIPLE_PAYMENTS}), AMOUNT // 2, AMOUNT // 2, None)


def test_paid_invoice_stays_paid_while_a_further_payment_is_pending() -> None:
    payments = [pay("p1", AMOUNT, "FINAL", T0 + SECOND), pay("p2", 7, "SEEN", T0 + 2 * SECOND)]
    result = evaluate(terms(), payments, T0 + 3 * SECOND)
    assert result == Evaluation("PAID", frozenset({MULTIPLE_PAYMENTS}), AMOUNT, 7, T0 + SECOND)


def test_late_payment_inside_monitoring_window_is_credited_and_flagged_paid_late() -> None:
    late = EXPIRE + dt.timedelta(hours=1)
    assert admit_payment(terms(), late) == "CREDIT"
    assert is_late(terms(), late)

    expired = evaluate(terms(), [], late)
    assert expired.status == "EXPIRED"
    seen = evaluate(terms(), [pay("p1", AMOUNT, "SEEN", late)], late)
    assert seen == Evaluation("PROCESSING", frozenset({PAID_LATE}), 0, AMOUNT, None)
    final = evaluate(terms(), [pay("p1", AMOUNT, "FINAL", late)], late + SECOND)
    assert final == Evaluation("PAID", frozenset({PAID_LATE}), AMOUNT, 0, late)


def test_late_partial_payment_leaves_invoice_expired_underpaid_and_late() -> None:
    late = EXPIRE + dt.timedelta(hours=1)
    result = evaluate(terms(), [pay("p1", AMOUNT // 4, "FINAL", late)], late + SECOND)
    assert result == Evaluation("EXPIRED", frozenset({UNDERPAID, PAID_LATE}), AMOUNT // 4, 0, None)


def test_late_payment_outside_monitoring_window_is_held_unallocated_and_not_credited() -> None:
    assert admit_payment(terms(), MONITOR_UNTIL) == "UNALLOCATED"
    assert admit_payment(terms(), MONITOR_UNTIL + dt.timedelta(days=3)) == "UNALLOCATED"

    result = evaluate(terms(), [pay("p1", AMOUNT, "UNALLOCATED", MONITOR_UNTIL)], MONITOR_UNTIL + SECOND)
    assert result == Evaluation("EXPIRED", frozenset(), 0, 0, None)


def test_monitoring_window_is_half_open() -> None:
    assert admit_payment(terms(), T0) == "CREDIT"
    assert admit_payment(terms(), MONITOR_UNTIL - dt.timedelta(microseconds=1)) == "CREDIT"
    assert admit_payment(terms(), MONITOR_UNTIL) == "UNALLOCATED"


def test_payment_observed_at_the_expiry_instant_is_late() -> None:
    assert not is_late(terms(), EXPIRE - dt.timedelta(microseconds=1))
    assert is_late(terms(), EXPIRE)
    result = evaluate(terms(), [pay("p1", AMOUNT, "FINAL", EXPIRE)], EXPIRE)
    assert result == Evaluation("PAID", frozenset({PAID_LATE}), AMOUNT, 0, EXPIRE)


def test_canceled_invoice_is_canceled() -> None:
    canceled = terms(cancel_time=T0 + 60 * SECOND)
    assert evaluate(canceled, [], T0 + 61 * SECOND) == Evaluation("CANCELED", frozenset(), 0, 0, None)
    assert evaluate(canceled, [], MONITOR_UNTIL + SECOND).status == "CANCELED"


def test_payment_to_canceled_invoice_is_credited_flagged_and_status_stays_canceled() -> None:
    cancel_time = T0 + 60 * SECOND
    canceled = terms(cancel_time=cancel_time)
    # Still before the invoice's own expiry: late counts from the cancel.
    at = T0 + 120 * SECOND
    assert admit_payment(canceled, at) == "CREDIT"
    assert is_late(canceled, at)

    paid = evaluate(canceled, [pay("p1", AMOUNT, "FINAL", at)], at)
    assert paid == Evaluation("CANCELED", frozenset({PAID_LATE}), AMOUNT, 0, None)

    short = evaluate(canceled, [pay("p1", 10, "FINAL", at)], MONITOR_UNTIL)
    assert short == Evaluation("CANCELED", frozenset({PAID_LATE}), 10, 0, None)

    over = evaluate(canceled, [pay("p1", AMOUNT, "FINAL", at), pay("p2", 1, "SEEN", at)], at)
    assert over.status == "CANCELED"
    assert over.exceptions == frozenset({PAID_LATE, MULTIPLE_PAYMENTS})

    assert admit_payment(canceled, MONITOR_UNTIL) == "UNALLOCATED"


def test_open_invoice_expires_at_expire_time() -> None:
    assert evaluate(terms(), [], EXPIRE - SECOND).status == "OPEN"
    assert evaluate(terms(), [], EXPIRE) == Evaluation("EXPIRED", frozenset(), 0, 0, None)


def test_pending_payment_keeps_invoice_processing_past_expiry_until_final_or_reversed() -> None:
    at = EXPIRE - SECOND
    processing = evaluate(terms(), [pay("p1", AMOUNT, "SEEN", at)], EXPIRE + dt.timedelta(minutes=5))
    assert processing == Evaluation("PROCESSING", frozenset(), 0, AMOUNT, None)

    paid = evaluate(terms(), [pay("p1", AMOUNT, "FINAL", at)], EXPIRE + dt.timedelta(minutes=5))
    # Observed before the expiry, so not late even though final after it.
    assert paid == Evaluation("PAID", frozenset(), AMOUNT, 0, at)

    reversed_ = evaluate(terms(), [pay("p1", AMOUNT, "REVERSED", at)], EXPIRE + dt.timedelta(minutes=5))
    assert reversed_ == Evaluation("EXPIRED", frozenset(), 0, 0, None)


def test_reorg_of_seen_payment_returns_invoice_to_open() -> None:
    at = T0 + 60 * SECOND
    assert evaluate(terms(), [pay("p1", AMOUNT, "SEEN", at)], at).status == "PROCESSING"
    result = evaluate(terms(), [pay("p1", AMOUNT, "REVERSED", at)], at + SECOND)
    assert result == Evaluation("OPEN", frozenset(), 0, 0, None)


def test_reorg_of_final_payment_takes_paid_invoice_back() -> None:
    at = T0 + 60 * SECOND
    assert evaluate(terms(), [pay("p1", AMOUNT, "FINAL", at)], at).status == "PAID"

    before_expiry = evaluate(terms(), [pay("p1", AMOUNT, "REVERSED", at)], at + SECOND)
    assert before_expiry == Evaluation("OPEN", frozenset(), 0, 0, None)
    after_expiry = evaluate(terms(), [pay("p1", AMOUNT, "REVERSED", at)], EXPIRE)
    assert after_expiry == Evaluation("EXPIRED", frozenset(), 0, 0, None)

    # With another payment left, the invoice is re-evaluated from what remains.
    payments = [pay("p1", AMOUNT // 2, "REVERSED", at), pay("p2", AMOUNT // 2, "FINAL", at + SECOND)]
    partial = evaluate(terms(), payments, at + 2 * SECOND)
    assert partial == Evaluation("PROCESSING", frozenset(), AMOUNT // 2, 0, None)
    assert evaluate(terms(), payments, EXPIRE) == Evaluation("EXPIRED", frozenset({UNDERPAID}), AMOUNT // 2, 0, None)


def test_reversed_payment_does_not_count_towards_multiple_payments() -> None:
    payments = [pay("p1", AMOUNT, "REVERSED", T0 + SECOND), pay("p2", AMOUNT, "FINAL", T0 + 2 * SECOND)]
    assert evaluate(terms(), payments, T0 + 3 * SECOND) == Evaluation("PAID", frozenset(), AMOUNT, 0, T0 + 2 * SECOND)


def test_tolerance_as_large_as_the_amount_never_pays_an_unpaid_invoice() -> None:
    generous = terms(tolerance=AMOUNT)
    assert evaluate(generous, [], T0).status == "OPEN"
    assert evaluate(generous, [pay("p1", 1, "SEEN", T0)], T0).status == "PROCESSING"
    result = evaluate(generous, [pay("p1", 1, "FINAL", T0)], T0)
    assert result == Evaluation("PAID", frozenset({UNDERPAID}), 1, 0, T0)


def test_paid_time_is_the_observe_time_of_the_completing_payment() -> None:
    payments = [
        pay("b", AMOUNT // 2, "FINAL", T0 + SECOND),
        pay("a", AMOUNT // 2, "FINAL", T0 + SECOND),
        pay("c", AMOUNT, "FINAL", T0 + 2 * SECOND),
    ]
    result = evaluate(terms(), payments, T0 + 3 * SECOND)
    assert result.paid_time == T0 + SECOND
    assert result.exceptions == frozenset({MULTIPLE_PAYMENTS, OVERPAID})


@pytest.mark.parametrize(
    "bad",
    [
        {"amount": 0},
        {"amount": -1},
        {"amount": 1.5},
        {"tolerance": -1},
        {"monitor_until": EXPIRE - SECOND},
        {"expire_time": EXPIRE.replace(tzinfo=None)},
        {"canceled": True},
        {"cancel_time": T0},
    ],
)
def test_invalid_terms_are_refused(bad: dict[str, object]) -> None:
    fields: dict[str, object] = {
        "amount": AMOUNT,
        "tolerance": 0,
        "expire_time": EXPIRE,
        "monitor_until": MONITOR_UNTIL,
        "canceled": False,
        "cancel_time": None,
    }
    with pytest.raises(ValueError, match=r"."):
        InvoiceTerms(**{**fields, **bad})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("amount", "status", "at"),
    [(0, "FINAL", T0), (-5, "SEEN", T0), (1, "PAID", T0), (1, "SEEN", T0.replace(tzinfo=None))],
)
def test_invalid_payment_facts_are_refused(amount: int, status: str, at: dt.datetime) -> None:
    with pytest.raises(ValueError, match=r"."):
        PaymentFact(id="p1", amount=amount, status=status, observe_time=at)  # type: ignore[arg-type]


def test_duplicate_payment_ids_and_naive_now_are_refused() -> None:
    with pytest.raises(ValueError, match="unique"):
        evaluate(terms(), [pay("p1", 1, "SEEN", T0), pay("p1", 1, "FINAL", T0)], T0)
    with pytest.raises(ValueError, match="timezone"):
        evaluate(terms(), [], T0.replace(tzinfo=None))
    with pytest.raises(ValueError, match="timezone"):
        admit_payment(terms(), T0.replace(tzinfo=None))


# --- properties -------------------------------------------------------------------------------------------

_offsets = st.integers(min_value=-3_600, max_value=2 * 86_400)
_statuses: st.SearchStrategy[PaymentStatus] = st.sampled_from(["SEEN", "FINAL", "REVERSED", "UNALLOCATED"])


@st.composite
def _terms(draw: st.DrawFn) -> InvoiceTerms:
    amount = draw(st.integers(min_value=1, max_value=10**24))
    canceled = draw(st.booleans())
    cancel_time = T0 + dt.timedelta(seconds=draw(st.integers(0, 900))) if canceled else None
    return InvoiceTerms(
        amount=amount,
        tolerance=draw(st.integers(min_value=0, max_value=amount + 1)),
        expire_time=EXPIRE,
        monitor_until=MONITOR_UNTIL,
        canceled=canceled,
        cancel_time=cancel_time,
    )


@st.composite
def _payments(draw: st.DrawFn) -> list[PaymentFact]:
    count = draw(st.integers(min_value=0, max_value=8))
    return [
        PaymentFact(
            id=f"p{i}",
            amount=draw(st.integers(min_value=1, max_value=10**24)),
            status=draw(_statuses),
            observe_time=T0 + dt.timedelta(seconds=draw(_offsets)),
        )
        for i in range(count)
    ]


@given(_terms(), _payments(), _offsets, st.randoms(use_true_random=False))
def test_evaluate_is_deterministic_and_independent_of_payment_order(
    invoice: InvoiceTerms, payments: list[PaymentFact], now_offset: int, rnd: random.Random
) -> None:
    now = T0 + dt.timedelta(seconds=now_offset)
    shuffled = list(payments)
    rnd.shuffle(shuffled)
    first = evaluate(invoice, payments, now)
    assert evaluate(invoice, payments, now) == first
    assert evaluate(invoice, shuffled, now) == first
    assert evaluate(invoice, tuple(reversed(payments)), now) == first


@given(_terms(), _payments(), _offsets)
def test_evaluation_agrees_with_the_rules(invoice: InvoiceTerms, payments: list[PaymentFact], now_offset: int) -> None:
    now = T0 + dt.timedelta(seconds=now_offset)
    result = evaluate(invoice, payments, now)
    final = [p for p in payments if p.status == "FINAL"]
    seen = [p for p in payments if p.status == "SEEN"]
    credited = final + seen

    assert result.amount_paid == sum(p.amount for p in final)
    assert result.amount_pending == sum(p.amount for p in seen)
    assert result.exceptions <= EXCEPTION_FLAGS
    assert (MULTIPLE_PAYMENTS in result.exceptions) == (len(credited) > 1)
    assert (OVERPAID in result.exceptions) == (result.amount_paid > invoice.amount)
    assert (PAID_LATE in result.exceptions) == any(p.observe_time >= invoice.deadline for p in credited)

    reaches = result.amount_paid >= max(invoice.amount - invoice.tolerance, 1)
    if invoice.canceled:
        assert result.status == "CANCELED"
    else:
        assert (result.status == "PAID") == reaches
    if result.status == "PAID":
        assert result.paid_time in {p.observe_time for p in final}
    else:
        assert result.paid_time is None
    if result.status == "EXPIRED":
        assert now >= invoice.expire_time
        assert result.amount_pending == 0
    if result.status == "OPEN":
        assert not credited
    assert (UNDERPAID in result.exceptions) == (
        (result.status == "PAID" and result.amount_paid < invoice.amount)
        or (result.status == "EXPIRED" and result.amount_paid > 0)
    )


@given(_terms(), _payments(), _offsets, st.integers(min_value=0, max_value=7))
def test_reversing_a_payment_is_the_same_as_never_having_it(
    invoice: InvoiceTerms, payments: list[PaymentFact], now_offset: int, pick: int
) -> None:
    if not payments:
        return
    now = T0 + dt.timedelta(seconds=now_offset)
    victim = payments[pick % len(payments)]
    reversed_ = [p if p is not victim else PaymentFact(p.id, p.amount, "REVERSED", p.observe_time) for p in payments]
    without = [p for p in payments if p is not victim]
    assert evaluate(invoice, reversed_, now) == evaluate(invoice, without, now)

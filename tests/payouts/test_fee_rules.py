"""Fee plans as plain rules: fee + net = gross exactly, the rounding rule, and books that stay sound."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.domain import postings
from ledger.domain.fees import BPS_DENOMINATOR, FeePlan, Split, charge_for_payment, fee_for

UNIT = 10**18
plans = st.builds(
    FeePlan,
    bps=st.integers(0, BPS_DENOMINATOR),
    fixed=st.one_of(st.just(0), st.integers(0, 10 * UNIT)),
    minimum=st.one_of(st.just(0), st.integers(0, 10 * UNIT)),
)
amounts = st.integers(1, 10**30)


def test_the_percentage_is_rounded_down_then_the_fixed_part_added_and_the_minimum_applied() -> None:
    plan = FeePlan(bps=150, fixed=3, minimum=0)
    assert fee_for(plan, 1000) == 15 + 3  # 1.5 % of 1000
    assert fee_for(plan, 1066) == 15 + 3  # 15.99 is rounded down to 15
    assert fee_for(FeePlan(bps=150, fixed=3, minimum=50), 1000) == 50
    assert fee_for(FeePlan(bps=0, fixed=0, minimum=50), 20) == 20  # never more than the gross
    assert fee_for(FeePlan(), 10**30) == 0
    assert fee_for(plan, 0) == 0


def test_a_plan_outside_its_bounds_is_refused() -> None:
    with pytest.raises(ValueError, match="bps"):
        FeePlan(bps=10_001)
    with pytest.raises(ValueError, match="fixed"):
        FeePlan(fixed=-1)


@settings(max_examples=500, deadline=None)
@given(plan=plans, gross=amounts)
def test_fee_plus_net_is_the_gross_exactly_and_the_fee_never_exceeds_it(plan: FeePlan, gross: int) -> None:
    fee = fee_for(plan, gross)
    split = Split(gross, fee)
    assert split.fee + split.net == gross
    assert 0 <= fee <= gross
    assert fee >= min(gross, plan.minimum)


@settings(max_examples=300, deadline=None)
@given(plan=plans, payments=st.lists(amounts, min_size=1, max_size=6))
def test_payment_by_payment_charges_sum_to_the_fee_on_the_total_and_the_books_balance(
    plan: FeePlan, payments: list[int]
) -> None:
    balances: dict[postings.AccountRef, int] = {}
    paid = charged = 0
    for amount in payments:
        balances = postings.apply(balances, postings.payment_seen("m1", "USDT", amount))
        fee = charge_for_payment(plan, paid, amount)
        assert 0 <= fee <= amount
        balances = postings.apply(balances, postings.payment_final("m1", "USDT", amount, fee))
        paid += amount
        charged += fee
    assert charged == fee_for(plan, paid)
    available = balances[postings.AccountRef("merchant_available", "m1", "USDT")] if paid > charged else 0
    fees_earned = balances.get(postings.AccountRef("platform_fees", None, "USDT"), 0)
    assert available + fees_earned == paid
    assert fees_earned == charged
    assert balances[postings.AccountRef("merchant_pending", "m1", "USDT")] == 0
    # Assets equal liabilities plus income: what sits in chain clearing is owed to the merchant or earned.
    assert balances[postings.AccountRef("chain_clearing", None, "USDT")] == available + fees_earned


@settings(max_examples=300, deadline=None)
@given(plan=plans, amount=amounts, available=st.integers(0, 10**30))
def test_a_reversal_gives_the_fee_back_and_balances(plan: FeePlan, amount: int, available: int) -> None:
    fee = fee_for(plan, amount)
    reversal = postings.credited_payment_reversed("m1", "USDT", amount, available, fee)
    debits = {e.account.kind: e.amount for e in reversal.entries if e.side == "D"}
    assert debits.get("platform_fees", 0) == fee
    assert debits.get("merchant_available", 0) == min(amount - fee, available)
    assert sum(debits.values()) == amount

"""Journal postings for payment events: balanced, in the right accounts, and never overdrawing a merchant."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.domain.postings import (
    CREDITED_PAYMENT_REVERSED,
    NON_NEGATIVE_KINDS,
    NORMAL_SIDE,
    PAYMENT_FINAL,
    PAYMENT_SEEN,
    SEEN_PAYMENT_REORGED,
    SWEEP,
    UNALLOCATED_PAYMENT,
    AccountRef,
    Entry,
    Posting,
    apply,
    check_balanced,
    credited_payment_reversed,
    payment_final,
    payment_seen,
    seen_payment_reorged,
    sweep,
    unallocated_payment,
    unallocated_payment_reversed,
)

MIGRATIONS = Path(__file__).resolve().parents[3] / "ledger" / "store" / "migrations"
USDT = "USDT"


def merchant(kind: str, merchant_id: str = "m1", asset: str = USDT) -> AccountRef:
    return AccountRef(kind, merchant_id, asset)


def platform(kind: str, asset: str = USDT) -> AccountRef:
    return AccountRef(kind, None, asset)


def lines(posting: Posting) -> set[tuple[str, str | None, str, int]]:
    return {(e.account.kind, e.account.merchant_id, e.side, e.amount) for e in posting.entries}


def test_normal_sides_cover_exactly_the_schemas_account_kinds() -> None:
    # The latest migration that (re)defines the account kinds is the schema's word.
    kinds_pattern = r"(?:kind\s+text NOT NULL|accounts_kind_check) CHECK \(kind IN \((?P<kinds>[^)]*)\)\)"
    matches = [m for path in sorted(MIGRATIONS.glob("*.sql")) for m in re.finditer(kinds_pattern, path.read_text())]
    assert matches
    schema_kinds = set(re.findall(r"'([a-z_]+)'", matches[-1]["kinds"]))
    assert set(NORMAL_SIDE) == schema_kinds
    assert {k for k, side in NORMAL_SIDE.items() if side == "D"} == {
        "chain_clearing",
        "treasury",
        "cold_storage",
        "gas_expense",
        "gas_float",
        "merchant_receivable",
    }
    assert set(NORMAL_SIDE) >= NON_NEGATIVE_KINDS


def test_payment_seen_debits_chain_clearing_and_credits_merchant_pending() -> None:
    posting = payment_seen("m1", USDT, 500)
    assert posting.kind == PAYMENT_SEEN
    assert lines(posting) == {("chain_clearing", None, "D", 500), ("merchant_pending", "m1", "C", 500)}
    assert posting.memo


def test_payment_final_moves_pending_to_available() -> None:
    posting = payment_final("m1", USDT, 500)
    assert posting.kind == PAYMENT_FINAL
    assert lines(posting) == {("merchant_pending", "m1", "D", 500), ("merchant_available", "m1", "C", 500)}


def test_seen_payment_reorged_undoes_the_seen_posting() -> None:
    posting = seen_payment_reorged("m1", USDT, 500)
    assert posting.kind == SEEN_PAYMENT_REORGED
    assert lines(posting) == {("merchant_pending", "m1", "D", 500), ("chain_clearing", None, "C", 500)}
    balances = apply(apply({}, payment_seen("m1", USDT, 500)), posting)
    assert all(balance == 0 for balance in balances.values())


def test_credited_payment_reversed_from_available_when_it_covers() -> None:
    posting = credited_payment_reversed("m1", USDT, 500, available_balance=800)
    assert posting.kind == CREDITED_PAYMENT_REVERSED
    assert lines(posting) == {("merchant_available", "m1", "D", 500), ("chain_clearing", None, "C", 500)}


def test_credited_payment_reversed_in_full_with_shortfall_to_receivable() -> None:
    posting = credited_payment_reversed("m1", USDT, 500, available_balance=120)
    assert lines(posting) == {
        ("merchant_available", "m1", "D", 120),
        ("merchant_receivable", "m1", "D", 380),
        ("chain_clearing", None, "C", 500),
    }
    assert "380" in posting.memo


def test_credited_payment_reversed_with_nothing_available_is_all_receivable() -> None:
    posting = credited_payment_reversed("m1", USDT, 500, available_balance=0)
    assert lines(posting) == {("merchant_receivable", "m1", "D", 500), ("chain_clearing", None, "C", 500)}


def test_credited_payment_reversed_refuses_negative_available_or_bad_amount() -> None:
    with pytest.raises(ValueError, match="available_balance"):
        credited_payment_reversed("m1", USDT, 500, available_balance=-1)
    with pytest.raises(ValueError, match="amount"):
        credited_payment_reversed("m1", USDT, 0, available_balance=10)


def test_unallocated_payment_is_held_apart_from_merchants() -> None:
    posting = unallocated_payment(USDT, 42)
    assert posting.kind == UNALLOCATED_PAYMENT
    assert lines(posting) == {("chain_clearing", None, "D", 42), ("unallocated", None, "C", 42)}
    undone = apply(apply({}, posting), unallocated_payment_reversed(USDT, 42))
    assert all(balance == 0 for balance in undone.values())


@pytest.mark.parametrize("amount", [0, -1])
@pytest.mark.parametrize(
    "make",
    [
        lambda a: payment_seen("m1", USDT, a),
        lambda a: payment_final("m1", USDT, a),
        lambda a: seen_payment_reorged("m1", USDT, a),
        lambda a: unallocated_payment(USDT, a),
        lambda a: unallocated_payment_reversed(USDT, a),
    ],
)
def test_postings_refuse_non_positive_amounts(make: Callable[[int], Posting], amount: int) -> None:
    with pytest.raises(ValueError, match="positive"):
        make(amount)


def test_sweep_moves_clearing_to_treasury_and_books_gas_in_bnb_from_the_float() -> None:
    posting = sweep(USDT, 2200, 7 * 10**13)
    assert posting.kind == SWEEP
    assert {(e.account.kind, e.account.asset, e.side, e.amount) for e in posting.entries} == {
        ("treasury", USDT, "D", 2200),
        ("chain_clearing", USDT, "C", 2200),
        ("gas_expense", "BNB", "D", 7 * 10**13),
        ("gas_float", "BNB", "C", 7 * 10**13),
    }
    after = apply({}, posting)
    assert after[platform("treasury")] == 2200
    assert after[platform("chain_clearing")] == -2200
    assert after[platform("gas_expense", "BNB")] == 7 * 10**13
    assert after[platform("gas_float", "BNB")] == -(7 * 10**13)  # debit-normal: the float shrinks
    free = sweep(USDT, 5, 0)  # a chain that charged no gas: no BNB lines (entries are positive)
    assert {e.account.kind for e in free.entries} == {"treasury", "chain_clearing"}
    with pytest.raises(ValueError, match="gas_wei"):
        sweep(USDT, 5, -1)
    with pytest.raises(ValueError, match="positive"):
        sweep(USDT, 0, 1)


def test_check_balanced_refuses_unbalanced_and_non_positive_entries() -> None:
    clearing, pending = platform("chain_clearing"), merchant("merchant_pending")
    check_balanced(Posting("ok", (Entry(clearing, "D", 5), Entry(pending, "C", 5)), ""))
    with pytest.raises(ValueError, match="does not balance in USDT"):
        check_balanced(Posting("x", (Entry(clearing, "D", 5), Entry(pending, "C", 4)), ""))
    with pytest.raises(ValueError, match="positive"):
        check_balanced(Posting("x", (Entry(clearing, "D", 0), Entry(pending, "C", 0)), ""))
    with pytest.raises(ValueError, match="positive"):
        check_balanced(Posting("x", (Entry(clearing, "D", -5), Entry(pending, "C", -5)), ""))
    with pytest.raises(ValueError, match="positive integers"):
        check_balanced(Posting("x", (Entry(clearing, "D", 1.5), Entry(pending, "C", 1.5)), ""))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="side"):
        check_balanced(Posting("x", (Entry(clearing, "X", 5), Entry(pending, "C", 5)), ""))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no entries"):
        check_balanced(Posting("x", (), ""))


def test_check_balanced_is_per_asset() -> None:
    # Balanced in total, but USDT is debited and BUSD credited.
    entries = (
        Entry(platform("chain_clearing", "USDT"), "D", 5),
        Entry(merchant("merchant_pending", "m1", "BUSD"), "C", 5),
    )
    with pytest.raises(ValueError, match="BUSD, USDT"):
        check_balanced(Posting("x", entries, ""))


def test_apply_moves_balances_in_normal_orientation_without_changing_its_input() -> None:
    start: dict[AccountRef, int] = {}
    seen = apply(start, payment_seen("m1", USDT, 500))
    assert start == {}
    assert seen == {platform("chain_clearing"): 500, merchant("merchant_pending"): 500}
    final = apply(seen, payment_final("m1", USDT, 500))
    assert final == {
        platform("chain_clearing"): 500,
        merchant("merchant_pending"): 0,
        merchant("merchant_available"): 500,
    }
    with pytest.raises(ValueError, match="does not balance"):
        apply(final, Posting("x", (Entry(platform("treasury"), "D", 1),), ""))


def test_account_refs_follow_the_schemas_rules() -> None:
    with pytest.raises(ValueError, match="unknown account kind"):
        AccountRef("merchant_savings", "m1", USDT)
    with pytest.raises(ValueError, match="merchant id"):
        AccountRef("merchant_available", None, USDT)
    with pytest.raises(ValueError, match="merchant id"):
        AccountRef("chain_clearing", "m1", USDT)
    with pytest.raises(ValueError, match="asset"):
        AccountRef("treasury", None, "")
    assert merchant("merchant_receivable").normal_side == "D"
    assert merchant("merchant_available").normal_side == "C"


# --- properties -------------------------------------------------------------------------------------------

_amounts = st.integers(min_value=1, max_value=2**256 - 1)
_merchants = st.sampled_from(["m1", "m2"])
_assets = st.sampled_from(["USDT", "BUSD"])


@given(
    st.one_of(
        st.builds(payment_seen, _merchants, _assets, _amounts),
        st.builds(payment_final, _merchants, _assets, _amounts),
        st.builds(seen_payment_reorged, _merchants, _assets, _amounts),
        st.builds(credited_payment_reversed, _merchants, _assets, _amounts, st.integers(min_value=0, max_value=2**257)),
        st.builds(unallocated_payment, _assets, _amounts),
        st.builds(unallocated_payment_reversed, _assets, _amounts),
    )
)
def test_every_posting_balances(posting: Posting) -> None:
    check_balanced(posting)
    debits = sum(e.amount for e in posting.entries if e.side == "D")
    credits = sum(e.amount for e in posting.entries if e.side == "C")
    assert debits == credits > 0
    assert all(type(e.amount) is int for e in posting.entries)


@dataclass
class Simulation:
    """A model of payments per merchant and asset, driven by events, beside the fold of their postings."""

    balances: dict[AccountRef, int] = field(default_factory=dict)
    # payment id -> (merchant, asset, amount, status)
    payments: dict[int, tuple[str, str, int, str]] = field(default_factory=dict)
    unallocated: dict[int, tuple[str, int]] = field(default_factory=dict)
    fees: dict[tuple[str, str], int] = field(default_factory=dict)
    next_id: int = 0

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id

    def post(self, posting: Posting) -> None:
        self.balances = apply(self.balances, posting)

    def balance(self, account: AccountRef) -> int:
        return self.balances.get(account, 0)


_events = st.lists(
    st.tuples(
        # Payment events weighted over the rest, so most sequences credit, charge and reverse something.
        st.sampled_from(
            ["observe", "observe", "finalize", "finalize", "reorg", "fee", "unallocated", "unallocated_reorg"]
        ),
        _merchants,
        _assets,
        st.integers(min_value=1, max_value=10**20),
        st.integers(min_value=0, max_value=1_000),
    ),
    min_size=5,
    max_size=60,
)


def _step(sim: Simulation, event: tuple[str, str, str, int, int]) -> None:
    """Apply one event if it is possible in the current state (a consistent sequence), else skip it."""
    op, merchant_id, asset, amount, pick = event
    if op == "observe":
        sim.payments[sim.new_id()] = (merchant_id, asset, amount, "SEEN")
        sim.post(payment_seen(merchant_id, asset, amount))
    elif op in ("finalize", "reorg"):
        live = sorted(pid for pid, p in sim.payments.items() if p[3] in ("SEEN", "FINAL"))
        if op == "finalize":
            live = [pid for pid in live if sim.payments[pid][3] == "SEEN"]
        if not live:
            return
        pid = live[pick % len(live)]
        m, a, amt, status = sim.payments[pid]
        if op == "finalize":
            sim.post(payment_final(m, a, amt))
            sim.payments[pid] = (m, a, amt, "FINAL")
        elif status == "SEEN":
            sim.post(seen_payment_reorged(m, a, amt))
            sim.payments[pid] = (m, a, amt, "REVERSED")
        else:
            available = sim.balance(merchant("merchant_available", m, a))
            sim.post(credited_payment_reversed(m, a, amt, available))
            sim.payments[pid] = (m, a, amt, "REVERSED")
    elif op == "fee":
        # A platform fee takes part of some merchant's available balance (never more than all of it), so that
        # later reversals of credited payments must reach into the receivable.
        funded = sorted(
            (acct.merchant_id or "", acct.asset)
            for acct, balance in sim.balances.items()
            if acct.kind == "merchant_available" and balance > 0
        )
        if not funded:
            return
        m, a = funded[pick % len(funded)]
        available = sim.balance(merchant("merchant_available", m, a))
        fee = max(available * (amount % 1_000 + 1) // 1_000, 1)
        posting = Posting(
            "fee",
            (
                Entry(merchant("merchant_available", m, a), "D", fee),
                Entry(platform("platform_fees", a), "C", fee),
            ),
            "platform fee",
        )
        sim.post(posting)
        sim.fees[m, a] = sim.fees.get((m, a), 0) + fee
    elif op == "unallocated":
        sim.unallocated[sim.new_id()] = (asset, amount)
        sim.post(unallocated_payment(asset, amount))
    elif sim.unallocated:
        held = sorted(sim.unallocated)
        pid = held[pick % len(held)]
        a, amt = sim.unallocated.pop(pid)
        sim.post(unallocated_payment_reversed(a, amt))


def _check_invariants(sim: Simulation) -> None:
    for account, balance in sim.balances.items():
        # Every account here only ever holds a non-negative amount, and merchant balances must by the schema.
        assert balance >= 0, account
    for m in ("m1", "m2"):
        for a in ("USDT", "BUSD"):
            mine = [p for p in sim.payments.values() if p[0] == m and p[1] == a]
            seen = sum(p[2] for p in mine if p[3] == "SEEN")
            final = sum(p[2] for p in mine if p[3] == "FINAL")
            assert sim.balance(merchant("merchant_pending", m, a)) == seen
            available = sim.balance(merchant("merchant_available", m, a))
            receivable = sim.balance(merchant("merchant_receivable", m, a))
            assert available - receivable == final - sim.fees.get((m, a), 0)
    for a in ("USDT", "BUSD"):
        credited = sum(p[2] for p in sim.payments.values() if p[1] == a and p[3] in ("SEEN", "FINAL"))
        held = sum(amt for asset, amt in sim.unallocated.values() if asset == a)
        assert sim.balance(platform("chain_clearing", a)) == credited + held
        assert sim.balance(platform("unallocated", a)) == held
        # Trial balance: debit-normal and credit-normal balances are equal, per asset.
        net = sum((b if acct.normal_side == "D" else -b) for acct, b in sim.balances.items() if acct.asset == a)
        assert net == 0


@settings(max_examples=300)  # reversals that reach the receivable need longer runs to turn up often
@given(_events)
def test_fold_of_postings_matches_the_payments_and_never_overdraws_a_merchant(
    events: list[tuple[str, str, str, int, int]],
) -> None:
    sim = Simulation()
    for event in events:
        _step(sim, event)
        _check_invariants(sim)


def test_reversal_after_fees_leaves_a_receivable_and_no_negative_balance() -> None:
    sim = Simulation()
    for event in [
        ("observe", "m1", USDT, 1_000, 0),
        ("finalize", "m1", USDT, 0, 0),
        ("fee", "m1", USDT, 299, 0),  # 300/1,000 of the 1,000 available
        ("reorg", "m1", USDT, 0, 0),
    ]:
        _step(sim, event)
        _check_invariants(sim)
    assert sim.balance(merchant("merchant_available")) == 0
    assert sim.balance(merchant("merchant_receivable")) == 300
    assert sim.balance(platform("platform_fees")) == 300
    assert sim.balance(platform("chain_clearing")) == 0


def test_cold_moves_shift_treasury_and_cold_storage_both_ways_and_top_ups_fund_the_gas_float() -> None:
    from ledger.domain.postings import COLD_MOVE_IN, COLD_MOVE_OUT, GAS_TOP_UP, cold_move, gas_top_up

    into = cold_move(USDT, 900, 5 * 10**13, into_cold=True)
    assert into.kind == COLD_MOVE_IN
    after = apply({}, into)
    assert (after[platform("cold_storage")], after[platform("treasury")]) == (900, -900)
    assert after[platform("gas_expense", "BNB")] == 5 * 10**13
    out = cold_move(USDT, 300, 0, into_cold=False)  # no gas lines when none was charged
    assert out.kind == COLD_MOVE_OUT
    assert {(e.account.kind, e.side, e.amount) for e in out.entries} == {
        ("treasury", "D", 300),
        ("cold_storage", "C", 300),
    }
    both = apply(after, out)
    assert (both[platform("cold_storage")], both[platform("treasury")]) == (600, -600)
    top = gas_top_up(3 * 10**18)
    assert top.kind == GAS_TOP_UP
    funded = apply({}, top)
    assert funded[platform("gas_float", "BNB")] == 3 * 10**18 == funded[platform("platform_capital", "BNB")]
    with pytest.raises(ValueError, match="positive"):
        cold_move(USDT, 0, 1, into_cold=True)
    with pytest.raises(ValueError, match="gas_wei"):
        cold_move(USDT, 1, -1, into_cold=False)
    with pytest.raises(ValueError, match="positive"):
        gas_top_up(0)

"""The local signer policy `up` writes: the HOT key pays treasury payout batches, each at most 10,000 tokens."""

from __future__ import annotations

from chain.deploy import ANVIL_FIRST_ACCOUNT, plan
from gateway import localrun
from signer.domain.intents import PayoutIntent, PayoutLine, TransactionRequest
from signer.domain.policy import evaluate, parse_policy
from signer.domain.purpose import KeyPurpose
from signer.domain.transactions import Eip1559Fee

ANY_OTHER = "0x87473Be78E8779F9a280E96b30f5bA2020a8EE7B"


def payout_to(destination: str, amount: int = 10**18) -> TransactionRequest:
    contracts = plan(ANVIL_FIRST_ACCOUNT, 0)
    intent = PayoutIntent(
        bytes.fromhex(contracts.treasury[2:]),
        bytes.fromhex(contracts.token[2:]),
        (PayoutLine(bytes.fromhex(destination[2:]), amount, "rev_test"),),
    )
    return TransactionRequest("dev-hot", 97, 1, 200_000, Eip1559Fee(20 * 10**9, 10**9), intent)


def test_the_dev_policy_allows_revenue_withdrawals_and_payout_batches_up_to_their_cap_and_nothing_more() -> None:
    policy = parse_policy(localrun.dev_policy(plan(ANVIL_FIRST_ACCOUNT, 0)).encode()).policy
    allowed = evaluate(policy, KeyPurpose.HOT, payout_to(localrun.DEV_PLATFORM_REVENUE_ADDRESS), lambda _r, _s: 0)
    assert (allowed.allowed, allowed.rule) == (True, "dev-platform-revenue")
    elsewhere = evaluate(policy, KeyPurpose.HOT, payout_to(ANY_OTHER), lambda _r, _s: 0)
    assert (elsewhere.allowed, elsewhere.rule) == (True, "dev-payouts")
    too_much_elsewhere = evaluate(policy, KeyPurpose.HOT, payout_to(ANY_OTHER, 10_001 * 10**18), lambda _r, _s: 0)
    assert not too_much_elsewhere.allowed
    too_much = evaluate(
        policy, KeyPurpose.HOT, payout_to(localrun.DEV_PLATFORM_REVENUE_ADDRESS, 10_001 * 10**18), lambda _r, _s: 0
    )
    assert not too_much.allowed

"""The fee estimate's gas figure for a one-line payout holds against the real treasury contract on anvil."""

from __future__ import annotations

import secrets

from chain import abi
from settlement.fee_service import ONE_LINE_PAYOUT_GAS
from tests.chain.conftest import Deployed

TOKEN = 10**18


def test_a_one_line_payout_to_a_fresh_recipient_fits_the_quoted_gas_within_ten_percent(contracts: Deployed) -> None:
    treasury, token = contracts.treasury, contracts.token
    token.transact("mint", treasury.address, 1000 * TOKEN, sender=contracts.accounts[5])
    used = []
    for _ in range(2):
        fresh = "0x" + secrets.token_hex(20)  # holds none of the token yet: the dearer case the quote assumes
        batch = abi.keccak256(secrets.token_bytes(16))
        receipt = treasury.transact("payoutBatch", batch, [fresh], [123 * TOKEN], sender=contracts.deployer)
        assert token.call1("balanceOf", fresh) == 123 * TOKEN
        used.append(receipt.gas_used)
    assert max(used) <= ONE_LINE_PAYOUT_GAS <= max(used) * 11 // 10, used

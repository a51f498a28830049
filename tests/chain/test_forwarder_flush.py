"""One flushBatch sweeps 100 deposit addresses, new and reused, into the treasury to the exact base unit."""

from __future__ import annotations

from chain import abi
from ledger.domain.addresses import create2_address, invoice_salt
from tests.chain.conftest import Deployed

TOKEN = 10**18


def test_one_transaction_flushes_100_forwarders_new_and_reused_to_the_treasury(contracts: Deployed) -> None:
    d, token, factory, chain = contracts.deployment, contracts.token, contracts.factory, contracts.chain
    sweeper, payer = contracts.deployer, contracts.accounts[4]
    init_code_hash = bytes.fromhex(d.init_code_hash[2:])
    ids = [f"inv_flush{i:03d}" for i in range(100)]
    salts = [invoice_salt(i) for i in ids]
    addresses = [create2_address(d.factory, salt, init_code_hash) for salt in salts]
    # Every other address was swept before (an earlier invoice's forwarder reused); the rest were never deployed.
    reused = set(range(0, 100, 2))
    factory.transact("flushBatch", [salts[i] for i in sorted(reused)], [], [], sender=sweeper)
    assert all(bool(chain.code(a)) == (i in reused) for i, a in enumerate(addresses))

    amounts = [(i + 1) * TOKEN + i * 7919 for i in range(100)]  # odd base units: nothing may round
    token.transact("mint", payer, sum(amounts), sender=payer)
    for address, amount in zip(addresses, amounts, strict=True):
        token.transact("transfer", address, amount, sender=payer)
    native = {3: 10**15, 4: 2 * 10**15 + 1, 51: 3 * 10**16}  # BNB at new (3, 51) and reused (4) forwarders
    for i, wei in native.items():
        chain.send(payer, addresses[i], b"", value=wei)
    lookalike = contracts.new_token()  # same name, symbol and decimals, another contract
    stray_at = 7
    lookalike.transact("mint", addresses[stray_at], 42 * TOKEN, sender=payer)

    quarantine = d.roles.quarantine
    treasury_before = token.call1("balanceOf", d.treasury), chain.balance(d.treasury)
    quarantine_before = lookalike.call1("balanceOf", quarantine)
    receipt = factory.transact("flushBatch", salts, [stray_at], [lookalike.address], sender=sweeper)

    assert token.call1("balanceOf", d.treasury) == treasury_before[0] + sum(amounts)
    assert chain.balance(d.treasury) == treasury_before[1] + sum(native.values())
    assert lookalike.call1("balanceOf", quarantine) == quarantine_before + 42 * TOKEN
    assert lookalike.call1("balanceOf", d.treasury) == 0
    for address in addresses:
        assert token.call1("balanceOf", address) == 0
        assert chain.balance(address) == 0
        assert chain.code(address), "every forwarder exists after the flush"

    topic = factory.artifact.event_topic("Flushed")
    flushed = {
        log.topics[1]: abi.decode(("uint256", "uint256"), log.data) for log in receipt.logs if log.topics[0] == topic
    }
    assert flushed == {salt: (amounts[i], native.get(i, 0)) for i, salt in enumerate(salts)}
    quarantined = [log for log in receipt.logs if log.topics[0] == factory.artifact.event_topic("Quarantined")]
    assert len(quarantined) == 1 and quarantined[0].topics[1] == salts[stray_at]
    # About 50 new clones and 100 sweeps: far below a block (anvil's 30M gas limit, BSC's larger).
    assert receipt.gas_used < 100 * 80_000

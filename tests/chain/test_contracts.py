"""Our contracts on a real anvil: deposit addresses agree with the ledger's math, and each role can do only its part."""

from __future__ import annotations

import os

import pytest

from chain import abi
from chain.contracts import TransactionReverted
from chain.deploy import create_address, forwarder_init_code_hash
from ledger.config import LedgerSettings
from ledger.domain.addresses import create2_address, invoice_salt
from service_runtime.config import load_settings
from service_runtime.devcerts import DevMesh
from tests.chain.conftest import Deployed

TOKEN = 10**18


def test_deployment_matches_the_plan_and_the_factorys_own_init_code_hash(contracts: Deployed) -> None:
    d = contracts.deployment
    assert d.token_decimals == 18
    assert d.chain_id == 97
    implementation = contracts.factory.call1("implementation")
    assert implementation == d.forwarder_implementation == create_address(d.factory, 1)
    assert contracts.factory.call1("forwarderInitCodeHash") == forwarder_init_code_hash(implementation)
    assert "0x" + forwarder_init_code_hash(implementation).hex() == d.init_code_hash
    assert contracts.factory.call1("treasury") == d.treasury
    assert contracts.factory.call1("token") == d.token
    assert contracts.treasury.call1("coldSafe") == contracts.accounts[1]


def test_a_payment_to_the_ledgers_deposit_address_lands_where_the_factory_predicts(contracts: Deployed) -> None:
    d = contracts.deployment
    invoice_id = "inv_0123456789abcdefghjkmnpq"
    ledger_address = create2_address(d.factory, invoice_salt(invoice_id), bytes.fromhex(d.init_code_hash[2:]))
    assert contracts.factory.call1("predict", invoice_salt(invoice_id)) == ledger_address

    payer = contracts.accounts[5]
    contracts.token.transact("mint", payer, 25 * TOKEN, sender=payer)
    contracts.token.transact("transfer", ledger_address, 10 * TOKEN + 5, sender=payer)
    assert contracts.token.call1("balanceOf", ledger_address) == 10 * TOKEN + 5
    assert contracts.chain.code(ledger_address) == b"", "a deposit address holds no code until it is swept"

    before = contracts.token.call1("balanceOf", d.treasury)
    receipt = contracts.factory.transact("flushBatch", [invoice_salt(invoice_id)], [], [], sender=contracts.deployer)
    assert contracts.token.call1("balanceOf", d.treasury) == before + 10 * TOKEN + 5
    assert contracts.token.call1("balanceOf", ledger_address) == 0
    assert contracts.chain.code(ledger_address) != b""
    flushed = [log for log in receipt.logs if log.topics[0] == contracts.factory.artifact.event_topic("Flushed")]
    assert [(log.topics[1], abi.decode(("uint256", "uint256"), log.data)) for log in flushed] == [
        (invoice_salt(invoice_id), (10 * TOKEN + 5, 0))
    ]


def test_the_ledger_accepts_the_deployment_as_its_config(
    contracts: Deployed, monkeypatch: pytest.MonkeyPatch, mesh_pki: DevMesh
) -> None:
    for key, value in {**contracts.deployment.ledger_env(), **mesh_pki.files("ledger").env("ledger")}.items():
        monkeypatch.setenv(key, value)
    settings = load_settings(LedgerSettings)
    assert settings.forwarder_factory == contracts.deployment.factory
    assert settings.token_contract == contracts.deployment.token
    assert settings.forwarder_init_code_hash == contracts.deployment.init_code_hash
    assert os.environ["STABLEGATE_LEDGER_TOKEN_DECIMALS"] == "18"


def test_only_the_sweeper_flushes_and_only_the_factory_moves_a_forwarders_funds(contracts: Deployed) -> None:
    stranger = contracts.accounts[6]
    salt = invoice_salt("inv_roles")
    with pytest.raises(TransactionReverted, match="AccessControlUnauthorizedAccount"):
        contracts.factory.transact("flushBatch", [salt], [], [], sender=stranger)
    contracts.factory.transact("flushBatch", [salt], [], [], sender=contracts.deployer)
    forwarder = contracts.forwarder(contracts.factory.call1("predict", salt))
    with pytest.raises(TransactionReverted, match="NotFactory"):
        forwarder.transact("flush", contracts.token.address, stranger, sender=stranger)
    with pytest.raises(TransactionReverted, match="ConfiguredTokenIsNotStray"):
        contracts.factory.transact("flushBatch", [salt], [0], [contracts.token.address], sender=contracts.deployer)


def test_treasury_pays_a_batch_once_moves_to_cold_and_only_the_safe_renames_the_safe(contracts: Deployed) -> None:
    hot, cold, stranger = contracts.deployer, contracts.accounts[1], contracts.accounts[7]
    treasury, token = contracts.treasury, contracts.token
    token.transact("mint", treasury.address, 100 * TOKEN, sender=stranger)
    a, b = contracts.accounts[8], contracts.accounts[9]
    before = token.call1("balanceOf", a), token.call1("balanceOf", b)
    batch = abi.keccak256(b"payout batch 1")
    treasury.transact("payoutBatch", batch, [a, b], [3 * TOKEN, 4 * TOKEN], sender=hot)
    assert (token.call1("balanceOf", a), token.call1("balanceOf", b)) == (before[0] + 3 * TOKEN, before[1] + 4 * TOKEN)
    with pytest.raises(TransactionReverted, match="BatchAlreadyPaid"):
        treasury.transact("payoutBatch", batch, [a, b], [3 * TOKEN, 4 * TOKEN], sender=hot)
    with pytest.raises(TransactionReverted, match="AccessControlUnauthorizedAccount"):
        treasury.transact("payoutBatch", abi.keccak256(b"x"), [stranger], [TOKEN], sender=stranger)

    cold_before = token.call1("balanceOf", cold)
    treasury.transact("moveToCold", token.address, 50 * TOKEN, sender=hot)
    assert token.call1("balanceOf", cold) == cold_before + 50 * TOKEN
    with pytest.raises(TransactionReverted, match="AccessControlUnauthorizedAccount"):
        treasury.transact("moveToCold", token.address, TOKEN, sender=stranger)

    with pytest.raises(TransactionReverted, match="NotColdSafe"):
        treasury.transact("setColdSafe", stranger, sender=hot)
    treasury.transact("setColdSafe", contracts.accounts[3], sender=cold)
    assert treasury.call1("coldSafe") == contracts.accounts[3]
    admin_role = treasury.call1("DEFAULT_ADMIN_ROLE")
    assert treasury.call1("hasRole", admin_role, contracts.accounts[3])
    assert not treasury.call1("hasRole", admin_role, cold)

"""Fixtures for chain tests: our contracts deployed on the session's anvil."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from chain.contracts import Chain, Contract, load_artifact
from chain.deploy import Deployment, Roles, deploy
from chain.rpc import JsonRpc
from tests.conftest import AnvilNode


@dataclass(frozen=True)
class Deployed:
    """Token, treasury and factory on anvil, with the dev accounts holding each role."""

    chain: Chain
    deployment: Deployment
    token: Contract
    treasury: Contract
    factory: Contract
    accounts: list[str]

    @property
    def deployer(self) -> str:
        """Account 0: deployer, factory admin and sweeper, treasury HOT key."""
        return self.accounts[0]

    def forwarder(self, address: str) -> Contract:
        """A deposit address seen as a DepositForwarder."""
        return Contract(self.chain, address, load_artifact("DepositForwarder"))

    def new_token(self, name: str = "Stablegate Test USD", symbol: str = "tUSDT") -> Contract:
        """Another open-mint test token (a lookalike when given the same name and symbol)."""
        return self.chain.deploy(load_artifact("StablegateTestToken"), name, symbol, sender=self.deployer)


def deploy_contracts(anvil_url: str) -> Deployed:
    """Deploy a fresh set of our contracts on the anvil at `anvil_url` (accounts 0, 1 and 2 as roles)."""
    chain = Chain(JsonRpc(anvil_url))
    accounts = chain.accounts()
    deployer = accounts[0]
    roles = Roles(admin=deployer, sweeper=deployer, hot=deployer, cold_safe=accounts[1], quarantine=accounts[2])
    deployment = deploy(chain, deployer, roles)
    return Deployed(
        chain=chain,
        deployment=deployment,
        token=Contract(chain, deployment.token, load_artifact("StablegateTestToken")),
        treasury=Contract(chain, deployment.treasury, load_artifact("Treasury")),
        factory=Contract(chain, deployment.factory, load_artifact("ForwarderFactory")),
        accounts=accounts,
    )


@pytest.fixture(scope="module")
def contracts(anvil: AnvilNode) -> Deployed:
    """Our contracts, freshly deployed on the session anvil for this test module."""
    return deploy_contracts(anvil.url)

"""Deploy the token (on local chains), treasury and forwarder factory, and describe them for the ledger's config.

Order and nonces are fixed: from a deployer at nonce n, the test token (when deployed) is created at n, the
treasury next, the factory after it, and the factory creates the forwarder implementation at its own nonce 1.
So the addresses are known before deploying (`plan`): on a fresh anvil, whose first dev account starts at
nonce 0, they are the same on every run (`stablegate up` relies on that).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass

from chain import abi
from chain.contracts import Chain, ChainError, Contract, load_artifact

CLONE_PREFIX = bytes.fromhex("3d602d80600a3d3981f3363d3d373d3d3d363d73")
CLONE_SUFFIX = bytes.fromhex("5af43d82803e903d91602b57fd5bf3")
TEST_TOKEN_NAME = "Stablegate Test USD"  # noqa: S105 - a token name, not a secret
TEST_TOKEN_SYMBOL = "tUSDT"  # noqa: S105 - a token symbol
ANVIL_FIRST_ACCOUNT = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
"""anvil's first dev account (its default mnemonic): the local deployer."""
LEDGER_PREFIX = "STABLEGATE_LEDGER_"


def clone_init_code(implementation: str) -> bytes:
    """The EIP-1167 creation code OpenZeppelin's `Clones` deploys for `implementation` (55 bytes)."""
    return CLONE_PREFIX + bytes.fromhex(abi.to_checksum_address(implementation)[2:]) + CLONE_SUFFIX


def forwarder_init_code_hash(implementation: str) -> bytes:
    """keccak256 of a forwarder's init code: the ledger's FORWARDER_INIT_CODE_HASH."""
    return abi.keccak256(clone_init_code(implementation))


def _rlp_bytes(data: bytes) -> bytes:
    if len(data) == 1 and data[0] < 0x80:
        return data
    if len(data) > 55:
        raise ValueError("long RLP strings are not needed for addresses and nonces")
    return bytes([0x80 + len(data)]) + data


def create_address(sender: str, nonce: int) -> str:
    """The address CREATE gives the contract `sender` deploys at `nonce`: keccak256(rlp([sender, nonce]))[12:]."""
    if nonce < 0:
        raise ValueError("nonce must not be negative")
    items = _rlp_bytes(bytes.fromhex(abi.to_checksum_address(sender)[2:])) + _rlp_bytes(
        nonce.to_bytes((nonce.bit_length() + 7) // 8, "big")
    )
    return abi.to_checksum_address("0x" + abi.keccak256(bytes([0xC0 + len(items)]) + items)[12:].hex())


@dataclass(frozen=True)
class Plan:
    """Where a deployment from `deployer` at `nonce` puts each contract."""

    token: str
    treasury: str
    factory: str
    forwarder_implementation: str

    @property
    def init_code_hash(self) -> bytes:
        """The forwarder init-code hash of this factory."""
        return forwarder_init_code_hash(self.forwarder_implementation)


def plan(deployer: str, nonce: int, token: str | None = None) -> Plan:
    """The addresses `deploy` will produce (deploying the test token unless `token` is given)."""
    if token is None:
        token, nonce = create_address(deployer, nonce), nonce + 1
    treasury = create_address(deployer, nonce)
    factory = create_address(deployer, nonce + 1)
    # A contract's nonce starts at 1 (EIP-161): the implementation is the factory's first creation.
    return Plan(abi.to_checksum_address(token), treasury, factory, create_address(factory, 1))


@dataclass(frozen=True)
class Roles:
    """Who holds what: factory admin and sweeper, treasury hot key, the cold Safe, the quarantine address."""

    admin: str
    sweeper: str
    hot: str
    cold_safe: str
    quarantine: str


@dataclass(frozen=True)
class Deployment:
    """Deployed contracts and what the ledger needs to derive deposit addresses from them."""

    chain_id: int
    deployer: str
    token: str
    token_decimals: int
    test_token: bool
    treasury: str
    factory: str
    forwarder_implementation: str
    init_code_hash: str
    roles: Roles

    def ledger_env(self) -> dict[str, str]:
        """The ledger's variables naming these contracts."""
        return {
            LEDGER_PREFIX + "CHAIN_ID": str(self.chain_id),
            LEDGER_PREFIX + "TOKEN_CONTRACT": self.token,
            LEDGER_PREFIX + "TOKEN_DECIMALS": str(self.token_decimals),
            LEDGER_PREFIX + "FORWARDER_FACTORY": self.factory,
            LEDGER_PREFIX + "FORWARDER_INIT_CODE_HASH": self.init_code_hash,
        }

    def env_file_text(self) -> str:
        """An env file (`set -a; . chain.env`) with the ledger's variables and the other addresses as comments."""
        lines = [
            "# Written by `stablegate chain deploy`: the contracts on chain "
            f"{self.chain_id}. Load with: set -a; . ./chain.env; set +a",
            f"# treasury={self.treasury} implementation={self.forwarder_implementation}",
            f"# cold_safe={self.roles.cold_safe} quarantine={self.roles.quarantine} hot={self.roles.hot} "
            f"sweeper={self.roles.sweeper} admin={self.roles.admin}",
        ]
        lines += [f"{k}={v}" for k, v in sorted(self.ledger_env().items())]
        return "\n".join(lines) + "\n"

    def as_json(self) -> dict[str, object]:
        """Everything, as plain data (written beside the env file as chain.json)."""
        return asdict(self)


Progress = Callable[[str], None]


def _quiet(message: str) -> None:
    pass


def deploy(
    chain: Chain, deployer: str, roles: Roles, *, token: str | None = None, progress: Progress = _quiet
) -> Deployment:
    """Deploy the test token (unless `token` names one), the treasury and the factory, and check them.

    Transactions are signed by the node for `deployer` (an unlocked anvil account). The addresses are checked
    against `plan` and the factory's own init-code hash against ours, so the ledger's offline CREATE2 math
    and the chain agree before anything is written to config.
    """
    expected = plan(deployer, chain.nonce(deployer), token)
    token_contract: Contract
    if token is None:
        progress(f"deploying StablegateTestToken ({TEST_TOKEN_SYMBOL}, open mint, local use only)")
        token_contract = chain.deploy(
            load_artifact("StablegateTestToken"), TEST_TOKEN_NAME, TEST_TOKEN_SYMBOL, sender=deployer
        )
    else:
        if not chain.code(token):
            raise ChainError(f"no contract at the token address {token} on chain {chain.chain_id()}")
        token_contract = Contract(chain, token, load_artifact("StablegateTestToken"))
    decimals = int(token_contract.call1("decimals"))
    progress(f"deploying Treasury (cold Safe {roles.cold_safe}, hot {roles.hot})")
    treasury = chain.deploy(
        load_artifact("Treasury"), token_contract.address, roles.cold_safe, roles.hot, sender=deployer
    )
    progress("deploying ForwarderFactory and its DepositForwarder implementation")
    factory = chain.deploy(
        load_artifact("ForwarderFactory"),
        roles.admin,
        roles.sweeper,
        token_contract.address,
        treasury.address,
        roles.quarantine,
        sender=deployer,
    )
    implementation = str(factory.call1("implementation"))
    on_chain_hash = factory.call1("forwarderInitCodeHash")
    got = Plan(token_contract.address, treasury.address, factory.address, implementation)
    if got != expected:
        raise ChainError(f"deployed addresses {got} differ from the planned {expected}: was the deployer busy?")
    if on_chain_hash != expected.init_code_hash:
        raise ChainError("the factory's forwarderInitCodeHash differs from the EIP-1167 init code we hash")
    return Deployment(
        chain_id=chain.chain_id(),
        deployer=deployer,
        token=token_contract.address,
        token_decimals=decimals,
        test_token=token is None,
        treasury=treasury.address,
        factory=factory.address,
        forwarder_implementation=implementation,
        init_code_hash="0x" + expected.init_code_hash.hex(),
        roles=roles,
    )


def write_env_file(deployment: Deployment, path: os.PathLike[str] | str) -> None:
    """Write the env file (no secrets in it: addresses and a hash only)."""
    with open(path, "w") as out:
        out.write(deployment.env_file_text())

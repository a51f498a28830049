"""Addresses: Keccak-256, EIP-55 checksums, request parsing, and CREATE2 deposit addresses (EIP-1014)."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from ledger.domain.addresses import (
    ZERO_ADDRESS,
    create2_address,
    invoice_salt,
    keccak256,
    parse_address,
    to_checksum_address,
)
from ledger.errors import InvalidAddress, InvalidArgument

# The test cases of EIP-55: all caps, all lower, and mixed case; each is its own checksummed form.
EIP55_VECTORS = [
    "0x52908400098527886E0F7030069857D2E4169EE7",
    "0x8617E340B3D01FA5F11F306F4090FD50E238070D",
    "0xde709f2102306220921060314715629080e2fb77",
    "0x27b1fdb04752bbc536007a920d24acb045561c26",
    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
    "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
    "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
]
MIXED_CASE = EIP55_VECTORS[4:]

_DEADBEEF_HIGH = "0xdeadbeef00000000000000000000000000000000"
_DEADBEEF_LOW = "0x00000000000000000000000000000000deadbeef"
_CAFEBABE_SALT = "00000000000000000000000000000000000000000000000000000000cafebabe"

# The examples of EIP-1014: (deployer, salt, init_code, resulting address).
EIP1014_VECTORS = [
    (ZERO_ADDRESS, "00" * 32, "00", "0x4D1A2e2bB4F88F0250f26Ffff098B0b30B26BF38"),
    (_DEADBEEF_HIGH, "00" * 32, "00", "0xB928f69Bb1D91Cd65274e3c79d8986362984fDA3"),
    (
        _DEADBEEF_HIGH,
        "000000000000000000000000feed000000000000000000000000000000000000",
        "00",
        "0xD04116cDd17beBE565EB2422F2497E06cC1C9833",
    ),
    (ZERO_ADDRESS, "00" * 32, "deadbeef", "0x70f2b2914A2a4b783FaEFb75f459A580616Fcb5e"),
    (_DEADBEEF_LOW, _CAFEBABE_SALT, "deadbeef", "0x60f3f640a8508fC6a86d45DF051962668E1e8AC7"),
    (_DEADBEEF_LOW, _CAFEBABE_SALT, "deadbeef" * 11, "0x1d8bfDC5D46DC4f61D6b6115972536eBE6A8854C"),
    (ZERO_ADDRESS, "00" * 32, "", "0xE33C0C7F7df4809055C3ebA6c09CFe4BaF1BD9e0"),
]


def test_keccak256_is_ethereum_keccak_not_nist_sha3() -> None:
    assert keccak256(b"").hex() == "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    # The selector of transfer(address,uint256), as every ERC-20 tool computes it.
    assert keccak256(b"transfer(address,uint256)")[:4].hex() == "a9059cbb"


@pytest.mark.parametrize("address", EIP55_VECTORS)
def test_eip55_vectors_checksum_to_themselves_from_any_case(address: str) -> None:
    body = address[2:]
    assert to_checksum_address(address) == address
    assert to_checksum_address("0x" + body.lower()) == address
    assert to_checksum_address("0x" + body.upper()) == address


@pytest.mark.parametrize("address", EIP55_VECTORS)
def test_parse_accepts_eip55_vectors_and_returns_the_checksummed_form(address: str) -> None:
    assert parse_address(address, field="settlement_address") == address
    assert parse_address("0x" + address[2:].lower(), field="settlement_address") == address
    assert parse_address("0x" + address[2:].upper(), field="settlement_address") == address


@pytest.mark.parametrize("address", MIXED_CASE)
def test_a_single_flipped_letter_case_fails_the_checksum(address: str) -> None:
    for index, char in enumerate(address):
        if index < 2 or not char.isalpha():
            continue
        typo = address[:index] + char.swapcase() + address[index + 1 :]
        with pytest.raises(InvalidAddress) as caught:
            parse_address(typo, field="settlement_address")
        assert caught.value.reason == "ADDRESS_CHECKSUM_MISMATCH"
        assert caught.value.metadata == {"field": "settlement_address"}


@pytest.mark.parametrize(
    "text",
    [
        "",
        "0x",
        "5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",  # no 0x
        "0X5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",  # capital X
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAe",  # 39 digits
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAedd",  # 41 digits
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeg",  # not hex
        " 0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed\n",
        "0x" + "00" * 32,  # a 32-byte word, not an address
    ],
)
def test_malformed_address_is_address_invalid_naming_the_field(text: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse_address(text, field="settlement_address")
    assert isinstance(caught.value, InvalidAddress)
    assert caught.value.reason == "ADDRESS_INVALID"
    assert caught.value.metadata == {"field": "settlement_address"}


def test_the_zero_address_is_refused() -> None:
    with pytest.raises(InvalidAddress) as caught:
        parse_address(ZERO_ADDRESS, field="settlement_address")
    assert caught.value.reason == "ADDRESS_ZERO"
    assert caught.value.metadata == {"field": "settlement_address"}


def test_to_checksum_address_refuses_malformed_input() -> None:
    with pytest.raises(ValueError, match="not an address"):
        to_checksum_address("0x1234")


@given(raw=st.binary(min_size=20, max_size=20))
def test_any_address_round_trips_and_every_single_case_flip_is_caught(raw: bytes) -> None:
    assume(raw != bytes(20))
    checksummed = to_checksum_address("0x" + raw.hex())
    assert checksummed.lower() == "0x" + raw.hex()
    assert parse_address(checksummed, field="address") == checksummed
    assert parse_address("0x" + raw.hex(), field="address") == checksummed
    for index in range(2, 42):
        if not checksummed[index].isalpha():
            continue
        typo = checksummed[:index] + checksummed[index].swapcase() + checksummed[index + 1 :]
        body = typo[2:]
        if body in (body.lower(), body.upper()):
            # The flip left one case throughout: such input carries no checksum and is accepted as is.
            assert parse_address(typo, field="address") == checksummed
        else:
            with pytest.raises(InvalidAddress, match="checksum"):
                parse_address(typo, field="address")


@pytest.mark.parametrize(("deployer", "salt", "init_code", "expected"), EIP1014_VECTORS)
def test_create2_matches_the_eip1014_examples(deployer: str, salt: str, init_code: str, expected: str) -> None:
    address = create2_address(deployer, bytes.fromhex(salt), keccak256(bytes.fromhex(init_code)))
    assert address == expected


def test_create2_accepts_the_deployer_in_any_valid_case() -> None:
    deployer = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
    salt, code_hash = invoice_salt("inv_1"), keccak256(b"forwarder")
    assert create2_address(deployer, salt, code_hash) == create2_address(deployer.lower(), salt, code_hash)


@pytest.mark.parametrize(
    ("salt_len", "hash_len", "message"), [(31, 32, "salt"), (33, 32, "salt"), (32, 20, "init_code")]
)
def test_create2_refuses_salt_or_code_hash_of_the_wrong_size(salt_len: int, hash_len: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        create2_address(_DEADBEEF_HIGH, bytes(salt_len), bytes(hash_len))


def test_create2_refuses_a_malformed_deployer() -> None:
    with pytest.raises(ValueError, match="not an address"):
        create2_address("0xdeadbeef", bytes(32), bytes(32))


def test_invoice_salt_is_the_keccak_of_the_prefixed_invoice_id() -> None:
    salt = invoice_salt("inv_01HZX")
    assert len(salt) == 32
    assert salt == keccak256(b"stablegate.invoice:inv_01HZX")
    # The domain prefix is what separates it from a bare hash of the same id.
    assert salt != keccak256(b"inv_01HZX")


def test_each_invoice_gets_its_own_deposit_address() -> None:
    factory, code_hash = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", keccak256(b"forwarder init code")
    addresses = {create2_address(factory, invoice_salt(f"inv_{n}"), code_hash) for n in range(1000)}
    assert len(addresses) == 1000
    # Deterministic: the same invoice always maps to the same address.
    assert create2_address(factory, invoice_salt("inv_7"), code_hash) in addresses
    assert create2_address(factory, invoice_salt("inv_7"), code_hash) == create2_address(
        factory, invoice_salt("inv_7"), code_hash
    )

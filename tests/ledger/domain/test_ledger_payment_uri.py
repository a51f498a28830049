"""EIP-681 payment URIs for an invoice's QR code."""

from __future__ import annotations

import pytest

from ledger.domain.money import UINT256_MAX, parse_amount
from ledger.domain.payment_uri import erc20_transfer_uri

BSC_CHAIN_ID = 56
BSC_USDT = "0x55d398326f99059fF775485246999027B3197955"
RECIPIENT = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"


def test_uri_names_token_chain_recipient_and_amount_in_base_units() -> None:
    amount = parse_amount("10.5", 18)
    assert erc20_transfer_uri(BSC_USDT, BSC_CHAIN_ID, RECIPIENT, amount) == (
        "ethereum:0x55d398326f99059fF775485246999027B3197955@56/transfer"
        "?address=0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed&uint256=10500000000000000000"
    )


def test_addresses_in_the_uri_are_checksummed_whatever_case_they_came_in() -> None:
    uri = erc20_transfer_uri(BSC_USDT.lower(), BSC_CHAIN_ID, RECIPIENT.upper().replace("0X", "0x"), 1)
    assert uri == f"ethereum:{BSC_USDT}@56/transfer?address={RECIPIENT}&uint256=1"


def test_the_largest_uint256_is_written_in_plain_digits() -> None:
    uri = erc20_transfer_uri(BSC_USDT, BSC_CHAIN_ID, RECIPIENT, UINT256_MAX)
    assert uri.endswith(f"&uint256={UINT256_MAX}")
    assert "e" not in uri.rsplit("=", 1)[1].lower()


@pytest.mark.parametrize("amount", [0, -1, UINT256_MAX + 1])
def test_amount_outside_uint256_or_zero_is_refused(amount: int) -> None:
    with pytest.raises(ValueError, match="amount_base_units"):
        erc20_transfer_uri(BSC_USDT, BSC_CHAIN_ID, RECIPIENT, amount)


@pytest.mark.parametrize("chain_id", [0, -56])
def test_chain_id_must_be_positive(chain_id: int) -> None:
    with pytest.raises(ValueError, match="chain_id"):
        erc20_transfer_uri(BSC_USDT, chain_id, RECIPIENT, 1)


@pytest.mark.parametrize(("token", "recipient"), [("0x1234", RECIPIENT), (BSC_USDT, "not an address")])
def test_malformed_addresses_are_refused(token: str, recipient: str) -> None:
    with pytest.raises(ValueError, match="not an address"):
        erc20_transfer_uri(token, BSC_CHAIN_ID, recipient, 1)

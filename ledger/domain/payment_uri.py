"""EIP-681 payment URIs: what an invoice's QR code holds so a wallet pre-fills the token transfer."""

from __future__ import annotations

from ledger.domain.addresses import to_checksum_address
from ledger.domain.money import UINT256_MAX


def erc20_transfer_uri(token: str, chain_id: int, recipient: str, amount_base_units: int) -> str:
    """The EIP-681 URI for an ERC-20 `transfer(recipient, amount)` on chain `chain_id`.

    Form: `ethereum:<token>@<chain_id>/transfer?address=<recipient>&uint256=<amount>`. The `uint256`
    parameter is the raw argument of `transfer`, so wallets read it in base units, not token units: 10.5
    USDT (18 decimals) is written `uint256=10500000000000000000`. Always plain digits: EIP-681 also allows
    scientific notation, but not every wallet parses it. Addresses are written checksummed.

    Raises `ValueError` for a malformed address, a chain id below 1, or an amount outside 1..2**256-1; these
    come from config and validated invoices, so a bad one is a programming error.
    """
    if chain_id < 1:
        raise ValueError(f"chain_id must be positive, got {chain_id}")
    if not 0 < amount_base_units <= UINT256_MAX:
        raise ValueError(f"amount_base_units must be in 1..2**256-1, got {amount_base_units}")
    return (
        f"ethereum:{to_checksum_address(token)}@{chain_id}/transfer"
        f"?address={to_checksum_address(recipient)}&uint256={amount_base_units}"
    )

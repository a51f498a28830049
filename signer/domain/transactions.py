"""Transactions the signer builds: EIP-1559 (type 2) and legacy EIP-155 (type 0), unsigned and signed."""

from __future__ import annotations

from dataclasses import dataclass

from signer.domain.ethereum import RecoverableSignature, RlpItem, keccak256, rlp_encode


@dataclass(frozen=True)
class Eip1559Fee:
    """EIP-1559 fees in wei."""

    max_fee_per_gas: int
    max_priority_fee_per_gas: int

    @property
    def fee_cap(self) -> int:
        """The most one unit of gas may cost."""
        return self.max_fee_per_gas


@dataclass(frozen=True)
class LegacyFee:
    """A legacy gas price in wei."""

    gas_price: int

    @property
    def fee_cap(self) -> int:
        """The most one unit of gas may cost."""
        return self.gas_price


Fee = Eip1559Fee | LegacyFee


@dataclass(frozen=True)
class UnsignedTransaction:
    """A contract call with everything but the signature."""

    chain_id: int
    nonce: int
    gas_limit: int
    fee: Fee
    to: bytes
    value: int
    data: bytes

    def _fields(self) -> list[bytes | int]:
        return [self.nonce, self.gas_limit, self.to, self.value, self.data]

    def signing_payload(self) -> bytes:
        """What is hashed for signing (EIP-2718 type byte included for type 2)."""
        if isinstance(self.fee, Eip1559Fee):
            return b"\x02" + rlp_encode(self._eip1559_body())
        nonce, gas, to, value, data = self._fields()
        return rlp_encode([nonce, self.fee.gas_price, gas, to, value, data, self.chain_id, 0, 0])

    def signing_hash(self) -> bytes:
        """The 32-byte digest the key signs."""
        return keccak256(self.signing_payload())

    def _eip1559_body(self) -> list[RlpItem]:
        assert isinstance(self.fee, Eip1559Fee)
        return [
            self.chain_id,
            self.nonce,
            self.fee.max_priority_fee_per_gas,
            self.fee.max_fee_per_gas,
            self.gas_limit,
            self.to,
            self.value,
            self.data,
            [],  # access list
        ]

    def signed(self, signature: RecoverableSignature) -> bytes:
        """The raw signed transaction, ready for eth_sendRawTransaction."""
        if isinstance(self.fee, Eip1559Fee):
            return b"\x02" + rlp_encode([*self._eip1559_body(), signature.v, signature.r, signature.s])
        nonce, gas, to, value, data = self._fields()
        v = signature.v + 35 + 2 * self.chain_id
        return rlp_encode([nonce, self.fee.gas_price, gas, to, value, data, v, signature.r, signature.s])


def transaction_hash(raw: bytes) -> bytes:
    """The hash a node reports for a raw signed transaction."""
    return keccak256(raw)

"""Safe 1.4.1 transactions (SafeTx) the signer builds for COLD_OWNER keys, their EIP-712 hash and owner signatures.

The hash is the Safe's own `getTransactionHash`:

```
domain  EIP712Domain(uint256 chainId, address verifyingContract)   verifyingContract = the Safe
struct  SafeTx(address to, uint256 value, bytes data, uint8 operation, uint256 safeTxGas, uint256 baseGas,
               uint256 gasPrice, address gasToken, address refundReceiver, uint256 nonce)
digest  keccak256(0x19 ‖ 0x01 ‖ domainSeparator ‖ hashStruct(safeTx))
```

An owner's signature is r‖s‖v with v = 27 or 28: the Safe's `checkSignatures` then ecrecovers it over the
digest itself (not an eth_sign message, not a contract signature).
"""

from __future__ import annotations

from dataclasses import dataclass

from signer.domain.abi import word_address, word_uint
from signer.domain.ethereum import RecoverableSignature, keccak256

DOMAIN_TYPEHASH = keccak256(b"EIP712Domain(uint256 chainId,address verifyingContract)")
SAFE_TX_TYPEHASH = keccak256(
    b"SafeTx(address to,uint256 value,bytes data,uint8 operation,uint256 safeTxGas,uint256 baseGas,"
    b"uint256 gasPrice,address gasToken,address refundReceiver,uint256 nonce)"
)
CALL, DELEGATE_CALL = 0, 1
ZERO = b"\x00" * 20


def domain_separator(chain_id: int, safe: bytes) -> bytes:
    """The Safe's EIP-712 domain separator (`domainSeparator()` on chain)."""
    return keccak256(DOMAIN_TYPEHASH + word_uint(chain_id) + word_address(safe))


@dataclass(frozen=True)
class SafeTx:
    """One Safe transaction: everything `execTransaction` takes but the signatures."""

    chain_id: int
    safe: bytes
    to: bytes
    value: int
    data: bytes
    operation: int
    safe_tx_gas: int
    base_gas: int
    gas_price: int
    gas_token: bytes
    refund_receiver: bytes
    nonce: int

    def struct_hash(self) -> bytes:
        """hashStruct(SafeTx)."""
        return keccak256(
            SAFE_TX_TYPEHASH
            + word_address(self.to)
            + word_uint(self.value)
            + keccak256(self.data)
            + word_uint(self.operation)
            + word_uint(self.safe_tx_gas)
            + word_uint(self.base_gas)
            + word_uint(self.gas_price)
            + word_address(self.gas_token)
            + word_address(self.refund_receiver)
            + word_uint(self.nonce)
        )

    def hash(self) -> bytes:
        """The safeTxHash the owners sign (the Safe's `getTransactionHash`)."""
        return keccak256(b"\x19\x01" + domain_separator(self.chain_id, self.safe) + self.struct_hash())


def owner_signature(signature: RecoverableSignature) -> bytes:
    """The 65-byte r‖s‖v (v = 27/28) an owner contributes to `execTransaction`'s signatures."""
    return signature.r.to_bytes(32, "big") + signature.s.to_bytes(32, "big") + bytes([27 + signature.v])

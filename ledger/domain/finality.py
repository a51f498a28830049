"""Which blocks are final: a payment is credited only in a block canonical under the finalized block.

The ledger keeps no block headers. The watcher reports the finalized block (number and hash) and, for older
heights at which it reported transfers, the hash of the block at that height on the chain that ends in the
finalized block. A block is *canonical under the finalized block* when it is the finalized block itself or is
one of those listed blocks, hash for hash. A payment in any other block at or below the finalized height (an
orphaned block, a height the watcher did not vouch for) is not credited: the watcher's reorg report moves or
undoes it, or a later call that lists its block credits it. Pure rules, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class CanonicalChain:
    """The finalized block and the canonical hashes of older blocks, as the watcher vouches for them."""

    finalized_number: int
    finalized_hash: str
    older: Mapping[int, str] = field(default_factory=dict)
    """Block number → hash of the canonical block at that height, below the finalized block."""

    def __post_init__(self) -> None:
        """Refuse a listed block that is not below the finalized one (the API names the field first)."""
        if self.finalized_number <= 0:
            raise ValueError(f"finalized block number must be positive, got {self.finalized_number}")
        above = sorted(n for n in self.older if not 0 < n < self.finalized_number)
        if above:
            raise ValueError(f"canonical blocks must lie below the finalized block {self.finalized_number}: {above}")

    def is_canonical(self, number: int, block_hash: str) -> bool:
        """Whether the block (number, hash) is on the chain ending in the finalized block, as far as is known."""
        if number == self.finalized_number:
            return block_hash == self.finalized_hash
        return self.older.get(number) == block_hash

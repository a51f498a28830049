"""Which blocks are canonical under a finalized block, as the watcher vouches for them (no I/O)."""

from __future__ import annotations

import pytest

from ledger.domain.finality import CanonicalChain

F, A, B = "0x" + "f" * 64, "0x" + "a" * 64, "0x" + "b" * 64


def test_the_finalized_block_and_listed_older_blocks_are_canonical_nothing_else() -> None:
    chain = CanonicalChain(100, F, {98: A})
    assert chain.is_canonical(100, F)
    assert chain.is_canonical(98, A)
    assert not chain.is_canonical(100, A)  # another block at the finalized height
    assert not chain.is_canonical(98, B)  # an orphaned block
    assert not chain.is_canonical(99, B)  # a height nobody vouched for
    assert not chain.is_canonical(101, F)  # above the finalized block: not final


@pytest.mark.parametrize("number", [0, 100, 101])
def test_a_listed_block_must_lie_below_the_finalized_one(number: int) -> None:
    with pytest.raises(ValueError, match="below the finalized block"):
        CanonicalChain(100, F, {number: A})

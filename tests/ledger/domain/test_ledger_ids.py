"""Resource ids: the documented shape, no repeats, and every character equally likely at every position."""

from __future__ import annotations

import collections
import string

from ledger.domain.ids import looks_like_id, new_id


def test_ids_have_the_shape_and_do_not_repeat() -> None:
    ids = [new_id("inv") for _ in range(5_000)]

    assert all(looks_like_id(i, "inv") for i in ids)
    assert not looks_like_id(ids[0], "evt")
    assert len(set(ids)) == len(ids)


def test_every_character_is_drawn_at_every_position_about_equally_often() -> None:
    draws = 31_000  # 500 expected per character and position
    counts = [collections.Counter[str]() for _ in range(24)]
    for _ in range(draws):
        for position, char in enumerate(new_id("x")[2:]):
            counts[position][char] += 1
    alphabet = set(string.ascii_letters + string.digits)
    for seen in counts:
        assert set(seen) == alphabet
        # 500 give or take 7 standard deviations (about 22 each): a skewed draw falls outside.
        assert min(seen.values()) > 345 and max(seen.values()) < 655

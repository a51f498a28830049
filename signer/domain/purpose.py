"""Key purposes: one enum shared by the protos (`KeyPurpose`), the policy file and the code."""

from __future__ import annotations

import enum


class KeyPurpose(enum.StrEnum):
    """What a key may sign for; the proto enum is `KEY_PURPOSE_<name>` with the same names."""

    SWEEPER = "SWEEPER"
    """Only flushBatch calls on the forwarder factory."""
    HOT = "HOT"
    """The treasury's hot key: batched payouts and moves to the cold Safe."""
    COLD_OWNER = "COLD_OWNER"
    """One owner of the cold Safe: signs SafeTx hashes, never a transaction."""

-- How far a search of the chain's logs has read (final blocks only), kept across restarts and leaderships: the
-- search for moves into cold a restore lost (settlement/lost_cold_moves.py). A restore of an older backup rewinds
-- it with the rows it belongs to, so every block after the backup is read again. Self-contained.

CREATE TABLE settlement.scan_cursors (
    name        text        NOT NULL,
    chain_id    bigint      NOT NULL,
    -- The first block not read yet: every block below it is final and read.
    next_block  bigint      NOT NULL CHECK (next_block >= 0),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, chain_id)
);

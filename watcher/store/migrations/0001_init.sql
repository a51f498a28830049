-- The watcher's own state: where it has scanned to, the unfinalized blocks it follows, what it reported, and
-- the deposit addresses it watches. Forward-only: change by a new migration.

CREATE SCHEMA IF NOT EXISTS watcher;

-- One row per chain: the last block scanned (its hash, to notice a reorg under it), the last finalized block
-- reported to the ledger, and the ledger feed's cursor.
CREATE TABLE watcher.cursors (
    chain_id          bigint PRIMARY KEY,
    scanned_number    bigint NOT NULL CHECK (scanned_number >= 0),
    scanned_hash      text,
    finalized_number  bigint NOT NULL DEFAULT 0 CHECK (finalized_number >= 0),
    feed_cursor       text NOT NULL DEFAULT '',
    update_time       timestamptz NOT NULL DEFAULT now()
);

-- Blocks above the last finalized one, as scanned: the window where a reorg can still happen.
CREATE TABLE watcher.headers (
    chain_id    bigint NOT NULL,
    number      bigint NOT NULL CHECK (number > 0),
    hash        text NOT NULL,
    parent_hash text NOT NULL,
    PRIMARY KEY (chain_id, number)
);

-- Every transfer to a deposit address the watcher reported, per block it appeared in.
CREATE TABLE watcher.observations (
    chain_id      bigint NOT NULL,
    tx_hash       text NOT NULL,
    log_index     integer NOT NULL CHECK (log_index >= 0),
    block_hash    text NOT NULL,
    block_number  bigint NOT NULL CHECK (block_number > 0),
    asset         text NOT NULL CHECK (asset IN ('TOKEN', 'OTHER_TOKEN', 'NATIVE')),
    token         text NOT NULL,
    from_address  text NOT NULL,
    to_address    text NOT NULL,
    amount        numeric(78, 0) NOT NULL CHECK (amount >= 0),
    status        text NOT NULL CHECK (status IN ('SEEN', 'FINAL', 'REORGED')),
    outcome       text NOT NULL DEFAULT '',
    observe_time  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (chain_id, tx_hash, log_index, block_hash)
);
CREATE INDEX observations_open ON watcher.observations (chain_id, block_number) WHERE status = 'SEEN';

-- The watch set, from the ledger's feed: an address is watched until its monitoring window ends.
CREATE TABLE watcher.addresses (
    chain_id      bigint NOT NULL,
    address       text NOT NULL,
    invoice_id    text NOT NULL,
    monitor_until timestamptz NOT NULL,
    PRIMARY KEY (chain_id, address)
);
CREATE INDEX addresses_active ON watcher.addresses (chain_id, monitor_until);

-- Native BNB at deposit addresses shows no log when a contract sends it (an internal call): the watcher
-- compares each watched address's balance at finalized blocks with the last one it saw.

CREATE TABLE watcher.native_balances (
    chain_id     bigint NOT NULL,
    address      text NOT NULL,
    balance      numeric(78, 0) NOT NULL CHECK (balance >= 0),
    block_number bigint NOT NULL CHECK (block_number >= 0),
    PRIMARY KEY (chain_id, address)
);

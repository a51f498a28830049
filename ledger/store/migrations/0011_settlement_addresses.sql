-- Settlement addresses (the Payouts issue): the merchant's own addresses payouts may go to. Usable only once
-- confirmed (an emailed code, or an admin) and past the cooling-off end fixed at registration. The code is kept
-- as a SHA-256 only, with an attempt count. Self-contained: it may be renumbered at merge.

CREATE TABLE ledger.settlement_addresses (
    id                 text PRIMARY KEY,
    merchant_id        text NOT NULL REFERENCES ledger.merchants (id),
    address            text NOT NULL CHECK (address ~ '^0x[0-9a-fA-F]{40}$'),
    label              text NOT NULL DEFAULT '' CHECK (length(label) <= 100),
    state              text NOT NULL CHECK (state IN ('PENDING', 'CONFIRMED', 'REVOKED')),
    code_hash          bytea NOT NULL,
    code_expire_time   timestamptz NOT NULL,
    code_attempts      integer NOT NULL DEFAULT 0 CHECK (code_attempts >= 0),
    confirmed_by       text CHECK (confirmed_by IN ('EMAIL_CODE', 'ADMIN')),
    approved_by        text NOT NULL DEFAULT '',
    approve_reason     text NOT NULL DEFAULT '',
    cooling_off_end    timestamptz NOT NULL,
    request_id         text NOT NULL,
    request_hash       bytea NOT NULL,
    create_time        timestamptz NOT NULL,
    update_time        timestamptz NOT NULL,
    confirm_time       timestamptz,
    revoke_time        timestamptz,
    UNIQUE (merchant_id, request_id),
    CHECK ((state = 'CONFIRMED') = (confirmed_by IS NOT NULL AND revoke_time IS NULL) OR state = 'REVOKED')
);
-- One live registration per merchant and address (case-insensitive); a revoked one may be registered again.
CREATE UNIQUE INDEX settlement_addresses_live ON ledger.settlement_addresses (merchant_id, lower(address))
    WHERE state <> 'REVOKED';
CREATE INDEX settlement_addresses_merchant ON ledger.settlement_addresses (merchant_id, create_time DESC, id DESC);

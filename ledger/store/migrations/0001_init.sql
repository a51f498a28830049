-- The ledger's system of record: merchants, credentials, invoices, payments, the double-entry journal and
-- the outbox. Money is NUMERIC(78,0) in base units (uint256 fits). Forward-only: change by a new migration.

CREATE SCHEMA IF NOT EXISTS ledger;

CREATE TABLE ledger.merchants (
    id                          text PRIMARY KEY,
    name                        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    status                      text NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'SUSPENDED')),
    contact_email               text,
    payout_address              text,
    default_expiry_seconds      integer NOT NULL DEFAULT 900 CHECK (default_expiry_seconds BETWEEN 60 AND 604800),
    default_tolerance_base_units NUMERIC(78,0) NOT NULL DEFAULT 0 CHECK (default_tolerance_base_units >= 0),
    suspend_reason              text NOT NULL DEFAULT '',
    request_id                  text UNIQUE,
    request_hash                bytea,
    create_time                 timestamptz NOT NULL DEFAULT now(),
    update_time                 timestamptz NOT NULL DEFAULT now(),
    suspend_time                timestamptz
);
CREATE INDEX merchants_created ON ledger.merchants (create_time DESC, id DESC);

-- Merchant API keys (sk_test_… / sk_live_…) and admin keys (ak_…): only a SHA-256 of the whole key is
-- stored; `prefix` (the first characters) finds the row without revealing the secret.
CREATE TABLE ledger.api_keys (
    id             text PRIMARY KEY,
    merchant_id    text NOT NULL REFERENCES ledger.merchants (id),
    prefix         text NOT NULL UNIQUE,
    secret_hash    bytea NOT NULL,
    mode           text NOT NULL CHECK (mode IN ('test', 'live')),
    scopes         text[] NOT NULL,
    name           text NOT NULL DEFAULT '',
    request_id     text,
    request_hash   bytea,
    create_time    timestamptz NOT NULL DEFAULT now(),
    expire_time    timestamptz,
    revoke_time    timestamptz,
    last_used_time timestamptz,
    UNIQUE (merchant_id, request_id)
);
CREATE INDEX api_keys_merchant ON ledger.api_keys (merchant_id, create_time DESC, id DESC);

CREATE TABLE ledger.admin_keys (
    id             text PRIMARY KEY,
    prefix         text NOT NULL UNIQUE,
    secret_hash    bytea NOT NULL,
    roles          text[] NOT NULL,
    name           text NOT NULL,
    create_time    timestamptz NOT NULL DEFAULT now(),
    revoke_time    timestamptz,
    last_used_time timestamptz
);

CREATE TABLE ledger.invoices (
    id                   text PRIMARY KEY,
    merchant_id          text NOT NULL REFERENCES ledger.merchants (id),
    request_id           text NOT NULL,
    request_hash         bytea NOT NULL,
    order_id             text,
    customer_reference   text NOT NULL DEFAULT '',
    status               text NOT NULL CHECK (status IN ('OPEN', 'PROCESSING', 'PAID', 'EXPIRED', 'CANCELED')),
    exceptions           text[] NOT NULL DEFAULT '{}',
    asset                text NOT NULL,
    chain_id             bigint NOT NULL,
    token_contract       text NOT NULL,
    token_decimals       integer NOT NULL,
    amount               NUMERIC(78,0) NOT NULL CHECK (amount > 0),
    amount_paid          NUMERIC(78,0) NOT NULL DEFAULT 0 CHECK (amount_paid >= 0),
    amount_pending       NUMERIC(78,0) NOT NULL DEFAULT 0 CHECK (amount_pending >= 0),
    tolerance            NUMERIC(78,0) NOT NULL DEFAULT 0 CHECK (tolerance >= 0),
    deposit_address      text NOT NULL UNIQUE,
    description          text NOT NULL DEFAULT '',
    metadata             jsonb NOT NULL DEFAULT '{}',
    redirect_url         text NOT NULL DEFAULT '',
    expire_time          timestamptz NOT NULL,
    monitor_until        timestamptz NOT NULL,
    create_time          timestamptz NOT NULL DEFAULT now(),
    update_time          timestamptz NOT NULL DEFAULT now(),
    paid_time            timestamptz,
    cancel_time          timestamptz,
    UNIQUE (merchant_id, request_id),
    UNIQUE (merchant_id, order_id),
    CHECK (monitor_until >= expire_time)
);
CREATE INDEX invoices_merchant_created ON ledger.invoices (merchant_id, create_time DESC, id DESC);
CREATE INDEX invoices_open_expiry ON ledger.invoices (expire_time) WHERE status = 'OPEN';

-- One row per token transfer log seen at a deposit address, keyed as the chain keys it.
CREATE TABLE ledger.payments (
    id             text PRIMARY KEY,
    chain_id       bigint NOT NULL,
    tx_hash        text NOT NULL,
    log_index      integer NOT NULL,
    invoice_id     text REFERENCES ledger.invoices (id),
    token_contract text NOT NULL,
    block_number   bigint NOT NULL,
    block_hash     text NOT NULL,
    from_address   text NOT NULL,
    to_address     text NOT NULL,
    amount         NUMERIC(78,0) NOT NULL CHECK (amount > 0),
    status         text NOT NULL CHECK (status IN ('SEEN', 'FINAL', 'REVERSED', 'UNALLOCATED')),
    late           boolean NOT NULL DEFAULT false,
    observe_time   timestamptz NOT NULL DEFAULT now(),
    final_time     timestamptz,
    update_time    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (chain_id, tx_hash, log_index)
);
CREATE INDEX payments_invoice ON ledger.payments (invoice_id);

-- Double-entry journal. Account balances are kept in the account's normal orientation (debit-normal
-- assets, credit-normal liabilities) and updated by trigger in the same transaction as the entry.
CREATE TABLE ledger.accounts (
    id          bigserial PRIMARY KEY,
    code        text NOT NULL UNIQUE,
    kind        text NOT NULL CHECK (kind IN (
                    'merchant_available', 'merchant_pending', 'merchant_receivable', 'chain_clearing',
                    'unallocated', 'treasury', 'cold_storage', 'platform_fees', 'gas_expense')),
    merchant_id text REFERENCES ledger.merchants (id),
    asset       text NOT NULL,
    normal_side char(1) NOT NULL CHECK (normal_side IN ('D', 'C')),
    balance     NUMERIC(78,0) NOT NULL DEFAULT 0,
    CHECK ((merchant_id IS NULL) = (kind NOT LIKE 'merchant_%')),
    -- Merchant balances can never go negative: a constraint, not only code.
    CONSTRAINT merchant_balance_not_negative CHECK (kind NOT IN ('merchant_available', 'merchant_pending') OR balance >= 0)
);

CREATE TABLE ledger.journal_transactions (
    id           bigserial PRIMARY KEY,
    request_id   text NOT NULL UNIQUE,
    request_hash bytea NOT NULL,
    kind         text NOT NULL,
    invoice_id   text REFERENCES ledger.invoices (id),
    payment_id   text REFERENCES ledger.payments (id),
    reverses     bigint REFERENCES ledger.journal_transactions (id),
    memo         text NOT NULL DEFAULT '',
    create_time  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE ledger.journal_entries (
    id             bigserial PRIMARY KEY,
    transaction_id bigint NOT NULL REFERENCES ledger.journal_transactions (id),
    account_id     bigint NOT NULL REFERENCES ledger.accounts (id),
    asset          text NOT NULL,
    side           char(1) NOT NULL CHECK (side IN ('D', 'C')),
    amount         NUMERIC(78,0) NOT NULL CHECK (amount > 0)
);
CREATE INDEX journal_entries_transaction ON ledger.journal_entries (transaction_id);
CREATE INDEX journal_entries_account ON ledger.journal_entries (account_id);

-- The journal is immutable: corrections are reversing transactions.
CREATE FUNCTION ledger.refuse_journal_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the journal is append-only: % on % refused; post a reversing transaction', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER journal_transactions_immutable BEFORE UPDATE OR DELETE ON ledger.journal_transactions
    FOR EACH ROW EXECUTE FUNCTION ledger.refuse_journal_change();
CREATE TRIGGER journal_entries_immutable BEFORE UPDATE OR DELETE ON ledger.journal_entries
    FOR EACH ROW EXECUTE FUNCTION ledger.refuse_journal_change();
CREATE TRIGGER journal_transactions_no_truncate BEFORE TRUNCATE ON ledger.journal_transactions
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.refuse_journal_change();
CREATE TRIGGER journal_entries_no_truncate BEFORE TRUNCATE ON ledger.journal_entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.refuse_journal_change();

-- Each entry moves its account's balance in the same transaction.
CREATE FUNCTION ledger.apply_entry() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    acct ledger.accounts%ROWTYPE;
BEGIN
    SELECT * INTO acct FROM ledger.accounts WHERE id = NEW.account_id FOR UPDATE;
    IF acct.asset <> NEW.asset THEN
        RAISE EXCEPTION 'entry asset % does not match account % asset %', NEW.asset, acct.code, acct.asset;
    END IF;
    UPDATE ledger.accounts
       SET balance = balance + CASE WHEN NEW.side = acct.normal_side THEN NEW.amount ELSE -NEW.amount END
     WHERE id = NEW.account_id;
    RETURN NEW;
END $$;
CREATE TRIGGER journal_entries_apply AFTER INSERT ON ledger.journal_entries
    FOR EACH ROW EXECUTE FUNCTION ledger.apply_entry();

-- Every transaction balances per asset, checked at commit.
CREATE FUNCTION ledger.check_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    unbalanced text;
BEGIN
    SELECT asset INTO unbalanced
      FROM ledger.journal_entries
     WHERE transaction_id = NEW.transaction_id
     GROUP BY asset
    HAVING sum(CASE WHEN side = 'D' THEN amount ELSE -amount END) <> 0
     LIMIT 1;
    IF unbalanced IS NOT NULL THEN
        RAISE EXCEPTION 'journal transaction % does not balance in %', NEW.transaction_id, unbalanced
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER journal_entries_balanced AFTER INSERT ON ledger.journal_entries
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger.check_balanced();

-- Transactional outbox: written in the same transaction as the change it reports; NOTIFY wakes consumers,
-- which claim rows with FOR UPDATE SKIP LOCKED.
CREATE TABLE ledger.outbox (
    id          bigserial PRIMARY KEY,
    event_id    text NOT NULL UNIQUE,
    event_type  text NOT NULL,
    merchant_id text REFERENCES ledger.merchants (id),
    subject_id  text NOT NULL,
    payload     jsonb NOT NULL,
    create_time timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbox_merchant ON ledger.outbox (merchant_id, id);

CREATE FUNCTION ledger.notify_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('ledger_outbox', NEW.id::text);
    RETURN NULL;
END $$;
CREATE TRIGGER outbox_notify AFTER INSERT ON ledger.outbox
    FOR EACH ROW EXECUTE FUNCTION ledger.notify_outbox();

-- Where each consumer (webhook dispatcher, watcher feed, …) has read the outbox up to.
CREATE TABLE ledger.outbox_cursors (
    consumer    text PRIMARY KEY,
    last_id     bigint NOT NULL DEFAULT 0,
    update_time timestamptz NOT NULL DEFAULT now()
);

-- The dashboard's own schema: its merchant users' login data and nothing of the ledger's (DECISIONS, "The
-- dashboard"). Sessions live in Redis, not here. Forward-only: change by a new migration.

CREATE SCHEMA IF NOT EXISTS dashboard;

-- One row per ledger merchant created through the dashboard. read_key_sealed is the dashboard's own merchant
-- key with invoices:read only (AES-GCM, dashboard/sealing.py), used to show the merchant its invoices.
CREATE TABLE dashboard.merchants (
    merchant_id      text        PRIMARY KEY,
    name             text        NOT NULL,
    read_key_sealed  bytea       NOT NULL,
    create_time      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE dashboard.users (
    id                   text        PRIMARY KEY,
    email                text        NOT NULL CHECK (email = lower(email) AND length(email) <= 254),
    password_hash        text        NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
    email_verify_time    timestamptz,
    -- The TOTP secret, sealed with the user id as associated data; NULL until enrolled.
    totp_secret_sealed   bytea,
    -- The last TOTP time step accepted: a code is never accepted twice.
    totp_last_step       bigint,
    team_role            text        NOT NULL DEFAULT 'owner'
                                     CHECK (team_role IN ('owner', 'developer', 'finance', 'read_only')),
    merchant_id          text        REFERENCES dashboard.merchants (merchant_id),
    create_time          timestamptz NOT NULL DEFAULT now(),
    update_time          timestamptz NOT NULL DEFAULT now(),
    CHECK (merchant_id IS NULL OR email_verify_time IS NOT NULL)
);
CREATE UNIQUE INDEX users_email ON dashboard.users (email);

-- Email verification links: only the SHA-256 of the token is kept; a token works once, until expire_time.
CREATE TABLE dashboard.email_verifications (
    token_hash   bytea       PRIMARY KEY CHECK (length(token_hash) = 32),
    user_id      text        NOT NULL REFERENCES dashboard.users (id) ON DELETE CASCADE,
    expire_time  timestamptz NOT NULL,
    use_time     timestamptz,
    create_time  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX email_verifications_user ON dashboard.email_verifications (user_id);

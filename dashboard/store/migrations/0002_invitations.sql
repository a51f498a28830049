-- Team invitations: an owner invites an email with a role; the link (only its SHA-256 kept) works once, until
-- expire_time, and makes the invited user a verified member of the merchant. Forward-only.

CREATE TABLE dashboard.invitations (
    token_hash   bytea       PRIMARY KEY CHECK (length(token_hash) = 32),
    merchant_id  text        NOT NULL REFERENCES dashboard.merchants (merchant_id),
    email        text        NOT NULL CHECK (email = lower(email) AND length(email) <= 254),
    team_role    text        NOT NULL CHECK (team_role IN ('developer', 'finance', 'read_only')),
    invited_by   text        NOT NULL REFERENCES dashboard.users (id),
    expire_time  timestamptz NOT NULL,
    accept_time  timestamptz,
    create_time  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX invitations_merchant ON dashboard.invitations (merchant_id);

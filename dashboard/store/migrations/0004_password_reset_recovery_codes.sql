-- Password reset links and TOTP recovery codes for merchant users (docs/dashboard.md, "Password reset" and
-- "Recovery codes"). Forward-only.

-- A password reset link: only the SHA-256 of its token is kept; it works once, until expire_time.
CREATE TABLE dashboard.password_resets (
    token_hash   bytea       PRIMARY KEY CHECK (length(token_hash) = 32),
    user_id      text        NOT NULL REFERENCES dashboard.users (id) ON DELETE CASCADE,
    expire_time  timestamptz NOT NULL,
    use_time     timestamptz,
    create_time  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX password_resets_user ON dashboard.password_resets (user_id);

-- TOTP recovery codes: SHA-256 of each (80 random bits, so a plain hash cannot be reversed by guessing); a code
-- works once (use_time). A new set replaces the whole old one.
CREATE TABLE dashboard.recovery_codes (
    user_id      text        NOT NULL REFERENCES dashboard.users (id) ON DELETE CASCADE,
    code_hash    bytea       NOT NULL CHECK (length(code_hash) = 32),
    use_time     timestamptz,
    create_time  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, code_hash)
);

-- Sessions that began before this time are no longer honoured (set by a password reset: every session of the
-- user, on any device, ends).
ALTER TABLE dashboard.users ADD COLUMN sessions_valid_after timestamptz;

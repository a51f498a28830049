-- Scheduled reports (docs/dashboard.md, "Reports"): a user subscribes to a daily or weekly email carrying the
-- report as CSV. `owner` is "user:<dashboard user id>" (a merchant user: always their own merchant) or
-- "admin:<OIDC subject>" (merchant_id NULL: the total over every merchant). next_run_time is the end of the next
-- period to send (a UTC midnight); retry_time is set when a send failed. Replicas claim due rows with
-- FOR UPDATE SKIP LOCKED and advance next_run_time in the same transaction, so no period is sent twice.

CREATE TABLE dashboard.report_subscriptions (
    id             text        PRIMARY KEY,
    owner          text        NOT NULL CHECK (owner ~ '^(user|admin):.{1,200}$'),
    email          text        NOT NULL CHECK (length(email) BETWEEN 3 AND 254 AND email LIKE '%@%'),
    merchant_id    text        CHECK (merchant_id IS NULL OR length(merchant_id) BETWEEN 1 AND 64),
    frequency      text        NOT NULL CHECK (frequency IN ('daily', 'weekly')),
    next_run_time  timestamptz NOT NULL,
    retry_time     timestamptz,
    last_error     text        NOT NULL DEFAULT '' CHECK (length(last_error) <= 200),
    last_sent_time timestamptz,
    sent_count     integer     NOT NULL DEFAULT 0 CHECK (sent_count >= 0),
    create_time    timestamptz NOT NULL DEFAULT now(),
    CHECK (owner LIKE 'admin:%' OR merchant_id IS NOT NULL)
);
CREATE UNIQUE INDEX report_subscriptions_one_per_scope
    ON dashboard.report_subscriptions (owner, coalesce(merchant_id, ''), frequency);
CREATE INDEX report_subscriptions_due ON dashboard.report_subscriptions ((coalesce(retry_time, next_run_time)));

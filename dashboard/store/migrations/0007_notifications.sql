-- Notification emails (dashboard/notify.py): per onboarded merchant a cursor over the ledger's paid invoices, and
-- one row per email sent, committed together, so no replica sends one twice and a restart loses none.
-- Forward-only.

CREATE TABLE dashboard.notification_cursors (
    merchant_id  text        PRIMARY KEY REFERENCES dashboard.merchants (merchant_id) ON DELETE CASCADE,
    -- Invoices paid at or before this time are handled (the cursor starts when the notifier first sees the
    -- merchant: no history is emailed).
    paid_after   timestamptz NOT NULL,
    -- After a failed send: not before this time (NULL: whenever a pass comes).
    retry_time   timestamptz,
    last_error   text,
    update_time  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE dashboard.notifications_sent (
    -- What happened, e.g. `invoice.paid:inv_…`; with the user, the unit of "sent once".
    event_key    text        NOT NULL,
    user_id      text        NOT NULL REFERENCES dashboard.users (id) ON DELETE CASCADE,
    merchant_id  text        NOT NULL,
    send_time    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_key, user_id)
);

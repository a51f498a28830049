-- Email and SMS notifications (the Webhooks issue): each merchant's preferences (which events, which channels)
-- and the notifications the webhook fan-out makes from the same outbox, sent by the ledger's notifier with
-- FOR UPDATE SKIP LOCKED and a lease, retried on the webhook schedule.

CREATE TABLE ledger.notification_preferences (
    merchant_id   text PRIMARY KEY REFERENCES ledger.merchants (id),
    email_address text NOT NULL DEFAULT '' CHECK (length(email_address) <= 320),
    email_events  text[] NOT NULL DEFAULT '{}',
    sms_number    text NOT NULL DEFAULT '' CHECK (sms_number = '' OR sms_number ~ '^\+[1-9][0-9]{6,14}$'),
    sms_events    text[] NOT NULL DEFAULT '{}',
    update_time   timestamptz NOT NULL
);

CREATE TABLE ledger.notifications (
    id                text PRIMARY KEY,
    merchant_id       text NOT NULL REFERENCES ledger.merchants (id),
    event_id          text NOT NULL,
    event_type        text NOT NULL,
    channel           text NOT NULL CHECK (channel IN ('email', 'sms')),
    recipient         text NOT NULL,
    subject           text NOT NULL DEFAULT '',
    body              text NOT NULL,
    event_time        timestamptz NOT NULL,
    status            text NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'RETRYING', 'SENT', 'FAILED')),
    attempt_count     integer NOT NULL DEFAULT 0,
    next_attempt_time timestamptz,
    lease_until       timestamptz,
    last_error        text NOT NULL DEFAULT '',
    provider_id       text NOT NULL DEFAULT '',
    create_time       timestamptz NOT NULL,
    UNIQUE (event_id, channel),
    CHECK ((status IN ('PENDING', 'RETRYING')) = (next_attempt_time IS NOT NULL))
);
CREATE INDEX notifications_due ON ledger.notifications (next_attempt_time) WHERE status IN ('PENDING', 'RETRYING');

CREATE FUNCTION ledger.notify_notification() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('ledger_notifications', '');
    RETURN NULL;
END $$;
CREATE TRIGGER notification_notify AFTER INSERT ON ledger.notifications
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.notify_notification();

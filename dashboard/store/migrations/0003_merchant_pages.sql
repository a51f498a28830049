-- The merchant pages: the dashboard's own per-merchant key for the merchant APIs, and each user's notification
-- preferences. Forward-only.

-- The dashboard's key for the merchant pages (dashboard/merchant_client.py, DASHBOARD_KEY_SCOPES), sealed like
-- read_key_sealed; NULL until a page first needs it.
ALTER TABLE dashboard.merchants ADD COLUMN ops_key_sealed bytea;

-- What a merchant user wants to be emailed about; a user without a row gets the defaults (all on).
CREATE TABLE dashboard.notification_preferences (
    user_id          text        PRIMARY KEY REFERENCES dashboard.users (id) ON DELETE CASCADE,
    invoice_paid     boolean     NOT NULL DEFAULT true,
    webhook_failing  boolean     NOT NULL DEFAULT true,
    payout_sent      boolean     NOT NULL DEFAULT true,
    weekly_summary   boolean     NOT NULL DEFAULT true,
    update_time      timestamptz NOT NULL DEFAULT now()
);

-- Indexes for the admin ReportService (ledger/store/analytics.py): payment transactions by time, invoices by
-- creation and by payment time (merchant performance and invoices paid per bucket, every merchant at once).
CREATE INDEX journal_transactions_payments_by_time ON ledger.journal_transactions (create_time)
    WHERE kind IN ('payment_final', 'unallocated_payment_allocated', 'credited_payment_reversed');
CREATE INDEX invoices_created ON ledger.invoices (create_time);
CREATE INDEX invoices_paid_time ON ledger.invoices (paid_time) WHERE paid_time IS NOT NULL;

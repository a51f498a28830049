-- Reconciliation reports: one row per run, one line per ledger account compared. Append-only: a report is
-- evidence of what the chain and the ledger said at a block, so it is never edited (a difference is never fixed
-- here; the fix is a ledger posting of its own, and the next report shows it).
CREATE TABLE settlement.reconciliation_reports (
    seq            bigserial PRIMARY KEY,
    id             text NOT NULL UNIQUE,
    request_id     text NOT NULL UNIQUE,
    trigger        text NOT NULL CHECK (trigger IN ('api', 'cli', 'job')),
    chain_id       bigint NOT NULL,
    block_number   bigint,
    status         text NOT NULL CHECK (status IN ('MATCHED', 'MISMATCHED', 'FAILED')),
    mismatch_count integer NOT NULL CHECK (mismatch_count >= 0),
    error          text NOT NULL DEFAULT '',
    create_time    timestamptz NOT NULL,
    complete_time  timestamptz NOT NULL,
    CHECK ((status = 'FAILED') = (error <> '') OR status = 'MISMATCHED'),
    CHECK (status = 'FAILED' OR block_number IS NOT NULL)
);
CREATE INDEX reconciliation_reports_status ON settlement.reconciliation_reports (status, seq);

CREATE TABLE settlement.reconciliation_lines (
    report_id      text NOT NULL REFERENCES settlement.reconciliation_reports (id),
    position       integer NOT NULL,
    account        text NOT NULL,
    kind           text NOT NULL,
    asset          text NOT NULL,
    address        text NOT NULL,
    chain_balance  NUMERIC(78,0),
    ledger_balance NUMERIC(78,0),
    difference     NUMERIC(79,0) NOT NULL,
    status         text NOT NULL CHECK (status IN ('MATCHED', 'MISMATCHED', 'SKIPPED')),
    note           text NOT NULL DEFAULT '',
    PRIMARY KEY (report_id, position),
    CHECK ((status = 'SKIPPED') = (chain_balance IS NULL OR ledger_balance IS NULL)),
    CHECK (status = 'SKIPPED' OR difference = chain_balance - ledger_balance),
    CHECK ((status = 'MISMATCHED') = (difference <> 0))
);

CREATE FUNCTION settlement.refuse_report_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'reconciliation reports are append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER reconciliation_reports_immutable BEFORE UPDATE OR DELETE ON settlement.reconciliation_reports
    FOR EACH ROW EXECUTE FUNCTION settlement.refuse_report_change();
CREATE TRIGGER reconciliation_lines_immutable BEFORE UPDATE OR DELETE ON settlement.reconciliation_lines
    FOR EACH ROW EXECUTE FUNCTION settlement.refuse_report_change();

-- Settlement's own schema: sweeps, the transactions it sends, nonces, reconciliation reports. Each capability
-- adds its tables in a later migration. Forward-only: change by a new migration.

CREATE SCHEMA IF NOT EXISTS settlement;

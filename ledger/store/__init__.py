"""The ledger's Postgres adapter: asyncpg queries and transactions; migrations live in `migrations/`."""

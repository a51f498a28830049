"""The ledger's rules as plain code: money, addresses, payment URIs (no grpc, no asyncpg)."""

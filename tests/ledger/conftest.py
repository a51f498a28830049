"""Ledger tests use the database fixtures of tests/conftest.py (empty_db, ledger_db, postgres_module_db)."""

"""`python -m ledger`: run the ledger service (same as `stablegate serve ledger`)."""

from ledger.app import definition
from ledger.config import LedgerSettings
from service_runtime.server import main

raise SystemExit(main(LedgerSettings, definition))

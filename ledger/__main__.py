"""`python -m ledger`: run the ledger service (same as `stablegate serve ledger`)."""

from service_runtime.cli import main

raise SystemExit(main(["serve", "ledger"]))

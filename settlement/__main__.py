"""`python -m settlement`: run the settlement service (same as `stablegate serve settlement`)."""

from service_runtime.cli import main

raise SystemExit(main(["serve", "settlement"]))

"""`python -m signer`: run the signer service (same as `stablegate serve signer`)."""

from service_runtime.cli import main

raise SystemExit(main(["serve", "signer"]))

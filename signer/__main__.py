"""`python -m signer`: run the signer service (same as `stablegate serve signer`)."""

from service_runtime.server import main
from signer.app import definition
from signer.config import SignerSettings

raise SystemExit(main(SignerSettings, definition))

"""`python -m settlement`: run the settlement service (same as `stablegate serve settlement`)."""

from service_runtime.server import main
from settlement.app import definition
from settlement.config import SettlementSettings

raise SystemExit(main(SettlementSettings, definition))

"""`python -m dashboard`: run the dashboard service (same as `stablegate serve dashboard`)."""

from dashboard.app import definition
from dashboard.config import DashboardSettings
from service_runtime.server import main

raise SystemExit(main(DashboardSettings, definition))

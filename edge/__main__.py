"""`python -m edge`: run the edge service (same as `stablegate serve edge`)."""

from edge.app import definition
from edge.config import EdgeSettings
from service_runtime.server import main

raise SystemExit(main(EdgeSettings, definition))

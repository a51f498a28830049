"""`python -m checkout`: run the checkout service (same as `stablegate serve checkout`)."""

from checkout.app import definition
from checkout.config import CheckoutSettings
from service_runtime.server import main

raise SystemExit(main(CheckoutSettings, definition))

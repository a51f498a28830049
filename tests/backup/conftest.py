"""The backup suite runs on the gateway as `./dev up` runs it (tests/e2e/e2e_harness.py)."""

from tests.e2e.e2e_harness import gateway

__all__ = ["gateway"]

"""The SDK's version and the API version it is written against (docs/sdks.md, "Versioning")."""

__version__ = "0.1.0"
"""This package's version (semantic versioning; see CHANGELOG.md)."""

API_VERSION = "v1"
"""The REST API version this SDK speaks (`/v1/...`); a new major API version comes with a new SDK major."""

WEBHOOK_API_VERSION = "2026-11-25"
"""The webhook payload version (an endpoint's `api_version`) this SDK's docs and examples are written for."""

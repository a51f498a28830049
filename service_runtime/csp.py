"""Content-Security-Policy values shared by a page service and the edge that fronts it.

Defined once here, because both sides send them: the dashboard sets its policy on every answer itself (it may
be reached without Envoy in tests and tools), and Envoy sets the same one on the dashboard's routes (it would
otherwise send the API's stricter one). Both import this module (the dashboard may not import edge/).
"""

from __future__ import annotations

DASHBOARD_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
"""The dashboard's CSP: its own stylesheet, icon and script files (the approvals page's optional browser-wallet
button), forms posted to itself; nothing inline or third-party."""

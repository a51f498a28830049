"""stablegate's Python SDK: a typed client of the REST API (sync and async) and webhook verification.

```python
from stablegate_sdk import Stablegate

client = Stablegate("sk_test_...", base_url="https://pay.example.com")
invoice = client.invoices.create(amount="10.50", order_id="order-1001")
```
"""

from ._calls import RetryPolicy
from ._version import API_VERSION, WEBHOOK_API_VERSION, __version__
from .aio import AsyncStablegate
from .client import Stablegate
from .errors import (
    ApiConnectionError,
    ApiError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    FailedPreconditionError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServiceUnavailableError,
    StablegateError,
    TimeoutError,
    WebhookVerificationError,
)
from .webhooks import WebhookEvent, WebhookVerifier, verify_webhook

__all__ = [
    "API_VERSION",
    "WEBHOOK_API_VERSION",
    "ApiConnectionError",
    "ApiError",
    "AsyncStablegate",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "FailedPreconditionError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "RetryPolicy",
    "ServiceUnavailableError",
    "Stablegate",
    "StablegateError",
    "TimeoutError",
    "WebhookEvent",
    "WebhookVerificationError",
    "WebhookVerifier",
    "__version__",
    "verify_webhook",
]

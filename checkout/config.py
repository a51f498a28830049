"""The checkout service's typed settings."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from service_runtime.config import TARGETS_PATTERN, ServiceSettings
from service_runtime.redis_client import REDIS_URL_DESCRIPTION, REDIS_URL_PATTERN


class CheckoutSettings(ServiceSettings):
    """Settings of the hosted checkout page (env prefix STABLEGATE_CHECKOUT_)."""

    model_config = SettingsConfigDict(env_prefix="STABLEGATE_CHECKOUT_")
    service_name: ClassVar[str] = "checkout"
    mesh_role: ClassVar[str | None] = "checkout"

    http_port: int = Field(
        default=8090,
        ge=1,
        le=65535,
        description="Port of the page's HTTPS listener (mutual TLS: only Envoy, with its edge certificate, is "
        "answered). It binds `host`, like the gRPC port.",
    )
    ledger_target: str = Field(
        default="127.0.0.1:20051",
        pattern=TARGETS_PATTERN,
        description="host:port of the ledger (invoice reads); or IPv4:port,… of its replicas (round-robin).",
    )
    redis_url: str = Field(
        default="redis://127.0.0.1:6379/0",
        pattern=REDIS_URL_PATTERN,
        description="Redis: live invoice status is published there and fanned out to every replica's streams. "
        + REDIS_URL_DESCRIPTION,
    )
    poll_interval_seconds: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="How often an invoice someone is watching is read from the ledger (by one replica at a time).",
    )
    keepalive_seconds: float = Field(
        default=15.0, gt=0, le=55, description="Comment line sent on an idle event stream (below Envoy's 60 s idle)."
    )

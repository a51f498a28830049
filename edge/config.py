"""The edge service's typed settings (ext_authz and rate limits for Envoy)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from service_runtime.config import TARGETS_PATTERN, ServiceSettings
from service_runtime.redis_client import REDIS_URL_DESCRIPTION, REDIS_URL_PATTERN


class EdgeSettings(ServiceSettings):
    """Settings of the edge's authorization and rate-limit service (env prefix STABLEGATE_EDGE_)."""

    model_config = SettingsConfigDict(env_prefix="STABLEGATE_EDGE_")
    service_name: ClassVar[str] = "edge"
    mesh_role: ClassVar[str | None] = "edge"

    ledger_target: str = Field(
        default="127.0.0.1:20051",
        pattern=TARGETS_PATTERN,
        description="host:port of the ledger (key checks); or IPv4:port,IPv4:port,… of its replicas (round-robin).",
    )
    redis_url: str = Field(
        default="redis://127.0.0.1:6379/0",
        pattern=REDIS_URL_PATTERN,
        description="Redis for rate limits and caches. " + REDIS_URL_DESCRIPTION,
    )
    credential_cache_seconds: float = Field(
        default=2.0, ge=0, le=5, description="How long a verified key is cached in Redis; bounds revocation delay."
    )
    merchant_requests_per_second: int = Field(
        default=50, ge=1, le=100000, description="Requests per second one merchant may make (all routes)."
    )
    descriptor_path: Path = Field(
        default=Path(__file__).resolve().parent.parent / "gen" / "stablegate_descriptor.binpb",
        description="The descriptor set Envoy's transcoder reads; names the JSON body fields each operation takes.",
    )
    limits_in_check: bool = Field(
        default=True,
        description="Count the merchant limits in the ext_authz check's own call (one external call per request); "
        "false only for an Envoy plan with a `ratelimit` upstream, which counts them through the rate-limit API.",
    )
    route_requests_per_second: int = Field(
        default=20, ge=1, le=100000, description="Requests per second one merchant may make to one route group."
    )

"""Every service's effective configuration, secrets masked, over gRPC (`stablegate.runtime.v1.RuntimeConfigService`).

The runtime serves it for every service (service_runtime/server.py) to the `operator` and `dashboard` roles only.
What is masked: every `SecretStr` field (`**********`, empty when unset), the password of any URL (as `stablegate
config check` does, `ServiceSettings.redacted`), and further, in any URL, the query and every path segment that
looks like a key (16 or more letters, digits, `_` or `-`): JSON-RPC providers put their API key there.
"""

from __future__ import annotations

import re
from typing import Any

import grpc
from google.protobuf import struct_pb2
from stablegate.runtime.v1 import runtime_config_service_pb2 as pb
from stablegate.runtime.v1 import runtime_config_service_pb2_grpc as pb_grpc

from service_runtime.config import ServiceSettings, redact_url_secrets

SERVICE_NAME = "stablegate.runtime.v1.RuntimeConfigService"
METHOD_PREFIX = f"/{SERVICE_NAME}/"
MASK = "***"
_URL = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#\s]*)(?P<path>/[^?#\s]*)?(?P<query>\?[^#\s]*)?")
_KEY_LIKE = re.compile(r"^[A-Za-z0-9_-]{16,}$")


def mask_url_parts(text: str) -> str:
    """Mask the query and key-like path segments of every URL in the text (the host and short segments stay)."""

    def one(match: re.Match[str]) -> str:
        path = match["path"] or ""
        segments = [MASK if _KEY_LIKE.match(segment) else segment for segment in path.split("/")]
        query = "?" + MASK if match["query"] else ""
        return match["head"] + "/".join(segments) + query

    return _URL.sub(one, text)


def mask_value(value: Any) -> Any:
    """`value` with every URL password and key-like URL part masked, in strings at any depth of lists and maps."""
    if isinstance(value, str):
        return mask_url_parts(redact_url_secrets(value))
    if isinstance(value, list):
        return [mask_value(v) for v in value]
    if isinstance(value, dict):
        return {k: mask_value(v) for k, v in value.items()}
    return value


def effective_config(settings: ServiceSettings) -> dict[str, Any]:
    """The settings as plain JSON data with every secret masked (see the module docstring)."""
    masked: dict[str, Any] = mask_value(settings.redacted())
    return masked


class RuntimeConfig(pb_grpc.RuntimeConfigServiceServicer):
    """GetEffectiveConfig for the service this runtime runs."""

    def __init__(self, service: str, settings: ServiceSettings) -> None:
        self.service = service
        self.settings = settings

    async def GetEffectiveConfig(
        self, request: pb.GetEffectiveConfigRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.GetEffectiveConfigResponse:
        """The effective configuration, masked."""
        config = struct_pb2.Struct()
        config.update(effective_config(self.settings))
        return pb.GetEffectiveConfigResponse(service=self.service, config=config)


def register(server: grpc.aio.Server, service: str, settings: ServiceSettings) -> None:
    """Serve RuntimeConfigService on the server."""
    pb_grpc.add_RuntimeConfigServiceServicer_to_server(RuntimeConfig(service, settings), server)

"""Wiring of the watcher service: what it serves (today every RPC answers UNIMPLEMENTED)."""

from __future__ import annotations

from service_runtime.mesh import MethodRoles, Role
from service_runtime.server import ServiceDefinition
from service_runtime.surface import register_unimplemented
from watcher.config import WatcherSettings

SERVED = ("stablegate.watcher.v1.WatcherService",)
# Who may call what (docs/security.md). Drafts until the chain issue builds the watcher: operators read status.
ROLES: MethodRoles = {"/stablegate.watcher.v1.WatcherService/": frozenset({Role.OPERATOR})}


def definition(settings: WatcherSettings) -> ServiceDefinition:
    """The watcher's gRPC surface."""
    return ServiceDefinition("watcher", lambda server: register_unimplemented(server, SERVED), SERVED, roles=ROLES)

"""The whole mesh with the dashboard's admin login on a real oidc-provider, for the admin pages' browser tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from gateway import parts
from service_runtime.devcerts import DevMesh
from tests.dashboard.conftest import DashboardStack, Mailbox, launched_dashboard
from tests.dashboard.oidc_fixture import OidcTestProvider, start_oidc_provider

if TYPE_CHECKING:
    from tests.conftest import PostgresServer, RedisServer


@contextmanager
def oidc_dashboard_stack(
    postgres: PostgresServer,
    redis_server: RedisServer,
    mesh_pki: DevMesh,
    mailbox: tuple[Mailbox, int],
    base: Path,
    *,
    env: dict[str, str],
) -> Iterator[tuple[DashboardStack, OidcTestProvider]]:
    """The mesh under `base` whose dashboard signs admins in at an oidc-provider on loopback.

    `env` is added to the dashboard's environment; every part started here is stopped at the end.
    """
    listen_port = parts.free_port()
    callback = f"http://127.0.0.1:{listen_port}/dashboard/admin/callback"
    provider = start_oidc_provider(base / "oidc", [callback])
    try:
        with launched_dashboard(
            postgres,
            redis_server,
            mesh_pki,
            mailbox,
            base,
            env={**provider.dashboard_env(callback), **env},
            listen_port=listen_port,
        ) as dash:
            yield dash, provider
    finally:
        provider.process.stop()

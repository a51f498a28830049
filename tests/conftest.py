"""Shared fixtures: real parts started on free loopback ports in throwaway directories, stopped at the end."""

from __future__ import annotations

import secrets
import shutil
import signal
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import asyncpg
import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from edge.envoy_config import EdgePlan, Upstream, public_routes_from_served, write
from gateway import parts
from gateway.cli import MIGRATIONS
from service_runtime import mesh
from service_runtime.devcerts import DevMesh
from service_runtime.mesh import Role
from service_runtime.migrations import discover, migrate


def pytest_configure(config: pytest.Config) -> None:
    """Turn SIGTERM (an outer timeout, a CI cancel) into KeyboardInterrupt so fixtures still stop their parts."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupt)


@pytest.fixture(scope="session")
def process_registry() -> Iterator[list[parts.RunningProcess]]:
    """Every process the harness started this session; at the end, each must be gone."""
    started: list[parts.RunningProcess] = []
    yield started
    for proc in started:
        proc.stop()
    leftovers = [p.spec.name for p in started if p.group_alive()]
    assert not leftovers, f"processes left running: {leftovers}"


@pytest.fixture(scope="session")
def shared_tmp() -> Iterator[Path]:
    """A session temp dir other local users can enter (Postgres runs as `postgres` when we are root)."""
    path = parts.make_shared_dir("stablegate-test-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@dataclass(frozen=True)
class PostgresServer:
    """A running Postgres with the `stablegate` database."""

    plan: parts.PostgresPlan
    process: parts.RunningProcess

    @property
    def dsn(self) -> str:
        """Connection string of the `stablegate` database."""
        return self.plan.dsn


@pytest.fixture(scope="session")
def postgres(shared_tmp: Path, process_registry: list[parts.RunningProcess]) -> PostgresServer:
    """A real Postgres cluster for the session."""
    base = shared_tmp / "postgres"
    base.mkdir(mode=0o755)
    plan, spec = parts.prepare_postgres(base, parts.free_port())
    proc = parts.start(spec)
    process_registry.append(proc)
    parts.create_database(plan)
    return PostgresServer(plan, proc)


@dataclass(frozen=True)
class RedisServer:
    """A running Redis server."""

    port: int
    process: parts.RunningProcess

    @property
    def url(self) -> str:
        """redis:// URL of the server."""
        return f"redis://127.0.0.1:{self.port}/0"


@pytest.fixture(scope="session")
def redis_server(shared_tmp: Path, process_registry: list[parts.RunningProcess]) -> RedisServer:
    """A real Redis server for the session."""
    port = parts.free_port()
    proc = parts.start(parts.prepare_redis(shared_tmp, port))
    process_registry.append(proc)
    return RedisServer(port, proc)


@dataclass(frozen=True)
class AnvilNode:
    """A running anvil node (chain id 97, BSC-like finality lag)."""

    port: int
    process: parts.RunningProcess

    @property
    def url(self) -> str:
        """JSON-RPC URL of the node."""
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture(scope="session")
def anvil(process_registry: list[parts.RunningProcess]) -> AnvilNode:
    """A real local EVM chain for the session."""
    port = parts.free_port()
    proc = parts.start(parts.prepare_anvil(port))
    process_registry.append(proc)
    return AnvilNode(port, proc)


@pytest.fixture(scope="session")
def mesh_pki(shared_tmp: Path) -> DevMesh:
    """The session's mesh CA and one certificate per role (what `stablegate mesh certs` makes)."""
    return DevMesh(shared_tmp / "pki")


def error_info(exc: grpc.aio.AioRpcError | grpc.RpcError) -> error_details_pb2.ErrorInfo:
    """The one ErrorInfo of a refused call's rich status (reason, metadata)."""
    status = rpc_status.from_call(exc)  # type: ignore[arg-type]
    assert status is not None
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    return info


def mesh_server_credentials(pki: DevMesh, role: str) -> grpc.ServerCredentials:
    """Server credentials of a stand-in mesh server: the role's certificate, client certificates required."""
    files = pki.files(role)
    return grpc.ssl_server_credentials(
        [(files.key_file.read_bytes(), files.cert_file.read_bytes())],
        root_certificates=files.ca_file.read_bytes(),
        require_client_auth=True,
    )


def mesh_channel(pki: DevMesh, role: str, port: int) -> grpc.aio.Channel:
    """An async channel to a mesh server on loopback, presenting the role's certificate."""
    return mesh.channel(f"127.0.0.1:{port}", pki.files(role))


def mesh_sync_channel(pki: DevMesh, role: str, port: int) -> grpc.Channel:
    """A blocking channel to a mesh server on loopback, presenting the role's certificate."""
    return grpc.secure_channel(f"127.0.0.1:{port}", mesh.channel_credentials(pki.files(role)))


@dataclass(frozen=True)
class EnvoyProxy:
    """A running Envoy with its public and admin ports."""

    port: int
    admin_port: int
    process: parts.RunningProcess


def edge_envoy_yaml(base: Path, listen_port: int, admin_port: int, pki: DevMesh) -> str:
    """The edge's generated Envoy config, its upstream (the ledger) on a port nothing listens on."""
    from ledger.app import SERVED

    plan = EdgePlan(
        listen_port=listen_port,
        admin_port=admin_port,
        descriptor_path=parts.REPO_ROOT / "gen" / "stablegate_descriptor.binpb",
        upstreams=(Upstream("ledger", "127.0.0.1", parts.free_port(), Role.LEDGER),),
        routes=public_routes_from_served({"ledger": SERVED}),
        mesh=pki.files(Role.EDGE),
    )
    return write(plan, base / "generated" / "envoy.yaml").read_text()


@pytest.fixture(scope="session")
def envoy(shared_tmp: Path, process_registry: list[parts.RunningProcess], mesh_pki: DevMesh) -> EnvoyProxy:
    """A real Envoy with the edge's generated config, in front of no service, for the session."""
    base = shared_tmp / "envoy"
    base.mkdir()
    port, admin = parts.free_port(), parts.free_port()
    proc = parts.start(parts.prepare_envoy(base, edge_envoy_yaml(base, port, admin, mesh_pki), admin))
    process_registry.append(proc)
    return EnvoyProxy(port, admin, proc)


@pytest.fixture(scope="module")
def softhsm_token(tmp_path_factory: pytest.TempPathFactory) -> parts.SoftHsmToken:
    """A fresh SoftHSM token per test module, with random PINs."""
    return parts.init_softhsm_token(tmp_path_factory.mktemp("softhsm"), "stablegate-test")


@pytest.fixture
async def empty_db(postgres: PostgresServer) -> AsyncIterator[str]:
    """The URL of a new, empty database, dropped after the test."""
    name = f"t_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(postgres.plan.dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield postgres.plan.dsn.rsplit("/", 1)[0] + f"/{name}"
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def ledger_db(empty_db: str) -> str:
    """The URL of a new database with every ledger migration applied."""
    conn = await asyncpg.connect(empty_db)
    try:
        await migrate(conn, "ledger", discover("ledger", MIGRATIONS["ledger"]))
    finally:
        await conn.close()
    return empty_db


@pytest.fixture(scope="module")
async def postgres_module_db(postgres: PostgresServer) -> AsyncIterator[str]:
    """A migrated database shared by one test module (for simulations that build on each other)."""
    name = f"m_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(postgres.plan.dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        url = postgres.plan.dsn.rsplit("/", 1)[0] + f"/{name}"
        conn = await asyncpg.connect(url)
        try:
            await migrate(conn, "ledger", discover("ledger", MIGRATIONS["ledger"]))
        finally:
            await conn.close()
        yield url
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()

"""The mesh under the prod profile: TLS on Envoy's public listener, mutual TLS with roles on every hop inside.

Invoices are created, read and listed over HTTPS through Envoy; the ledger's money-moving internal method
answers only the watcher's certificate, and refuses another role, no certificate, and a foreign CA's.
"""

from __future__ import annotations

import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
import pytest
from stablegate.ledger.v1 import chain_observation_service_pb2 as obs_pb
from stablegate.ledger.v1 import chain_observation_service_pb2_grpc as obs_grpc

from edge.envoy_config import TlsFiles
from gateway import parts
from service_runtime import mesh
from service_runtime.devcerts import DevCertificateAuthority, DevMesh
from service_runtime.mesh import Role
from tests.edge.conftest import Stack, launch_stack

if TYPE_CHECKING:
    from tests.conftest import PostgresServer, RedisServer

FINALITY = obs_pb.RecordFinalityRequest(chain_id=97, finalized_block_number=5, finalized_block_hash="0x" + "a" * 64)


@pytest.fixture(scope="module")
def prod(
    postgres: PostgresServer, redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Stack, int, DevMesh]]:
    base = tmp_path_factory.mktemp("prod")
    # prod refuses the dev CA by name: the mesh runs on an "operator's" CA, the listener on a public one.
    pki = DevMesh(base / "mesh", ca_name="example.com mesh CA")
    public_ca = DevCertificateAuthority(base / "public", name="example.com public CA")
    listener = public_ca.issue("api", hosts=("api.example.com",))
    started: list[parts.RunningProcess] = []
    try:
        stack, ledger_port = launch_stack(
            postgres,
            redis_server,
            pki,
            base,
            started,
            profile="prod",
            public_tls=TlsFiles(listener.cert_file, listener.key_file),
        )
        stack.tls_context = ssl.create_default_context(cafile=str(public_ca.cert_file))
        yield stack, ledger_port, pki
    finally:
        for proc in reversed(started):
            proc.stop()


def test_prod_mesh_creates_reads_and_lists_invoices_over_https_through_envoy(prod: tuple[Stack, int, DevMesh]) -> None:
    stack, _, _ = prod
    _, key = stack.merchant_key()
    created = stack.call("POST", "/v1/invoices", {"amount": "12.50", "order_id": "o-1"}, key)
    assert created.status == 200, created.body
    invoice = created.json()
    assert (invoice["amount"], invoice["status"]) == ("12.5", "INVOICE_STATUS_OPEN")
    read = stack.call("GET", f"/v1/invoices/{invoice['id']}", key=key)
    assert read.status == 200 and read.json()["id"] == invoice["id"]
    listed = stack.call("GET", "/v1/invoices", key=key)
    assert listed.status == 200
    assert [i["id"] for i in listed.json()["invoices"]] == [invoice["id"]]


def test_prod_public_listener_refuses_plaintext_http(prod: tuple[Stack, int, DevMesh]) -> None:
    stack, _, _ = prod
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        urllib.request.urlopen(f"http://127.0.0.1:{stack.port}/healthz", timeout=5)


async def test_prod_internal_method_answers_the_watcher_only(prod: tuple[Stack, int, DevMesh], tmp_path: Path) -> None:
    _, ledger_port, pki = prod
    target = f"127.0.0.1:{ledger_port}"

    async def record_finality(creds: grpc.ChannelCredentials) -> obs_pb.RecordFinalityResponse:
        async with grpc.aio.secure_channel(target, creds) as channel:
            reply: obs_pb.RecordFinalityResponse = await obs_grpc.ChainObservationServiceStub(channel).RecordFinality(
                FINALITY, timeout=10
            )
            return reply

    assert (await record_finality(mesh.channel_credentials(pki.files(Role.WATCHER)))).finalized_block_number == 5

    with pytest.raises(grpc.aio.AioRpcError) as wrong_role:
        await record_finality(mesh.channel_credentials(pki.files(Role.EDGE)))
    assert wrong_role.value.code() == grpc.StatusCode.PERMISSION_DENIED

    ca = pki.ca_file.read_bytes()
    with pytest.raises(grpc.aio.AioRpcError) as no_certificate:
        await record_finality(grpc.ssl_channel_credentials(root_certificates=ca))
    assert no_certificate.value.code() == grpc.StatusCode.UNAVAILABLE

    # A watcher certificate from another CA (the dev one, say) is no mesh identity in production.
    foreign = DevMesh(tmp_path / "dev").files(Role.WATCHER)
    with pytest.raises(grpc.aio.AioRpcError) as foreign_ca:
        await record_finality(
            grpc.ssl_channel_credentials(
                root_certificates=ca,
                private_key=foreign.key_file.read_bytes(),
                certificate_chain=foreign.cert_file.read_bytes(),
            )
        )
    assert foreign_ca.value.code() == grpc.StatusCode.UNAVAILABLE

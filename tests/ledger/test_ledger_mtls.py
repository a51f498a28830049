"""Under mutual TLS, internal methods (which move money) answer only the mesh's own services."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from stablegate.ledger.v1 import chain_observation_service_pb2 as obs_pb
from stablegate.ledger.v1 import chain_observation_service_pb2_grpc as obs_grpc

from ledger.app import definition
from ledger.config import LedgerSettings
from ledger.core import LedgerCore
from service_runtime.config import load_settings
from service_runtime.devcerts import CertPair, DevCertificateAuthority
from service_runtime.server import ServiceRuntime


async def test_only_allowed_client_certificates_may_record_chain_observations(ledger_db: str, tmp_path: Path) -> None:
    ca = DevCertificateAuthority(tmp_path / "pki")
    server = ca.issue("ledger", server=True)
    settings = load_settings(
        LedgerSettings,
        database_url=ledger_db,
        profile="test",
        grpc_port=0,
        metrics_port=None,
        drain_delay_seconds=0,
        tls={"cert_file": server.cert_file, "key_file": server.key_file, "client_ca_file": ca.cert_file},
    )
    runtime = ServiceRuntime(settings, definition(settings, LedgerCore(settings)))
    ports = await runtime.start()
    request = obs_pb.RecordFinalityRequest(chain_id=97, finalized_block_number=5, finalized_block_hash="0x" + "a" * 64)

    def channel(pair: CertPair) -> grpc.aio.Channel:
        creds = grpc.ssl_channel_credentials(
            root_certificates=ca.cert_file.read_bytes(),
            private_key=pair.key_file.read_bytes(),
            certificate_chain=pair.cert_file.read_bytes(),
        )
        return grpc.aio.secure_channel(f"localhost:{ports.grpc_port}", creds)

    try:
        async with channel(ca.issue("watcher", server=False)) as watcher:
            reply = await obs_grpc.ChainObservationServiceStub(watcher).RecordFinality(request)
            assert reply.finalized_block_number == 5
        async with channel(ca.issue("curious-intern", server=False)) as stranger:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await obs_grpc.ChainObservationServiceStub(stranger).RecordFinality(request)
            assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    finally:
        runtime.request_stop()
        await runtime.wait_and_drain()


def test_prod_ledger_requires_client_certificates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pem = tmp_path / "x.pem"
    pem.write_text("placeholder")
    monkeypatch.setenv("STABLEGATE_LEDGER_PROFILE", "prod")
    monkeypatch.setenv("STABLEGATE_LEDGER_TLS__CERT_FILE", str(pem))
    monkeypatch.setenv("STABLEGATE_LEDGER_TLS__KEY_FILE", str(pem))
    from service_runtime.config import ConfigError

    with pytest.raises(ConfigError, match="STABLEGATE_LEDGER_TLS: prod requires mutual TLS for the ledger"):
        load_settings(LedgerSettings)

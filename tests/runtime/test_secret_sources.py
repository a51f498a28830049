"""Secret settings from a file or AWS Secrets Manager (a real local server speaking its API: moto_server)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from stablegate.admin.v1 import merchant_admin_service_pb2 as merchants_pb
from stablegate.admin.v1 import merchant_admin_service_pb2_grpc as merchants_grpc

from gateway import parts
from ledger.domain.credentials import new_admin_key
from ledger.secretbox import new_dev_key
from ledger.store.credentials import insert_admin_key
from service_runtime.config import EXIT_CONFIG, ConfigError, load_settings
from service_runtime.devcerts import DevMesh
from service_runtime.mesh import Role
from signer.config import SignerSettings
from tests.conftest import mesh_sync_channel

AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "STABLEGATE_AWS_SECRETS_REGION": "eu-west-1",
}
"""moto accepts any credentials; they are set so boto3's chain finds some and never asks an instance role."""


class SecretsManager:
    """A moto server on loopback: its endpoint, and a boto3 client to put secrets in it."""

    def __init__(self, port: int) -> None:
        import boto3

        self.endpoint = f"http://127.0.0.1:{port}"
        self.client = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name="eu-west-1"
        ).client("secretsmanager", endpoint_url=self.endpoint)

    def put(self, name: str, value: str) -> str:
        """Create the secret; returns its ARN."""
        return str(self.client.create_secret(Name=name, SecretString=value)["ARN"])

    @property
    def env(self) -> dict[str, str]:
        return {**AWS_ENV, "STABLEGATE_AWS_SECRETS_ENDPOINT_URL": self.endpoint}


@pytest.fixture(scope="module")
def secrets_manager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecretsManager]:
    binary = Path(sys.executable).parent / "moto_server"
    command = str(binary) if binary.exists() else shutil.which("moto_server")
    assert command, "moto_server missing: run ./dev setup (moto[server] is a dev dependency)"
    port = parts.free_port()
    url = f"http://127.0.0.1:{port}/moto-api/"

    def ready() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=0.5):
                return True
        except (OSError, urllib.error.URLError):
            return False

    proc = parts.start(
        parts.ProcessSpec(
            name="moto_server",
            argv=[command, "-H", "127.0.0.1", "-p", str(port)],
            ready=ready,
            port=port,
            log_path=tmp_path_factory.mktemp("moto") / "moto.log",
        )
    )
    try:
        yield SecretsManager(port)
    finally:
        proc.stop()


def private_file(path: Path, text: str, mode: int = 0o400) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def run_ledger_expecting_config_error(tmp_path: Path, pki: DevMesh, env: dict[str, str]) -> str:
    """Start `python -m ledger` and return its stderr; it must stop at configuration with EXIT_CONFIG."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("STABLEGATE_", "AWS_"))}
    full = {**clean, **pki.files(Role.LEDGER).env("ledger"), "STABLEGATE_LEDGER_PROFILE": "test", **env}
    done = subprocess.run(
        [sys.executable, "-m", "ledger"], env=full, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == EXIT_CONFIG, done.stderr
    return done.stderr


async def test_ledger_starts_with_its_database_url_and_webhook_key_from_secrets_manager(
    secrets_manager: SecretsManager, ledger_db: str, mesh_pki: DevMesh, tmp_path: Path
) -> None:
    # The database URL is only in the secrets manager; the default URL names no server of this test, so a
    # ledger that serves and writes into this database read it from there.
    db_arn = secrets_manager.put(f"ledger-db-{tmp_path.name}", ledger_db)
    webhook_key = new_dev_key()
    secrets_manager.put(f"ledger-keys-{tmp_path.name}", json.dumps({"webhook": webhook_key}))
    admin = new_admin_key()
    conn = await asyncpg.connect(ledger_db)
    try:
        await insert_admin_key(
            conn, key_id="adm_sm", prefix=admin.prefix, secret_hash=admin.secret_hash, roles=["admin"], name="t"
        )
    finally:
        await conn.close()
    spec, ready_file = parts.prepare_service(
        "ledger",
        tmp_path,
        {
            **mesh_pki.files(Role.LEDGER).env("ledger"),
            **secrets_manager.env,
            "STABLEGATE_LEDGER_DATABASE_URL_AWS_SECRET": db_arn,
            "STABLEGATE_LEDGER_WEBHOOK_SECRET_KEY_AWS_SECRET": f"ledger-keys-{tmp_path.name}#webhook",
            "STABLEGATE_LEDGER_DATABASE_WAIT_SECONDS": "5",
        },
    )
    proc = parts.start(spec)
    try:
        port = int(parts.read_ready_file(ready_file)["grpc_port"] or 0)
        with mesh_sync_channel(mesh_pki, Role.OPERATOR, port) as channel:
            check = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
            assert check.status == health_pb2.HealthCheckResponse.SERVING
        with mesh_sync_channel(mesh_pki, Role.EDGE, port) as channel:
            reply = merchants_grpc.MerchantAdminServiceStub(channel).OnboardMerchant(
                merchants_pb.OnboardMerchantRequest(name="From SM", contact_email="ops@sm.example"),
                metadata=(("authorization", f"Bearer {admin.plaintext}"),),
                timeout=10,
            )
    finally:
        proc.stop()
    conn = await asyncpg.connect(ledger_db)
    try:
        assert await conn.fetchval("SELECT name FROM ledger.merchants WHERE id = $1", reply.merchant.id) == "From SM"
    finally:
        await conn.close()
    log = (tmp_path / "ledger.log").read_text()
    assert webhook_key not in log and ledger_db not in log


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("missing secret", "STABLEGATE_LEDGER_DATABASE_URL_AWS_SECRET: secret 'no-such-secret' not found"),
        ("unreachable endpoint", "STABLEGATE_LEDGER_DATABASE_URL_AWS_SECRET: cannot read secret 'db'"),
        ("both variable and file", "STABLEGATE_LEDGER_DATABASE_URL: set only one of"),
        ("world-readable file", "is accessible to every user (mode 0o644); make it private"),
        ("missing region", "no AWS region: set STABLEGATE_AWS_SECRETS_REGION"),
    ],
)
def test_bad_secret_references_stop_the_start_with_exit_2(
    case: str, expected: str, secrets_manager: SecretsManager, mesh_pki: DevMesh, tmp_path: Path
) -> None:
    secret_url = "postgresql://app:hunter2-do-not-print@127.0.0.1:1/x"
    env: dict[str, str] = {}
    if case == "missing secret":
        env = {**secrets_manager.env, "STABLEGATE_LEDGER_DATABASE_URL_AWS_SECRET": "no-such-secret"}
    elif case == "unreachable endpoint":
        env = {
            **AWS_ENV,
            "STABLEGATE_AWS_SECRETS_ENDPOINT_URL": f"http://127.0.0.1:{parts.free_port()}",
            "STABLEGATE_LEDGER_DATABASE_URL_AWS_SECRET": "db",
        }
    elif case == "both variable and file":
        env = {
            "STABLEGATE_LEDGER_DATABASE_URL": secret_url,
            "STABLEGATE_LEDGER_DATABASE_URL_FILE": str(private_file(tmp_path / "db-url", secret_url)),
        }
    elif case == "world-readable file":
        env = {"STABLEGATE_LEDGER_DATABASE_URL_FILE": str(private_file(tmp_path / "db-url", secret_url, 0o644))}
    else:
        env = {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "STABLEGATE_AWS_SECRETS_ENDPOINT_URL": secrets_manager.endpoint,
            "STABLEGATE_LEDGER_DATABASE_URL_AWS_SECRET": "db",
        }
    stderr = run_ledger_expecting_config_error(tmp_path, mesh_pki, env)
    assert expected in stderr
    assert "hunter2" not in stderr


def test_a_value_read_from_a_file_is_never_repeated_in_an_error(
    tmp_path: Path, mesh_pki: DevMesh, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ledger.config import LedgerSettings

    monkeypatch.setenv("STABLEGATE_LEDGER_DATABASE_URL_FILE", str(private_file(tmp_path / "db", "hunter2-not-a-url\n")))
    with pytest.raises(ConfigError) as caught:
        load_settings(LedgerSettings, tls=mesh_pki.files(Role.LEDGER).settings())
    text = str(caught.value)
    assert "STABLEGATE_LEDGER_DATABASE_URL (read from STABLEGATE_LEDGER_DATABASE_URL_FILE)" in text
    assert "hunter2" not in text


def test_signer_pin_from_a_file_and_from_secrets_manager(
    secrets_manager: SecretsManager, tmp_path: Path, mesh_pki: DevMesh, monkeypatch: pytest.MonkeyPatch
) -> None:
    tls: Any = mesh_pki.files(Role.SIGNER).settings()
    monkeypatch.setenv("STABLEGATE_SIGNER_PIN_FILE", str(private_file(tmp_path / "pin", "1234-from-file\n")))
    assert load_settings(SignerSettings, tls=tls).pin.get_secret_value() == "1234-from-file"
    monkeypatch.delenv("STABLEGATE_SIGNER_PIN_FILE")
    arn = secrets_manager.put(f"signer-pin-{tmp_path.name}", "5678-from-sm")
    for name, value in {**secrets_manager.env, "STABLEGATE_SIGNER_PIN_AWS_SECRET": arn}.items():
        monkeypatch.setenv(name, value)
    assert load_settings(SignerSettings, tls=tls).pin.get_secret_value() == "5678-from-sm"
    # A keyword override (tests, tools) still wins over every source.
    assert load_settings(SignerSettings, tls=tls, pin="given").pin.get_secret_value() == "given"


def test_an_unknown_source_suffix_is_still_a_typo(mesh_pki: DevMesh, monkeypatch: pytest.MonkeyPatch) -> None:
    from ledger.config import LedgerSettings

    monkeypatch.setenv("STABLEGATE_LEDGER_ASSET_FILE", "/etc/hostname")  # not a secret setting
    with pytest.raises(ConfigError, match="STABLEGATE_LEDGER_ASSET_FILE: not a setting of the ledger"):
        load_settings(LedgerSettings, tls=mesh_pki.files(Role.LEDGER).settings())


def test_ledger_opens_its_kek_token_with_a_pin_from_secrets_manager(
    secrets_manager: SecretsManager, ledger_db: str, mesh_pki: DevMesh, tmp_path: Path
) -> None:
    token = parts.init_softhsm_token(tmp_path / "ledger-hsm", "ledger-kek")
    pin_file = private_file(tmp_path / "kek-pin", token.user_pin + "\n")
    base = {
        **token.env,
        **mesh_pki.files(Role.LEDGER).env("ledger"),
        "STABLEGATE_LEDGER_DATABASE_URL": ledger_db,
        "STABLEGATE_LEDGER_WEBHOOK_KEK_TOKEN_LABEL": token.label,
    }
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("STABLEGATE_", "AWS_"))}
    # The first KEK, made by the operator's command, which reads the PIN from a file.
    made = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "ledger", "kek", "rotate", "--settle-seconds", "0", "--json"],
        env={**clean, **base, "STABLEGATE_LEDGER_WEBHOOK_KEK_PIN_FILE": str(pin_file)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["version"] == 1
    # The ledger itself reads the PIN from the secrets manager, opens the token and serves.
    arn = secrets_manager.put(f"ledger-kek-pin-{tmp_path.name}", token.user_pin)
    spec, ready_file = parts.prepare_service(
        "ledger",
        tmp_path,
        {**base, **secrets_manager.env, "STABLEGATE_LEDGER_WEBHOOK_KEK_PIN_AWS_SECRET": arn},
    )
    proc = parts.start(spec)
    try:
        port = int(parts.read_ready_file(ready_file)["grpc_port"] or 0)
        with mesh_sync_channel(mesh_pki, Role.OPERATOR, port) as channel:
            check = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
            assert check.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        proc.stop()
    assert proc.popen.returncode == 0, proc.log_tail()
    log = (tmp_path / "ledger.log").read_text()
    assert '"kek_version": 1' in log
    assert token.user_pin not in log

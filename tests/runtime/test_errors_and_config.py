"""Domain errors become one google.rpc.Status shape; settings validate with profiles and named fixes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from google.rpc import code_pb2, error_details_pb2

from ledger.config import LedgerSettings
from service_runtime.config import ConfigError, Profile, load_settings
from service_runtime.devcerts import DevCertificateAuthority, DevMesh
from service_runtime.errors import DomainError, InvalidArgument, NotFound
from service_runtime.interceptors import status_for
from signer.config import SignerSettings
from watcher.config import WatcherSettings


def test_domain_error_becomes_status_with_exactly_one_error_info() -> None:
    error = InvalidArgument(
        "amount has more decimals than the token",
        reason="AMOUNT_TOO_PRECISE",
        metadata={"field": "amount", "maxDecimals": "18"},
    )
    status = status_for(error)
    assert status.code == code_pb2.INVALID_ARGUMENT
    assert status.message == "amount has more decimals than the token"
    assert len(status.details) == 1
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    assert info.reason == "AMOUNT_TOO_PRECISE"
    assert info.domain == "stablegate"
    assert dict(info.metadata) == {"field": "amount", "maxDecimals": "18"}


def test_not_found_maps_to_not_found() -> None:
    assert status_for(NotFound("no such invoice", reason="INVOICE_NOT_FOUND")).code == code_pb2.NOT_FOUND


@pytest.mark.parametrize(
    ("reason", "metadata"),
    [("lower_case", {}), ("TRAILING_", {}), ("OK", {"snake_key": "x"}), ("OK", {"Upper": "x"})],
)
def test_error_reason_and_metadata_shapes_are_enforced(reason: str, metadata: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="must be"):
        DomainError("x", reason=reason, metadata=metadata)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, mesh_pki: DevMesh) -> None:
    """Only the mesh certificates every service needs (tls has no default in any profile)."""
    for var in [v for v in os.environ if v.startswith("STABLEGATE_")]:
        monkeypatch.delenv(var)
    for service in ("ledger", "watcher", "signer"):
        for key, value in mesh_pki.files(service).env(service).items():
            monkeypatch.setenv(key, value)


def test_defaults_are_the_dev_profile_on_loopback() -> None:
    settings = load_settings(LedgerSettings)
    assert settings.profile is Profile.DEV
    assert settings.host == "127.0.0.1"
    assert settings.tls.role() == "ledger"


def test_env_values_are_read_and_typed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STABLEGATE_WATCHER_CHAIN_ID", "56")
    monkeypatch.setenv("STABLEGATE_WATCHER_RPC_URLS", '["http://a:8545", "http://b:8545"]')
    settings = load_settings(WatcherSettings)
    assert settings.chain_id == 56
    assert settings.rpc_urls == ["http://a:8545", "http://b:8545"]


def test_every_bad_value_is_reported_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STABLEGATE_LEDGER_GRPC_PORT", "70000")
    monkeypatch.setenv("STABLEGATE_LEDGER_DATABASE_URL", "mysql://x")
    monkeypatch.setenv("STABLEGATE_LEDGER_LOG_LEVEL", "loud")
    with pytest.raises(ConfigError) as caught:
        load_settings(LedgerSettings)
    text = str(caught.value)
    for var in ("STABLEGATE_LEDGER_GRPC_PORT", "STABLEGATE_LEDGER_DATABASE_URL", "STABLEGATE_LEDGER_LOG_LEVEL"):
        assert var in text
    assert len(caught.value.problems) == 3


def test_missing_tls_file_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("STABLEGATE_LEDGER_TLS__CERT_FILE", str(tmp_path / "nope.pem"))
    monkeypatch.setenv("STABLEGATE_LEDGER_TLS__KEY_FILE", str(tmp_path / "nope.key"))
    with pytest.raises(ConfigError, match=r"STABLEGATE_LEDGER_TLS: .*cert_file .*nope.pem is not a readable file"):
        load_settings(LedgerSettings)


def test_secret_values_never_appear_in_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STABLEGATE_SIGNER_PIN", "hunter2-very-secret")
    monkeypatch.setenv("STABLEGATE_SIGNER_PROFILE", "prod")
    with pytest.raises(ConfigError) as caught:
        load_settings(SignerSettings)
    assert "hunter2" not in str(caught.value)


def test_prod_with_real_values_is_accepted(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    ca = DevCertificateAuthority(tmp_path / "pki", name="example.com mesh CA")
    pair = ca.issue("signer")
    module = tmp_path / "libvendorhsm.so"
    module.write_text("")
    for key, value in {
        "PROFILE": "prod",
        "TLS__CERT_FILE": str(pair.cert_file),
        "TLS__KEY_FILE": str(pair.key_file),
        "TLS__CA_FILE": str(ca.cert_file),
        "PKCS11_MODULE": str(module),
        "PIN": "a-real-pin",
    }.items():
        monkeypatch.setenv(f"STABLEGATE_SIGNER_{key}", value)
    settings = load_settings(SignerSettings)
    assert settings.profile is Profile.PROD
    assert settings.redacted()["pin"] == "**********"


def test_database_passwords_are_masked_in_output_and_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STABLEGATE_LEDGER_DATABASE_URL", "postgresql://app:hunter2@db:5432/ledger")
    shown = load_settings(LedgerSettings).redacted()
    assert shown["database_url"] == "postgresql://app:***@db:5432/ledger"
    monkeypatch.setenv("STABLEGATE_LEDGER_DATABASE_URL", "mysql://app:hunter2@db/ledger")
    with pytest.raises(ConfigError) as caught:
        load_settings(LedgerSettings)
    assert "hunter2" not in str(caught.value)
    assert "mysql://app:***@db/ledger" in str(caught.value)


def test_an_empty_metrics_port_turns_metrics_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STABLEGATE_LEDGER_METRICS_PORT", "")
    assert load_settings(LedgerSettings).metrics_port is None


def test_rpc_urls_and_targets_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STABLEGATE_WATCHER_RPC_URLS", '["not a url", "ftp://x"]')
    monkeypatch.setenv("STABLEGATE_WATCHER_LEDGER_TARGET", "???")
    with pytest.raises(ConfigError) as caught:
        load_settings(WatcherSettings)
    text = str(caught.value)
    assert "STABLEGATE_WATCHER_RPC_URLS" in text
    assert "not http(s) URLs: not a url, ftp://x" in text
    assert "STABLEGATE_WATCHER_LEDGER_TARGET" in text


def test_the_retention_setting_defaults_to_30_days_and_refuses_bad_values_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert load_settings(WatcherSettings).watch_retention_days == 30
    monkeypatch.setenv("STABLEGATE_WATCHER_WATCH_RETENTION_DAYS", "0")
    assert load_settings(WatcherSettings).watch_retention_days == 0
    for bad in ("-1", "367", "a month"):
        monkeypatch.setenv("STABLEGATE_WATCHER_WATCH_RETENTION_DAYS", bad)
        with pytest.raises(ConfigError) as caught:
            load_settings(WatcherSettings)
        assert "STABLEGATE_WATCHER_WATCH_RETENTION_DAYS" in str(caught.value)

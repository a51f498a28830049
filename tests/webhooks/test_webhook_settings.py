"""The webhook key and loopback settings: prod refuses a missing or demo key and loopback receivers."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger.config import LedgerSettings
from ledger.secretbox import SecretBox, new_dev_key, parse_key
from service_runtime.config import ConfigError, load_settings
from service_runtime.devcerts import DevMesh
from service_runtime.mesh import Role
from tests.webhooks.conftest import PROD_CHAIN, prod_key


def test_prod_refuses_a_missing_or_demo_webhook_key_and_loopback_without_echoing_the_key(tmp_path: Path) -> None:
    tls = DevMesh(tmp_path, ca_name="example.com mesh CA").files(Role.LEDGER).settings()
    demo = new_dev_key()
    for overrides in (
        {},
        {"webhook_secret_key": demo},
        {"webhook_secret_key": prod_key(), "webhook_allow_loopback": True},
    ):
        with pytest.raises(ConfigError) as caught:
            load_settings(LedgerSettings, profile="prod", tls=tls, **overrides)
        assert demo not in str(caught.value) and demo.removeprefix("dev-only-") not in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        load_settings(LedgerSettings, profile="dev", tls=tls, webhook_secret_key="not-base64-of-32-bytes")
    assert "WEBHOOK_SECRET_KEY" in str(caught.value) and "not-base64" not in str(caught.value)
    settings = load_settings(LedgerSettings, profile="prod", tls=tls, webhook_secret_key=prod_key(), **PROD_CHAIN)
    assert settings.profile == "prod"


def test_a_sealed_secret_opens_only_for_its_endpoint_with_its_key() -> None:
    box = SecretBox(parse_key(new_dev_key()))
    sealed = box.seal("whsec_abc", "we_1")
    assert b"whsec_abc" not in sealed
    assert box.open(sealed, "we_1") == "whsec_abc"
    with pytest.raises(ValueError, match="does not open"):
        box.open(sealed, "we_2")
    with pytest.raises(ValueError, match="does not open"):
        SecretBox(parse_key(new_dev_key())).open(sealed, "we_1")

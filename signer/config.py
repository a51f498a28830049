"""The signer's typed settings."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from service_runtime.config import DEMO_SECRET_PREFIX, ServiceSettings

SOFTHSM_MODULE = Path("/usr/lib/softhsm/libsofthsm2.so")
"""Where Debian's softhsm2 package puts SoftHSM's PKCS#11 library (the development default)."""


class SignerSettings(ServiceSettings):
    """Settings of the signer, the HSM-backed signing enclave (env prefix STABLEGATE_SIGNER_)."""

    model_config = SettingsConfigDict(env_prefix="STABLEGATE_SIGNER_")
    service_name: ClassVar[str] = "signer"
    mesh_role: ClassVar[str | None] = "signer"

    pkcs11_module: Path = Field(default=SOFTHSM_MODULE, description="Path of the HSM's PKCS#11 library.")
    token_label: str = Field(default="stablegate-dev", min_length=1, description="Label of the HSM token.")
    pin: SecretStr = Field(
        default=SecretStr(""), description="User PIN of the token (from a file or secret store in production)."
    )
    state_path: Path = Field(
        default=Path("signer-state.sqlite3"), description="SQLite file for policy state and the audit log."
    )

    policy_path: Path | None = Field(
        default=None, description="YAML or JSON signing policy; without one every request is denied."
    )
    workers: int = Field(default=2, ge=1, le=64, description="Signing worker processes, each with a PKCS#11 session.")

    def prod_violations(self) -> list[tuple[str, str]]:
        """Production also refuses SoftHSM and an empty or demo PIN."""
        found = super().prod_violations()
        if "softhsm" in self.pkcs11_module.name.lower():
            found.append(("pkcs11_module", "prod refuses SoftHSM; point it at your HSM vendor's PKCS#11 library"))
        pin = self.pin.get_secret_value()
        if not pin or pin.startswith(DEMO_SECRET_PREFIX):
            found.append(("pin", "prod refuses an empty or demo PIN; set the token's real user PIN"))
        return found

"""Development certificates: a throwaway mesh CA and one certificate per role, for local mutual TLS.

Generated at setup (`stablegate mesh certs`, `stablegate up`) or in tests, never committed. Production brings
its own CA (cert-manager, a vault); the prod profile refuses this one by its name.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from service_runtime.config import DEV_CA_NAME
from service_runtime.mesh import DEFAULT_TRUST_DOMAIN, MeshFiles, Role, spiffe_id

VALIDITY = datetime.timedelta(days=30)


@dataclass(frozen=True)
class CertPair:
    """PEM files of one certificate and its private key."""

    cert_file: Path
    key_file: Path


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


class DevCertificateAuthority:
    """A local CA that issues mesh certificates (ECDSA P-256), one per role, each naming its role."""

    def __init__(self, directory: Path, name: str = DEV_CA_NAME, trust_domain: str = DEFAULT_TRUST_DOMAIN) -> None:
        self.directory = directory
        self.trust_domain = trust_domain
        directory.mkdir(parents=True, exist_ok=True)
        self._key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self._cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(self._key, hashes.SHA256())
        )
        self.cert_file = directory / "ca.pem"
        self.cert_file.write_bytes(self._cert.public_bytes(serialization.Encoding.PEM))

    def issue(
        self, role: str, *, file_name: str | None = None, spiffe: str | None = None, hosts: tuple[str, ...] = ()
    ) -> CertPair:
        """A certificate for one mesh role, usable to serve and to call (both key usages).

        It names `spiffe://<trust domain>/role/<role>` (or `spiffe`, to make a deliberately odd one in tests)
        and covers localhost, 127.0.0.1 and `hosts`, so a process can serve on loopback with it.
        """
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        names: list[x509.GeneralName] = [x509.DNSName(h) for h in ("localhost", *hosts)]
        names.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
        names.append(x509.UniformResourceIdentifier(spiffe or spiffe_id(self.trust_domain, role)))
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, role)]))
            .issuer_name(self._cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                critical=False,
            )
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .sign(self._key, hashes.SHA256())
        )
        stem = file_name or role
        pair = CertPair(self.directory / f"{stem}.pem", self.directory / f"{stem}.key")
        pair.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_private(pair.key_file, _key_pem(key))
        return pair


class DevMesh:
    """A dev CA and one certificate per mesh role, written to a directory (made at setup, never committed)."""

    def __init__(self, directory: Path, trust_domain: str = DEFAULT_TRUST_DOMAIN, ca_name: str = DEV_CA_NAME) -> None:
        self.ca = DevCertificateAuthority(directory, name=ca_name, trust_domain=trust_domain)
        self.trust_domain = trust_domain
        self._files = {role.value: self.ca.issue(role.value) for role in Role}

    @property
    def roles(self) -> tuple[str, ...]:
        """Every role this mesh has a certificate for."""
        return tuple(self._files)

    @property
    def ca_file(self) -> Path:
        """The CA bundle every mesh process trusts."""
        return self.ca.cert_file

    def files(self, role: str) -> MeshFiles:
        """The TLS files of a role."""
        pair = self._files[role]
        return MeshFiles(pair.cert_file, pair.key_file, self.ca.cert_file, self.trust_domain)


def mesh_files_in(directory: Path, role: str, trust_domain: str = DEFAULT_TRUST_DOMAIN) -> MeshFiles:
    """A role's files in a directory DevMesh wrote (e.g. `.stablegate/pki` of `stablegate up`)."""
    return MeshFiles(directory / f"{role}.pem", directory / f"{role}.key", directory / "ca.pem", trust_domain)

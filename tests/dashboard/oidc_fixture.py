"""A real OpenID Connect provider for the dashboard's tests, and a way to sign in at it without a browser.

`oidc_provider` (session scope; import `oidc_provider_fixture` into a test module to use it) runs npm
`oidc-provider` (tests/dashboard/oidc_provider/provider.mjs) on a free loopback port with four clients
(`dashboard`: client_secret_basic and RS256 ID tokens; `dashboard-post`: client_secret_post; `dashboard-jwt`:
private_key_jwt and ES256; `dashboard-public`: no client authentication) and these test users:

- `alice`: `stablegate_roles: ["stablegate-admin"]`, groups ["ops-admins"]
- `rita`: `stablegate_roles: ["stablegate-admin-readonly"]`, groups ["ops-viewers"]
- `bob`: `stablegate_roles: ["stablegate-approver"]` (may relay approvals, change nothing else)
- `mallory`: `stablegate_roles: ["merchant-support"]` (a value the dashboard does not map)
- `nora`: no role claim at all

A test whose dashboard has its own callback URL starts its own provider with
`start_oidc_provider(base, [callback_url])` (the URL must be registered before the provider starts) and appends
its process to `process_registry`. `LocalIssuer` is a second, minimal "provider" (discovery and JWK Set only) whose keys
the test controls, for tokens no honest provider would issue (expired, wrong audience, rotated keys).
"""

from __future__ import annotations

import json
import re
import secrets
import time
import urllib.parse
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from dashboard import jws
from dashboard.oidc import OidcSettings
from gateway import parts

PROVIDER_SCRIPT = Path(__file__).parent / "oidc_provider" / "provider.mjs"
REDIRECT_URI = "http://127.0.0.1:9/admin/oidc/callback"
"""The callback the fixture's clients register; nothing listens there: the tests stop at the redirect."""
SIGNED_OUT_URI = "http://127.0.0.1:9/admin/signed-out"
"""Where the provider may send the browser after RP-initiated logout."""
SCOPES = ("openid", "email", "profile", "stablegate")


@dataclass(frozen=True)
class TestUser:
    """A user of the test provider."""

    login: str
    password: str
    claims: dict[str, Any]


@dataclass(frozen=True)
class ClientKey:
    """A private_key_jwt client's key: the PEM file the dashboard reads and the key's id."""

    pem_file: Path
    kid: str


@dataclass
class OidcTestProvider:
    """A running oidc-provider with its clients, users and keys."""

    issuer: str
    port: int
    process: parts.RunningProcess
    base: Path
    users: dict[str, TestUser]
    client_secrets: dict[str, str]
    client_key: ClientKey
    redirect_uri: str = REDIRECT_URI

    def settings(self, client: str = "dashboard", **overrides: Any) -> OidcSettings:
        """Dashboard OIDC settings for one of the provider's clients (see the module docstring)."""
        values: dict[str, Any] = {
            "issuer": self.issuer,
            "client_id": client,
            "redirect_uri": self.redirect_uri,
            "scopes": SCOPES,
            "id_token_algorithms": ("RS256", "ES256"),
        }
        if client in self.client_secrets:
            secret_file = self.base / f"{client}.secret"
            secret_file.write_text(self.client_secrets[client] + "\n")
            secret_file.chmod(0o600)
            values["client_secret_file"] = secret_file
            values["client_auth_method"] = "client_secret_post" if client == "dashboard-post" else "client_secret_basic"
        elif client == "dashboard-jwt":
            values |= {
                "client_auth_method": "private_key_jwt",
                "private_key_file": self.client_key.pem_file,
                "private_key_id": self.client_key.kid,
            }
        else:
            values["client_auth_method"] = "none"
        return OidcSettings(**(values | overrides))

    def dashboard_env(self, redirect_uri: str) -> dict[str, str]:
        """The dashboard service's environment for signing admins in with the `dashboard` client at `redirect_uri`."""
        oidc = self.settings("dashboard")
        assert oidc.client_secret_file is not None
        return {
            "STABLEGATE_DASHBOARD_OIDC__ISSUER": oidc.issuer,
            "STABLEGATE_DASHBOARD_OIDC__CLIENT_ID": oidc.client_id,
            "STABLEGATE_DASHBOARD_OIDC__CLIENT_SECRET_FILE": str(oidc.client_secret_file),
            "STABLEGATE_DASHBOARD_OIDC__REDIRECT_URI": redirect_uri,
            "STABLEGATE_DASHBOARD_OIDC__SCOPES": json.dumps(list(oidc.scopes)),
        }


def _rsa_jwk(kid: str) -> dict[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    n = key.private_numbers()
    enc = jws.b64url_encode

    def b(v: int) -> str:
        return enc(v.to_bytes((v.bit_length() + 7) // 8, "big"))

    return {
        **jws.public_jwk(key, kid=kid, alg="RS256"),
        "d": b(n.d),
        "p": b(n.p),
        "q": b(n.q),
        "dp": b(n.dmp1),
        "dq": b(n.dmq1),
        "qi": b(n.iqmp),
    }


def _ec_jwk(kid: str) -> dict[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    return {
        **jws.public_jwk(key, kid=kid, alg="ES256"),
        "d": jws.b64url_encode(key.private_numbers().private_value.to_bytes(32, "big")),
    }


def default_users() -> dict[str, TestUser]:
    """The test users, each with a fresh random password."""

    def user(login: str, **claims: Any) -> TestUser:
        base = {"email": f"{login}@example.test", "email_verified": True, "name": login.title()}
        return TestUser(login, secrets.token_urlsafe(12), base | claims)

    return {
        u.login: u
        for u in (
            user("alice", stablegate_roles=["stablegate-admin"], groups=["ops-admins"]),
            user("rita", stablegate_roles=["stablegate-admin-readonly"], groups=["ops-viewers"]),
            user("bob", stablegate_roles=["stablegate-approver"], groups=["ops-approvers"]),
            user("mallory", stablegate_roles=["merchant-support"], groups=["support"]),
            user("nora"),
        )
    }


def start_oidc_provider(base: Path, redirect_uris: list[str]) -> OidcTestProvider:
    """Start oidc-provider on a free loopback port with the test clients and users; the caller stops it."""
    node = parts.which("node", "install Node.js 20 (the machine image has it)")
    if not (parts.REPO_ROOT / "node_modules" / "oidc-provider").is_dir():
        raise parts.PartError("oidc-provider is not installed: run ./dev setup (npm install)")
    base.mkdir(parents=True, exist_ok=True)
    port = parts.free_port()
    issuer = f"http://127.0.0.1:{port}"
    users = default_users()
    client_secrets = {"dashboard": secrets.token_urlsafe(32), "dashboard-post": secrets.token_urlsafe(32)}
    client_key = ec.generate_private_key(ec.SECP256R1())
    pem_file = base / "dashboard-jwt.key"
    pem_file.write_bytes(
        client_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    pem_file.chmod(0o600)
    common = {
        "redirect_uris": redirect_uris,
        "post_logout_redirect_uris": [SIGNED_OUT_URI],
        "grant_types": ["authorization_code"],
        "response_types": ["code"],
    }
    config = {
        "issuer": issuer,
        "port": port,
        "cookieKeys": [secrets.token_urlsafe(32)],
        "jwks": {"keys": [_rsa_jwk("rsa-1"), _ec_jwk("ec-1")]},
        "clients": [
            {**common, "client_id": "dashboard", "client_secret": client_secrets["dashboard"]},
            {
                **common,
                "client_id": "dashboard-post",
                "client_secret": client_secrets["dashboard-post"],
                "token_endpoint_auth_method": "client_secret_post",
            },
            {
                **common,
                "client_id": "dashboard-jwt",
                "token_endpoint_auth_method": "private_key_jwt",
                "token_endpoint_auth_signing_alg": "ES256",
                "id_token_signed_response_alg": "ES256",
                "jwks": {"keys": [jws.public_jwk(client_key, kid="dashboard-jwt-1", alg="ES256")]},
            },
            {**common, "client_id": "dashboard-public", "token_endpoint_auth_method": "none"},
        ],
        "users": {u.login: {"password": u.password, "claims": u.claims} for u in users.values()},
    }
    config_file = base / "provider.json"
    config_file.write_text(json.dumps(config))
    config_file.chmod(0o600)

    def ready() -> bool:
        try:
            status, _ = parts.http_get(f"{issuer}/.well-known/openid-configuration", timeout=0.5)
        except OSError:
            return False
        return status == 200

    spec = parts.ProcessSpec(
        name="oidc-provider",
        argv=[node, str(PROVIDER_SCRIPT), str(config_file)],
        ready=ready,
        port=port,
        cwd=parts.REPO_ROOT,
        log_path=base / "provider.log",
    )
    proc = parts.start(spec)
    return OidcTestProvider(
        issuer=issuer,
        port=port,
        process=proc,
        base=base,
        users=users,
        client_secrets=client_secrets,
        client_key=ClientKey(pem_file, "dashboard-jwt-1"),
        redirect_uri=redirect_uris[0],
    )


@pytest.fixture(scope="session", name="oidc_provider")
def oidc_provider_fixture(
    tmp_path_factory: pytest.TempPathFactory, process_registry: list[parts.RunningProcess]
) -> Iterator[OidcTestProvider]:
    """The session's oidc-provider (see the module docstring for its clients and users)."""
    provider = start_oidc_provider(tmp_path_factory.mktemp("oidc-provider"), [REDIRECT_URI])
    process_registry.append(provider.process)
    yield provider
    provider.process.stop()


# --- signing in without a browser -------------------------------------------------------------------------


class ProviderLoginFailed(AssertionError):
    """The provider's login page did not lead back to the redirect URI."""


_FORM_ACTION = re.compile(r'<form method="post" action="(/interaction/[^"/]+)/login">')


async def sign_in_at_provider(
    authorization_url: str, login: str, password: str, redirect_uri: str = REDIRECT_URI, *, cancel: bool = False
) -> dict[str, str]:
    """Follow the authorization URL as a browser would, post the login form, return the callback's query."""
    jar = aiohttp.CookieJar(unsafe=True)  # cookies for 127.0.0.1
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        url = authorization_url
        for _ in range(12):
            async with http.get(url, allow_redirects=False) as resp:
                status, location, body = resp.status, resp.headers.get("Location"), await resp.text()
            if status in (302, 303) and location:
                url = urllib.parse.urljoin(url, location)
                if url.startswith(redirect_uri):
                    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
                continue
            match = _FORM_ACTION.search(body)
            if status != 200 or match is None:
                raise ProviderLoginFailed(f"unexpected page at {url}: HTTP {status}")
            target = urllib.parse.urljoin(url, match.group(1) + ("/abort" if cancel else "/login"))
            form = {} if cancel else {"login": login, "password": password}
            async with http.post(target, data=form, allow_redirects=False) as resp:
                status, location = resp.status, resp.headers.get("Location")
            if status != 303 or not location:
                raise ProviderLoginFailed(f"login refused by the provider: HTTP {status}")
            url = urllib.parse.urljoin(target, location)
            if url.startswith(redirect_uri):
                return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
        raise ProviderLoginFailed("too many redirects")


# --- a provider whose keys the test controls --------------------------------------------------------------


@dataclass
class LocalIssuer:
    """Discovery and a JWK Set on loopback, served from keys the test holds; it signs whatever it is asked to."""

    issuer: str
    keys: dict[str, jws.PrivateKey] = field(default_factory=dict)
    published: list[str] = field(default_factory=list)
    jwks_fetches: int = 0
    discovery_overrides: dict[str, Any] = field(default_factory=dict)

    def add_key(self, kid: str, kind: str = "RSA") -> None:
        """Create a key and publish it."""
        self.keys[kid] = (
            rsa.generate_private_key(public_exponent=65537, key_size=2048)
            if kind == "RSA"
            else ec.generate_private_key(ec.SECP256R1())
        )
        self.published.append(kid)

    def sign(self, claims: dict[str, Any], kid: str, alg: str | None = None) -> str:
        """A JWT of the claims signed with one of the keys."""
        key = self.keys[kid]
        return jws.sign_compact(claims, key, alg or ("RS256" if isinstance(key, rsa.RSAPrivateKey) else "ES256"), kid)

    def claims(self, client_id: str, nonce: str, /, **overrides: Any) -> dict[str, Any]:
        """Claims of a valid ID token for the client, changed by `overrides` (None removes a claim)."""
        now = int(time.time())
        base: dict[str, Any] = {
            "iss": self.issuer,
            "sub": "local-user",
            "aud": client_id,
            "iat": now,
            "exp": now + 300,
            "nonce": nonce,
            "stablegate_roles": ["stablegate-admin"],
        }
        base.update(overrides)
        return {k: v for k, v in base.items() if v is not None}

    def app(self) -> web.Application:
        """The aiohttp application serving discovery and the JWK Set."""

        async def discovery(request: web.Request) -> web.Response:
            return web.json_response(
                {
                    "issuer": self.issuer,
                    "authorization_endpoint": f"{self.issuer}/auth",
                    "token_endpoint": f"{self.issuer}/token",
                    "jwks_uri": f"{self.issuer}/jwks",
                    "code_challenge_methods_supported": ["S256"],
                }
                | self.discovery_overrides
            )

        async def jwks_doc(request: web.Request) -> web.Response:
            self.jwks_fetches += 1
            keys = [jws.public_jwk(self.keys[kid], kid=kid) for kid in self.published]
            return web.json_response({"keys": keys})

        app = web.Application()
        app.router.add_get("/.well-known/openid-configuration", discovery)
        app.router.add_get("/jwks", jwks_doc)
        return app


@pytest_asyncio.fixture(name="local_issuer")
async def local_issuer_fixture() -> AsyncIterator[LocalIssuer]:
    """A LocalIssuer with one RSA key `k1`, served on a free loopback port for the test."""
    port = parts.free_port()
    issuer = LocalIssuer(f"http://127.0.0.1:{port}")
    issuer.add_key("k1")
    runner = web.AppRunner(issuer.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield issuer
    finally:
        await runner.cleanup()

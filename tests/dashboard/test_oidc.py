"""Admin sign-in over OpenID Connect (code flow + PKCE) against a real provider, npm `oidc-provider`.

Flows run against the session's provider (tests/dashboard/oidc_fixture.py); tokens no honest provider would
issue (expired, for another audience, signed with rotated keys) come from a `LocalIssuer` whose keys the test
holds, served over HTTP like a provider's JWK Set.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import re
import time
import urllib.parse
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from dashboard import jws, oidc_errors
from dashboard.oidc import (
    AdminRole,
    AuthorizationDenied,
    CodeExchangeFailed,
    InvalidSignature,
    LoginExpired,
    MalformedToken,
    NonceMismatch,
    NotAnAdmin,
    OidcClient,
    OidcLogin,
    OidcSettings,
    ProviderMisconfigured,
    ProviderUnreachable,
    StaleAuthentication,
    StateMismatch,
    TokenBindingMismatch,
    TokenExpired,
    TokenNotYetValid,
    UnknownSigningKey,
    UnsupportedAlgorithm,
    WrongAudience,
    WrongIssuer,
)
from gateway import parts
from tests.dashboard.oidc_fixture import (  # noqa: F401 - fixtures
    SIGNED_OUT_URI,
    LocalIssuer,
    OidcTestProvider,
    local_issuer_fixture,
    oidc_provider_fixture,
    sign_in_at_provider,
)

pytestmark = pytest.mark.timeout(60)


_OPENED: list[OidcClient] = []


def client_for(settings: OidcSettings) -> OidcClient:
    """An OidcClient closed at the end of the test."""
    client = OidcClient(settings)
    _OPENED.append(client)
    return client


@pytest.fixture(autouse=True)
async def _close_clients() -> AsyncIterator[None]:
    yield
    while _OPENED:
        await _OPENED.pop().close()


async def sign_in(
    provider: OidcTestProvider, user: str, client: str = "dashboard", **overrides: Any
) -> tuple[OidcLogin, dict[str, Any], dict[str, str]]:
    """Start a sign-in, log the user in at the provider; returns (login, session, callback query)."""
    login = OidcLogin(client_for(provider.settings(client, **overrides)))
    session: dict[str, Any] = {}
    url = await login.start(session)
    query = await sign_in_at_provider(url, user, provider.users[user].password)
    return login, session, query


def tamper(session: dict[str, Any], state: str, **changes: str) -> None:
    """Change what the session remembers of a pending sign-in (as a corrupted or forged session store would)."""
    pending = OidcLogin.pending(session)
    pending[state].update(changes)
    session[OidcLogin.SESSION_KEY] = json.dumps(pending)


# --- the flow against the real provider -------------------------------------------------------------------


@pytest.mark.parametrize("client", ["dashboard", "dashboard-post", "dashboard-jwt", "dashboard-public"])
async def test_admin_signs_in_with_code_and_pkce_and_gets_the_admin_role(
    oidc_provider: OidcTestProvider, client: str
) -> None:
    # dashboard: client_secret_basic, RS256 ID tokens; dashboard-post: client_secret_post; dashboard-jwt:
    # private_key_jwt, ES256 ID tokens; dashboard-public: no client authentication, PKCE alone binds the code.
    login = OidcLogin(client_for(oidc_provider.settings(client)))
    session: dict[str, Any] = {}
    url = await login.start(session)
    params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    assert url.startswith(f"{oidc_provider.issuer}/auth?")
    assert params["code_challenge_method"] == "S256"
    assert params["response_type"] == "code"
    (pending,) = OidcLogin.pending(session).values()
    assert isinstance(session[OidcLogin.SESSION_KEY], str)  # one JSON string: fits any session store
    assert params["nonce"] == pending["nonce"]
    assert pending["verifier"] not in url  # the verifier stays on the server

    query = await sign_in_at_provider(url, "alice", oidc_provider.users["alice"].password)
    identity = await login.finish(session, query)

    assert identity.subject == "alice"
    assert identity.issuer == oidc_provider.issuer
    assert identity.roles == {AdminRole.ADMIN}
    assert identity.may_change
    assert identity.email == "alice@example.test"
    assert OidcLogin.pending(session) == {}  # the finished sign-in is forgotten


async def test_readonly_admin_gets_the_readonly_role(oidc_provider: OidcTestProvider) -> None:
    login, session, query = await sign_in(oidc_provider, "rita", "dashboard-jwt")
    identity = await login.finish(session, query)
    assert identity.roles == {AdminRole.ADMIN_READONLY}
    assert identity.role is AdminRole.ADMIN_READONLY
    assert not identity.may_change


async def test_id_token_algorithm_outside_the_allow_list_is_refused(oidc_provider: OidcTestProvider) -> None:
    # dashboard-jwt's ID tokens are ES256: a dashboard configured for RS256 only refuses them.
    login, session, query = await sign_in(oidc_provider, "alice", "dashboard-jwt", id_token_algorithms=("RS256",))
    with pytest.raises(UnsupportedAlgorithm):
        await login.finish(session, query)


@pytest.mark.parametrize("user", ["nora", "mallory"])
async def test_user_without_an_admin_claim_is_refused(oidc_provider: OidcTestProvider, user: str) -> None:
    # nora has no role claim at all; mallory's holds only a value the mapping does not know.
    login, session, query = await sign_in(oidc_provider, user)
    with pytest.raises(NotAnAdmin, match="'stablegate_roles' claim grants none of") as exc:
        await login.finish(session, query)
    assert exc.value.reason == "NOT_AN_ADMIN"


async def test_roles_map_from_a_configured_groups_claim(oidc_provider: OidcTestProvider) -> None:
    mapping = {"ops-admins": AdminRole.ADMIN, "ops-viewers": AdminRole.ADMIN_READONLY}
    for user, role in (("alice", AdminRole.ADMIN), ("rita", AdminRole.ADMIN_READONLY)):
        login, session, query = await sign_in(oidc_provider, user, role_claim="groups", role_mapping=mapping)
        assert (await login.finish(session, query)).roles == {role}
    login, session, query = await sign_in(oidc_provider, "mallory", role_claim="groups", role_mapping=mapping)
    with pytest.raises(NotAnAdmin):
        await login.finish(session, query)


async def test_role_claim_only_at_userinfo_is_read_from_there(oidc_provider: OidcTestProvider) -> None:
    # oidc-provider (conformIdTokenClaims) puts scope claims in userinfo, not in a code flow's ID token: with
    # userinfo switched off, the same admin has no role, which proves the userinfo path is what granted it.
    login, session, query = await sign_in(oidc_provider, "alice", use_userinfo=False)
    with pytest.raises(NotAnAdmin):
        await login.finish(session, query)


async def test_tampered_state_is_refused_and_the_real_sign_in_still_works(oidc_provider: OidcTestProvider) -> None:
    login, session, query = await sign_in(oidc_provider, "alice")
    before = copy.deepcopy(session)
    for state in (query["state"][:-1] + ("A" if query["state"][-1] != "A" else "B"), ""):
        with pytest.raises(StateMismatch) as exc:
            await login.finish(session, {**query, "state": state})
        assert exc.value.reason == "STATE_MISMATCH"
    with pytest.raises(StateMismatch):
        await login.finish(session, {k: v for k, v in query.items() if k != "state"})
    assert session == before
    assert (await login.finish(session, query)).subject == "alice"


async def test_a_callback_works_once(oidc_provider: OidcTestProvider) -> None:
    login, session, query = await sign_in(oidc_provider, "alice")
    await login.finish(session, query)
    with pytest.raises(StateMismatch):
        await login.finish(session, query)


async def test_a_callback_from_another_browser_session_is_refused(oidc_provider: OidcTestProvider) -> None:
    # Login CSRF: an attacker's own callback URL fed to a victim's browser names no sign-in of the victim's.
    login, _attacker_session, query = await sign_in(oidc_provider, "mallory")
    victim_session: dict[str, Any] = {}
    await login.start(victim_session)
    with pytest.raises(StateMismatch):
        await login.finish(victim_session, query)


async def test_replayed_code_is_refused_by_the_provider(oidc_provider: OidcTestProvider) -> None:
    login, session, query = await sign_in(oidc_provider, "alice")
    copy_of_session = copy.deepcopy(session)  # gets past our own one-use state, to reach the provider
    await login.finish(session, query)
    with pytest.raises(CodeExchangeFailed) as exc:
        await login.finish(copy_of_session, query)
    assert exc.value.error == "invalid_grant"


async def test_wrong_pkce_verifier_is_refused_by_the_provider(oidc_provider: OidcTestProvider) -> None:
    login, session, query = await sign_in(oidc_provider, "alice")
    tamper(session, query["state"], verifier="x" * 64)
    with pytest.raises(CodeExchangeFailed) as exc:
        await login.finish(session, query)
    assert exc.value.error == "invalid_grant"


async def test_id_token_with_another_sign_ins_nonce_is_refused(oidc_provider: OidcTestProvider) -> None:
    login, session, query = await sign_in(oidc_provider, "alice")
    tamper(session, query["state"], nonce="another-sign-in")
    with pytest.raises(NonceMismatch) as exc:
        await login.finish(session, query)
    assert exc.value.reason == "NONCE_MISMATCH"


async def test_wrong_client_secret_is_refused_by_the_provider(oidc_provider: OidcTestProvider, tmp_path: Path) -> None:
    wrong = tmp_path / "secret"
    wrong.write_text("not-the-secret")
    login, session, query = await sign_in(oidc_provider, "alice", client_secret_file=wrong)
    with pytest.raises(CodeExchangeFailed) as exc:
        await login.finish(session, query)
    assert exc.value.error == "invalid_client"


async def test_sign_in_that_took_too_long_is_refused(oidc_provider: OidcTestProvider) -> None:
    settings = oidc_provider.settings(login_timeout_seconds=60)
    now = [time.time()]
    login = OidcLogin(client_for(settings), clock=lambda: now[0])
    session: dict[str, Any] = {}
    url = await login.start(session)
    query = await sign_in_at_provider(url, "alice", oidc_provider.users["alice"].password)
    now[0] += 61
    with pytest.raises(LoginExpired):
        await login.finish(session, query)


async def test_fresh_sign_in_with_max_age_reports_auth_time_and_refuses_a_stale_one(
    oidc_provider: OidcTestProvider,
) -> None:
    # Step-up before a sensitive action: max_age asks the provider for a recent login, and auth_time proves it.
    now = [time.time()]
    login = OidcLogin(client_for(oidc_provider.settings(leeway_seconds=10)), clock=lambda: now[0])
    session: dict[str, Any] = {}
    query = await sign_in_at_provider(
        await login.start(session, max_age="300"), "alice", oidc_provider.users["alice"].password
    )
    identity = await login.finish(session, query)
    assert identity.auth_time is not None
    assert abs(identity.auth_time - now[0]) < 30

    query = await sign_in_at_provider(
        await login.start(session, max_age="300"), "alice", oidc_provider.users["alice"].password
    )
    now[0] += 400  # the callback arrives when that login is older than max_age allows
    with pytest.raises(StaleAuthentication):
        await login.finish(session, query)
    with pytest.raises(ValueError, match="max_age"):
        await login.start(session, max_age="-1")


async def test_user_cancelling_at_the_provider_is_a_denied_sign_in(oidc_provider: OidcTestProvider) -> None:
    login = OidcLogin(client_for(oidc_provider.settings()))
    session: dict[str, Any] = {}
    url = await login.start(session)
    query = await sign_in_at_provider(url, "alice", "", cancel=True)
    with pytest.raises(AuthorizationDenied) as exc:
        await login.finish(session, query)
    assert exc.value.error == "access_denied"


async def test_response_naming_another_issuer_is_refused(oidc_provider: OidcTestProvider) -> None:
    # RFC 9207 (mix-up attacks): the provider announces the iss parameter, so it must be there and match.
    login, session, query = await sign_in(oidc_provider, "alice")
    with pytest.raises(WrongIssuer):
        await login.finish(copy.deepcopy(session), {**query, "iss": "https://evil.example"})
    with pytest.raises(WrongIssuer):
        await login.finish(session, {k: v for k, v in query.items() if k != "iss"})


async def test_unreachable_provider_is_a_typed_error() -> None:
    settings = OidcSettings(
        issuer=f"http://127.0.0.1:{parts.free_port()}",
        client_id="dashboard",
        client_secret="s3cret-value",  # type: ignore[arg-type]
        redirect_uri="http://127.0.0.1:9/cb",
        http_timeout_seconds=2,
    )
    async with OidcClient(settings) as client:
        with pytest.raises(ProviderUnreachable) as exc:
            await OidcLogin(client).start({})
    assert exc.value.reason == "PROVIDER_UNREACHABLE"


async def test_discovery_naming_another_issuer_is_refused(oidc_provider: OidcTestProvider) -> None:
    # The configured issuer must be exactly the provider's (here it differs by a trailing slash).
    async with OidcClient(oidc_provider.settings(issuer=oidc_provider.issuer + "/")) as client:
        with pytest.raises(ProviderMisconfigured, match="another issuer"):
            await client.metadata()


async def test_extra_authorization_parameters_cannot_override_the_flow(oidc_provider: OidcTestProvider) -> None:
    login = OidcLogin(client_for(oidc_provider.settings()))
    session: dict[str, Any] = {}
    url = await login.start(session, prompt="login", login_hint="alice")
    params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    assert (params["prompt"], params["login_hint"]) == ("login", "alice")
    for name in ("state", "nonce", "code_challenge_method", "redirect_uri"):
        with pytest.raises(ValueError, match="set by the flow itself"):
            await login.start(session, **{name: "attacker"})
    assert len(OidcLogin.pending(session)) == 1


async def test_nothing_secret_is_logged(oidc_provider: OidcTestProvider, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    login, session, query = await sign_in(oidc_provider, "alice")
    (pending,) = OidcLogin.pending(session).values()
    copy_session = copy.deepcopy(session)
    await login.finish(session, query)
    with pytest.raises(CodeExchangeFailed) as exc:
        await login.finish(copy_session, query)
    text = caplog.text + str(exc.value)
    for secret in (oidc_provider.client_secrets["dashboard"], query["code"], pending["verifier"], pending["nonce"]):
        assert secret not in text
    assert "admin signed in: sub=alice" in caplog.text


async def test_logout_url_ends_the_session_at_the_provider(oidc_provider: OidcTestProvider) -> None:
    async with OidcClient(oidc_provider.settings()) as client:
        url = await client.logout_url(SIGNED_OUT_URI)
        with pytest.raises(ValueError, match="https"):
            await client.logout_url("http://example.com/out")
    assert url is not None
    assert url.startswith(f"{oidc_provider.issuer}/session/end?")
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        # The provider accepts the client and the registered return address: it asks to confirm the logout.
        assert resp.status == 200
        assert "logout" in (await resp.text()).lower()


# --- ID token checks, with tokens from a key the test holds ----------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"code_challenge_methods_supported": ["plain"]}, "S256"),
        ({"token_endpoint": "http://idp.example.com/token"}, "must use https"),
        ({"jwks_uri": None}, "has no jwks_uri"),
    ],
)
async def test_unusable_discovery_documents_are_refused(
    local_issuer: LocalIssuer, overrides: dict[str, Any], message: str
) -> None:
    local_issuer.discovery_overrides = overrides
    async with OidcClient(local_settings(local_issuer)) as client:
        with pytest.raises(ProviderMisconfigured, match=message):
            await client.metadata()


def local_settings(issuer: LocalIssuer, **overrides: Any) -> OidcSettings:
    values: dict[str, Any] = {
        "issuer": issuer.issuer,
        "client_id": "dashboard",
        "client_secret": "unused",
        "redirect_uri": "http://127.0.0.1:9/cb",
        "jwks_refetch_min_seconds": 0,
    }
    return OidcSettings(**(values | overrides))


async def test_valid_local_token_passes_and_maps_roles_from_the_id_token(local_issuer: LocalIssuer) -> None:
    async with OidcClient(local_settings(local_issuer)) as client:
        claims = await client.validate_id_token(local_issuer.sign(local_issuer.claims("dashboard", "n1"), "k1"), "n1")
    assert claims["sub"] == "local-user"


class FromNow(int):
    """A time claim given as seconds from when the test runs (not from collection, which may be minutes earlier)."""


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"aud": "another-client"}, WrongAudience),
        ({"aud": ["dashboard", "another-client"], "azp": "dashboard"}, WrongAudience),
        ({"azp": "another-client"}, WrongAudience),
        ({"iss": "https://evil.example"}, WrongIssuer),
        ({"exp": FromNow(-61)}, TokenExpired),
        ({"iat": FromNow(120)}, TokenNotYetValid),
        ({"nbf": FromNow(120)}, TokenNotYetValid),
        ({"nonce": "another"}, NonceMismatch),
        ({"nonce": None}, NonceMismatch),
        ({"exp": None}, MalformedToken),
        ({"sub": ""}, MalformedToken),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else "-".join(v),
)
async def test_bad_id_tokens_are_refused(
    local_issuer: LocalIssuer, overrides: dict[str, Any], error: type[Exception]
) -> None:
    now = int(time.time())
    overrides = {k: now + v if isinstance(v, FromNow) else v for k, v in overrides.items()}
    token = local_issuer.sign(local_issuer.claims("dashboard", "n1", **overrides), "k1")
    async with OidcClient(local_settings(local_issuer)) as client:
        with pytest.raises(error):
            await client.validate_id_token(token, "n1")


async def test_expiry_within_the_leeway_is_accepted(local_issuer: LocalIssuer) -> None:
    token = local_issuer.sign(local_issuer.claims("dashboard", "n1", exp=int(time.time()) - 30), "k1")
    async with OidcClient(local_settings(local_issuer, leeway_seconds=60)) as client:
        await client.validate_id_token(token, "n1")
    async with OidcClient(local_settings(local_issuer, leeway_seconds=0)) as client:
        with pytest.raises(TokenExpired):
            await client.validate_id_token(token, "n1")


async def test_trusted_extra_audience_is_accepted_with_azp(local_issuer: LocalIssuer) -> None:
    claims = local_issuer.claims("dashboard", "n1", aud=["dashboard", "api"], azp="dashboard")
    async with OidcClient(local_settings(local_issuer, trusted_audiences=("api",))) as client:
        await client.validate_id_token(local_issuer.sign(claims, "k1"), "n1")


async def test_tampered_payload_fails_the_signature(local_issuer: LocalIssuer) -> None:
    header, _payload, signature = local_issuer.sign(local_issuer.claims("dashboard", "n1"), "k1").split(".")
    forged = jws.b64url_encode(json.dumps(local_issuer.claims("dashboard", "n1", sub="root")).encode())
    async with OidcClient(local_settings(local_issuer)) as client:
        with pytest.raises(InvalidSignature):
            await client.validate_id_token(f"{header}.{forged}.{signature}", "n1")


async def test_alg_none_and_hmac_tokens_are_refused(local_issuer: LocalIssuer) -> None:
    # Algorithm confusion: an HS256 token "signed" with the public key, and an unsigned one.
    payload = jws.b64url_encode(json.dumps(local_issuer.claims("dashboard", "n1")).encode())
    async with OidcClient(local_settings(local_issuer)) as client:
        for alg in ("none", "HS256"):
            header = jws.b64url_encode(json.dumps({"alg": alg, "kid": "k1"}).encode())
            with pytest.raises(UnsupportedAlgorithm):
                await client.validate_id_token(f"{header}.{payload}.", "n1")
        # ES256 is allowed by default, but k1 is an RSA key: no key fits, whatever the signature.
        header = jws.b64url_encode(json.dumps({"alg": "ES256", "kid": "k1"}).encode())
        with pytest.raises(UnknownSigningKey):
            await client.validate_id_token(f"{header}.{payload}.{jws.b64url_encode(b'x' * 64)}", "n1")


async def test_malformed_tokens_are_refused(local_issuer: LocalIssuer) -> None:
    async with OidcClient(local_settings(local_issuer)) as client:
        for token in ("", "a.b", "a.b.c.d.e", "!!.??.**", "e30.W10.", "x" * 20000):
            with pytest.raises(MalformedToken):
                await client.validate_id_token(token, "n1")


async def test_at_hash_binds_the_access_token(local_issuer: LocalIssuer) -> None:
    token = local_issuer.sign(local_issuer.claims("dashboard", "n1", at_hash="AAAAAAAAAAAAAAAAAAAAAA"), "k1")
    async with OidcClient(local_settings(local_issuer)) as client:
        with pytest.raises(TokenBindingMismatch):
            await client.validate_id_token(token, "n1", access_token="the-access-token")


async def test_key_rotation_refetches_the_jwks_once_per_unknown_key(local_issuer: LocalIssuer) -> None:
    async with OidcClient(local_settings(local_issuer)) as client:
        await client.validate_id_token(local_issuer.sign(local_issuer.claims("dashboard", "n"), "k1"), "n")
        assert local_issuer.jwks_fetches == 1
        # The provider rotates: a new EC key, the old one withdrawn.
        local_issuer.add_key("k2", kind="EC")
        local_issuer.published.remove("k1")
        await client.validate_id_token(local_issuer.sign(local_issuer.claims("dashboard", "n"), "k2"), "n")
        assert local_issuer.jwks_fetches == 2
        await client.validate_id_token(local_issuer.sign(local_issuer.claims("dashboard", "n"), "k2"), "n")
        assert local_issuer.jwks_fetches == 2  # cached
        # A key the provider never published: refetched, still unknown, refused.
        local_issuer.add_key("k3")
        local_issuer.published.remove("k3")
        with pytest.raises(UnknownSigningKey) as exc:
            await client.validate_id_token(local_issuer.sign(local_issuer.claims("dashboard", "n"), "k3"), "n")
        assert exc.value.reason == "UNKNOWN_KEY"
        assert local_issuer.jwks_fetches == 3


async def test_concurrent_tokens_from_a_rotated_key_refetch_the_jwks_once(local_issuer: LocalIssuer) -> None:
    async with OidcClient(local_settings(local_issuer)) as client:
        await client.validate_id_token(local_issuer.sign(local_issuer.claims("dashboard", "n"), "k1"), "n")
        local_issuer.add_key("k2")
        tokens = [local_issuer.sign(local_issuer.claims("dashboard", "n", sub=f"u{i}"), "k2") for i in range(5)]
        results = await asyncio.gather(*(client.validate_id_token(t, "n") for t in tokens))
    assert [r["sub"] for r in results] == [f"u{i}" for i in range(5)]
    assert local_issuer.jwks_fetches == 2


async def test_unknown_kids_cannot_make_the_client_hammer_the_provider(local_issuer: LocalIssuer) -> None:
    local_issuer.add_key("forged")
    local_issuer.published.remove("forged")
    async with OidcClient(local_settings(local_issuer, jwks_refetch_min_seconds=3600)) as client:
        for _ in range(5):
            with pytest.raises(UnknownSigningKey):
                await client.validate_id_token(local_issuer.sign(local_issuer.claims("dashboard", "n"), "forged"), "n")
    assert local_issuer.jwks_fetches == 1


# --- settings ---------------------------------------------------------------------------------------------


class DashboardLikeSettings(BaseSettings):
    """How the dashboard nests these settings (STABLEGATE_DASHBOARD_OIDC__*)."""

    model_config = SettingsConfigDict(env_prefix="STABLEGATE_DASHBOARD_", env_nested_delimiter="__", extra="forbid")
    oidc: OidcSettings


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("from-a-file\n")
    env = {
        "STABLEGATE_DASHBOARD_OIDC__ISSUER": "https://login.example.com/realms/ops",
        "STABLEGATE_DASHBOARD_OIDC__CLIENT_ID": "dashboard",
        "STABLEGATE_DASHBOARD_OIDC__CLIENT_SECRET_FILE": str(secret),
        "STABLEGATE_DASHBOARD_OIDC__REDIRECT_URI": "https://dash.example.com/admin/oidc/callback",
        "STABLEGATE_DASHBOARD_OIDC__ROLE_CLAIM": "realm_access.roles",
        "STABLEGATE_DASHBOARD_OIDC__ROLE_MAPPING": '{"ops": "admin", "audit": "admin-readonly"}',
        "STABLEGATE_DASHBOARD_OIDC__SCOPES": '["openid", "roles"]',
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = DashboardLikeSettings().oidc  # type: ignore[call-arg]
    assert settings.secret() == "from-a-file"
    assert settings.role_mapping == {"ops": AdminRole.ADMIN, "audit": AdminRole.ADMIN_READONLY}
    assert settings.scopes == ("openid", "roles")
    assert "from-a-file" not in repr(settings)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"issuer": "http://login.example.com"}, "must use https"),
        ({"redirect_uri": "http://dash.example.com/cb"}, "must use https"),
        ({"client_secret": ""}, "needs CLIENT_SECRET_FILE"),
        ({"client_auth_method": "private_key_jwt"}, "needs PRIVATE_KEY_FILE"),
        ({"scopes": ("email",)}, "must include openid"),
        ({"id_token_algorithms": ("HS256",)}, "unsupported algorithms"),
        ({"role_mapping": {"ops": "superuser"}}, "role_mapping"),
        ({"role_mapping": {}}, "role_mapping is empty"),
    ],
)
def test_bad_settings_are_refused_with_the_reason(overrides: dict[str, Any], message: str) -> None:
    values: dict[str, Any] = {
        "issuer": "https://login.example.com",
        "client_id": "dashboard",
        "client_secret": "top-secret-value",
        "redirect_uri": "https://dash.example.com/cb",
    }
    with pytest.raises(ValidationError, match=message) as exc:
        OidcSettings(**(values | overrides))
    assert "top-secret-value" not in str(exc.value)


# --- the doc ----------------------------------------------------------------------------------------------


def test_doc_lists_every_refusal_with_its_reason_and_existing_tests() -> None:
    root = Path(__file__).resolve().parents[2]
    doc = (root / "docs" / "dashboard-oidc.md").read_text()
    tests = "".join(p.read_text() for p in (root / "tests" / "dashboard").glob("test_oidc*.py"))
    rows = [line for line in doc.splitlines() if line.startswith("| `")]
    listed = {}
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        for name, reason in zip(re.findall(r"`(\w+)`", cells[0]), re.findall(r"`(\w+)`", cells[1]), strict=False):
            listed[name] = reason
    errors = {
        name: cls
        for name, cls in vars(oidc_errors).items()
        if isinstance(cls, type) and issubclass(cls, oidc_errors.OidcError) and cls.__module__ == oidc_errors.__name__
    }
    leaves = {n: c for n, c in errors.items() if not any(o is not c and issubclass(o, c) for o in errors.values())}
    assert set(leaves) <= set(listed), f"refusals missing from the doc: {set(leaves) - set(listed)}"
    for name, reason in listed.items():
        if name in errors:
            assert errors[name].reason == reason, name
    for test_name in set(re.findall(r"`(test_\w+)`", doc)):
        assert f"def {test_name}(" in tests, f"the doc names {test_name}, which does not exist"

"""The dashboard's parts without a browser: sign-up rules, roles, sealing, settings, sessions on a real Redis,
and the Envoy routes that serve it."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest
import redis.asyncio as redis

from dashboard.config import DashboardSettings
from dashboard.domain import accounts
from dashboard.domain.rbac import GRANTS, Permission, TeamRole, allows
from dashboard.sealing import Sealer, SealingKeyInvalid, new_dev_key, parse_key
from dashboard.sessions import KEY_PREFIX, SessionStore, Stage
from edge.envoy_config import DASHBOARD_PREFIX, envoy_config, write
from gateway import localrun
from service_runtime.devcerts import DevMesh
from service_runtime.mesh import Role
from tests.conftest import RedisServer
from tests.edge.test_edge_envoy_config import envoy_validate


@pytest.mark.parametrize(
    ("email", "problem"),
    [
        ("", "Enter your email address."),
        ("no-at-sign.example", "Enter a valid email address, like name@example.com."),
        ("a@localhost", "Enter a valid email address, like name@example.com."),
        ("a b@shop.example", "Enter a valid email address, like name@example.com."),
        ("x" * 250 + "@a.example", "Enter a valid email address, like name@example.com."),
        ("owner@shop.example", None),
    ],
)
def test_email_rule(email: str, problem: str | None) -> None:
    found = accounts.check_email(accounts.normalize_email(email))
    assert (found.message if found else None) == problem


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("short", "Use at least 12 characters."),
        ("x" * 257, "Use at most 256 characters."),
        ("Password1234", "This password is too easy to guess; choose another."),
        ("abababababababab", "This password is too easy to guess; choose another."),
        ("my owner name is long", "Do not use your email address in your password."),
        ("correct horse battery staple", None),
    ],
)
def test_password_rule(password: str, problem: str | None) -> None:
    found = accounts.check_password(password, "owner@shop.example")
    assert (found.message if found else None) == problem


def test_business_name_key_name_and_code_rules() -> None:
    assert accounts.check_business_name("Acme") is None
    assert accounts.check_business_name("A") is not None
    assert accounts.check_business_name("Bad\x00name") is not None
    assert accounts.check_key_name("") is not None and accounts.check_key_name("backend") is None
    assert accounts.check_totp_code("123456") is None
    assert accounts.check_totp_code("12345") is not None and accounts.check_totp_code("12345a") is not None


def test_roles_grant_only_what_the_table_says() -> None:
    assert allows("owner", Permission.CREATE_API_KEY) and allows("developer", Permission.CREATE_API_KEY)
    assert not allows("finance", Permission.CREATE_API_KEY)
    assert not allows("read_only", Permission.CREATE_API_KEY)
    assert all(allows(role.value, Permission.VIEW_INVOICES) for role in TeamRole)
    assert not allows("admin", Permission.VIEW_INVOICES)  # unknown role: nothing
    assert [r for r in TeamRole if Permission.MANAGE_TEAM in GRANTS[r]] == [TeamRole.OWNER]


def test_sealed_secrets_open_only_with_their_key_and_owner() -> None:
    key = parse_key(new_dev_key())
    sealed = Sealer(key).seal("JBSWY3DPEHPK3PXP", "usr_a")
    assert b"JBSWY3DPEHPK3PXP" not in sealed
    assert Sealer(key).open(sealed, "usr_a") == "JBSWY3DPEHPK3PXP"
    with pytest.raises(ValueError, match="does not open"):
        Sealer(key).open(sealed, "usr_b")
    with pytest.raises(ValueError, match="does not open"):
        Sealer(b"k" * 32).open(sealed, "usr_a")
    with pytest.raises(SealingKeyInvalid):
        parse_key("not base64!")


def settings(mesh_pki: DevMesh, monkeypatch: pytest.MonkeyPatch, **env: str) -> DashboardSettings:
    for name, value in {**mesh_pki.files(Role.DASHBOARD).env("dashboard"), **env}.items():
        monkeypatch.setenv(name, value)
    return DashboardSettings()  # type: ignore[call-arg]


def test_prod_refuses_dev_settings(mesh_pki: DevMesh, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    made = settings(
        mesh_pki,
        monkeypatch,
        STABLEGATE_DASHBOARD_PROFILE="test",
        STABLEGATE_DASHBOARD_SECRET_KEY=new_dev_key(),
        STABLEGATE_DASHBOARD_COOKIE_SECURE="false",
        STABLEGATE_DASHBOARD_MAIL_DIR=str(tmp_path),
    )
    refused = {field for field, _ in made.prod_violations()}
    assert {"secret_key", "cookie_secure", "public_url", "mail_dir"} <= refused
    with pytest.raises(ValueError, match="base64 of 32 random bytes"):
        settings(mesh_pki, monkeypatch, STABLEGATE_DASHBOARD_SECRET_KEY="c2hvcnQ=")


def test_admin_key_comes_from_the_setting_or_else_the_file(
    mesh_pki: DevMesh, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "admin-key"
    made = settings(mesh_pki, monkeypatch, STABLEGATE_DASHBOARD_LEDGER_ADMIN_KEY_PATH=str(path))
    assert made.admin_key() == ""  # not written yet: onboarding is refused until it is
    path.write_text("ak_from_file\n")
    assert made.admin_key() == "ak_from_file"
    assert "ak_" not in repr(settings(mesh_pki, monkeypatch, STABLEGATE_DASHBOARD_LEDGER_ADMIN_KEY="ak_secret"))


async def test_sessions_expire_when_idle_or_too_old_and_rotation_ends_the_old_token(
    redis_server: RedisServer,
) -> None:
    cache = redis.from_url(redis_server.url)
    now = [1_000_000.0]
    store = SessionStore(cache, idle_seconds=60, absolute_seconds=600, clock=lambda: now[0])
    try:
        token, session = await store.start()
        assert session.stage == Stage.ANONYMOUS and len(session.csrf) >= 40
        # Only the token's hash is a key: the cookie value is not readable from Redis.
        keys = [k.decode() async for k in cache.scan_iter(match=KEY_PREFIX + "*")]
        assert KEY_PREFIX + hashlib.sha256(token.encode()).hexdigest() in keys
        assert not any(token in k for k in keys)
        assert 0 < await cache.ttl(KEY_PREFIX + hashlib.sha256(token.encode()).hexdigest()) <= 60

        new_token, signed_in = await store.rotate(token, stage=Stage.SIGNED_IN, user_id="usr_1")
        assert new_token != token and signed_in.csrf != session.csrf
        assert await store.load(token) is None
        loaded = await store.load(new_token)
        assert loaded is not None and loaded.user_id == "usr_1"

        now[0] += 601  # past the absolute timeout, however recently used
        assert await store.load(new_token) is None

        idle = SessionStore(cache, idle_seconds=1, absolute_seconds=600)
        short, _ = await idle.start()
        await asyncio.sleep(2.1)  # Redis expires the key itself: nothing to fake
        assert await idle.load(short) is None
        assert await store.load("") is None and await store.load("x" * 500) is None
    finally:
        await cache.aclose()


def test_envoy_serves_the_dashboard_on_the_public_listener_only(tmp_path: Path, mesh_pki: DevMesh) -> None:
    plan = localrun.edge_plan(localrun.assign_ports(None), mesh_pki.files(Role.EDGE))
    assert plan.dashboard is not None and plan.dashboard.role == Role.DASHBOARD
    config = envoy_config(plan)
    by_listener = {
        listener["name"]: [
            route
            for host in listener["filter_chains"][0]["filters"][0]["typed_config"]["route_config"]["virtual_hosts"]
            for route in host["routes"]
            if route.get("match", {}).get("prefix") == DASHBOARD_PREFIX
        ]
        for listener in config["static_resources"]["listeners"]
    }
    public, admin = by_listener.values()
    assert [r["name"] for r in public] == ["dashboard form", "dashboard", "dashboard method_not_allowed"]
    assert admin == []
    for route in public[:2]:
        # No API key for the dashboard's own pages (it has its own login); the transcoder is off too.
        filters = route["typed_per_filter_config"]
        assert filters["envoy.filters.http.ext_authz"]["disabled"] is True
        assert route["route"]["cluster"] == "dashboard"
    result = envoy_validate(write(plan, tmp_path / "envoy" / "envoy.yaml"))
    assert result.returncode == 0, result.stdout + result.stderr

"""The TypeScript SDK (sdks/typescript): compiled with tsc, its own suite run by `node --test` against the live
edge (this test starts the stack and hands the suite its URL and keys), and packed into an npm tarball that
resolves by its package name."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from gateway import parts, sdkgen
from tests.edge.conftest import Stack
from tests.sdks.conftest import FlakyProxy, base_url

SDK = sdkgen.SDK_ROOT / "typescript"


def node_env(**extra: str) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"), **extra}


@pytest.fixture(scope="module")
def ts_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of sdks/typescript compiled by tsc (dist/), resolving openapi-fetch from the repo's node_modules."""
    package = tmp_path_factory.mktemp("ts-sdk") / "sdk"
    shutil.copytree(SDK, package, ignore=shutil.ignore_patterns("dist", "node_modules", "*.tgz"))
    (package / "node_modules").symlink_to(parts.REPO_ROOT / "node_modules")
    tsc = parts.which("tsc", "run ./dev setup (npm install typescript)")
    built = subprocess.run(
        [tsc, "-p", str(package / "tsconfig.json")], capture_output=True, text=True, timeout=180, check=False
    )
    assert built.returncode == 0, built.stdout + built.stderr
    return package


def test_the_typescript_sdk_suite_passes_against_the_live_edge(
    ts_package: Path, sdk_stack: Stack, merchant_key: str, flaky_proxy: FlakyProxy
) -> None:
    _, narrow = sdk_stack.merchant_key(("invoices:read",))
    flaky_proxy.script = ["lose", "503", "forward", "503"]
    run = subprocess.run(
        ["node", "--test", "test/sdk.test.mjs"],
        cwd=ts_package,
        env=node_env(
            STABLEGATE_URL=base_url(sdk_stack),
            STABLEGATE_KEY=merchant_key,
            STABLEGATE_NARROW_KEY=narrow,
            STABLEGATE_FLAKY_URL=flaky_proxy.url,
        ),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-3000:]
    assert "# fail 0" in run.stdout and "# pass 7" in run.stdout, run.stdout[-2000:]
    posts = [seen for seen in flaky_proxy.seen if seen.method == "POST"]
    assert [seen.action for seen in posts] == ["lose", "503", "forward"]
    keys = {seen.headers["idempotency-key"] for seen in posts}
    assert len(keys) == 1 and next(iter(keys)).startswith("sdk_"), "every retry kept the create's Idempotency-Key"


def test_npm_pack_makes_a_tarball_that_resolves_by_its_package_name(ts_package: Path, tmp_path: Path) -> None:
    packed = subprocess.run(
        ["npm", "pack", "--json", "--pack-destination", str(tmp_path)],
        cwd=ts_package,
        env=node_env(npm_config_cache=str(tmp_path / "npm-cache")),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    (info,) = json.loads(packed.stdout)
    files = {entry["path"] for entry in info["files"]}
    assert {"package.json", "README.md", "CHANGELOG.md", "dist/index.js", "dist/index.d.ts"} <= files
    assert "dist/generated/schema.d.ts" in files and "dist/webhooks.js" in files
    assert not [f for f in files if f.startswith(("src/", "test/"))], "only the built package ships"
    assert (info["name"], info["version"]) == ("@stablegate/sdk", "0.1.0")

    # Install it the way npm lays a package out, and import it by name from an ESM consumer.
    consumer = tmp_path / "shop"
    target = consumer / "node_modules" / "@stablegate" / "sdk"
    target.mkdir(parents=True)
    with tarfile.open(tmp_path / info["filename"]) as archive:
        archive.extractall(tmp_path / "unpacked", filter="data")
    shutil.copytree(tmp_path / "unpacked" / "package", target, dirs_exist_ok=True)
    (consumer / "node_modules" / "openapi-fetch").symlink_to(parts.REPO_ROOT / "node_modules" / "openapi-fetch")
    (consumer / "node_modules" / "openapi-typescript-helpers").symlink_to(
        parts.REPO_ROOT / "node_modules" / "openapi-typescript-helpers"
    )
    script = (
        "import { createHmac } from 'node:crypto';\n"
        "import { Stablegate, verifyWebhook, VERSION } from '@stablegate/sdk';\n"
        "const secret = Buffer.alloc(32, 7);\n"
        "const body = JSON.stringify({ id: 'evt_1', type: 'webhook.test', api_version: '2026-11-25', data: {} });\n"
        "const ts = String(Math.floor(Date.now() / 1000));\n"
        "const sig = createHmac('sha256', secret).update(`evt_1.${ts}.${body}`).digest('base64');\n"
        "const headers = { 'webhook-id': 'evt_1', 'webhook-timestamp': ts, 'webhook-signature': `v1,${sig}` };\n"
        "const event = await verifyWebhook(body, headers, { secrets: 'whsec_' + secret.toString('base64') });\n"
        "new Stablegate({ apiKey: 'sk_test_x', baseUrl: 'http://127.0.0.1:1' });\n"
        "console.log(JSON.stringify({ type: event.type, version: VERSION }));\n"
    )
    (consumer / "check.mjs").write_text(script)
    run = subprocess.run(
        ["node", "check.mjs"], cwd=consumer, env=node_env(), capture_output=True, text=True, timeout=60, check=False
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == {"type": "webhook.test", "version": "0.1.0"}

"""The TypeScript SDK (sdks/typescript): compiled with tsc, its own suite run by `node --test` against the live
edge (this test starts the stack and hands the suite its URL and keys), and packed into an npm tarball that
resolves by its package name; and the built ESM in headless Chromium (Debian's) creates, lists, cancels and
verifies a dispatcher-signed webhook."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import tarfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import sync_playwright
from stablegate_sdk import Stablegate

from gateway import parts, sdkgen
from tests.edge.conftest import Stack
from tests.sdks.conftest import FlakyProxy, WebhookReceiver, base_url

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


CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
def same_origin_app(ts_package: Path, sdk_stack: Stack) -> Iterator[str]:
    """One origin for a browser: the built SDK under /app/ (openapi-fetch through an import map), every other path
    forwarded to the edge (the edge answers no CORS, as a shop would serve its pages and proxy the API)."""
    files = {
        "/app/openapi-fetch.mjs": parts.REPO_ROOT / "node_modules" / "openapi-fetch" / "dist" / "index.mjs",
        **{f"/app/sdk/{p.relative_to(ts_package / 'dist')}": p for p in (ts_package / "dist").rglob("*.js")},
    }
    page = (
        b'<!doctype html><html><head><meta charset="utf-8">'
        b'<script type="importmap">{"imports": {"openapi-fetch": "/app/openapi-fetch.mjs"}}</script>'
        b"</head><body>sdk</body></html>"
    )

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _handle(self) -> None:
            if self.path == "/app/index.html":
                self._send(200, {"content-type": "text/html"}, page)
                return
            if self.path in files:
                self._send(200, {"content-type": "text/javascript"}, files[self.path].read_bytes())
                return
            length = int(self.headers.get("content-length", "0"))
            forward = {k: v for k, v in self.headers.items() if k.lower() not in {"host", "connection", "origin"}}
            upstream = http.client.HTTPConnection("127.0.0.1", sdk_stack.port, timeout=15)
            try:
                upstream.request(
                    self.command, self.path, body=self.rfile.read(length) if length else None, headers=forward
                )
                reply = upstream.getresponse()
                data = reply.read()
                kept = {k: v for k, v in reply.getheaders() if k.lower() not in {"content-length", "connection"}}
            finally:
                upstream.close()
            self._send(reply.status, kept, data)

        do_GET = do_POST = do_DELETE = _handle

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


BROWSER_SCRIPT = """
async ({ key, delivery, secret, publicKey }) => {
  const sdk = await import("/app/sdk/index.js");
  const client = new sdk.Stablegate({ apiKey: key, baseUrl: location.origin });
  const made = [];
  for (const n of [1, 2, 3]) made.push((await client.invoices.create({ amount: "1.25", order_id: `browser-${n}` })).id);
  const listed = [];
  for await (const invoice of client.invoices.list({ page_size: 2 })) listed.push(invoice.id);
  const canceled = (await client.invoices.cancel(made[0])).status;
  const missing = await client.invoices.get("inv_doesnotexist000000000000").catch((e) => [e.name, e.reason]);
  const bySecret = await sdk.verifyWebhook(delivery.body, delivery.headers, { secrets: secret });
  const byKey = await sdk.verifyWebhook(delivery.body, delivery.headers, { publicKeys: publicKey });
  const forged = delivery.body.replace('"7"', '"7000"');
  const tampered = await sdk.verifyWebhook(forged, delivery.headers, { secrets: secret }).catch((e) => e.reason);
  return { made, listed, canceled, missing, events: [bySecret.type, byKey.id], tampered };
}
"""


def test_the_typescript_sdk_runs_in_a_browser(
    same_origin_app: str, sdk_stack: Stack, merchant_key: str, receiver: WebhookReceiver
) -> None:
    with Stablegate(merchant_key, base_url=base_url(sdk_stack)) as sg:
        endpoint = sg.webhook_endpoints.create(
            receiver.url,
            enabled_events=["invoice.created"],
            signing_algorithms=["WEBHOOK_SIGNING_ALGORITHM_HMAC_SHA256", "WEBHOOK_SIGNING_ALGORITHM_ED25519"],
        )
        hooked = sg.invoices.create("7", order_id="browser-hook")
    delivery = receiver.wait_for("invoice.created")
    assert b'"amount":"7"' in delivery.body.replace(b" ", b"")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
        try:
            page = browser.new_page()
            page.goto(f"{same_origin_app}/app/index.html")
            result = page.evaluate(
                BROWSER_SCRIPT,
                {
                    "key": merchant_key,
                    "delivery": {"body": delivery.body.decode(), "headers": delivery.headers},
                    "secret": endpoint.secret,
                    "publicKey": endpoint.signing_public_key,
                },
            )
        finally:
            browser.close()
    assert result["listed"] == [*reversed(result["made"]), hooked.id], "every page, newest first"
    assert result["canceled"] == "INVOICE_STATUS_CANCELED"
    assert result["missing"] == ["NotFoundError", "INVOICE_NOT_FOUND"]
    assert result["events"] == ["invoice.created", delivery.headers["webhook-id"]]
    assert result["tampered"] == "SIGNATURE_INVALID"


CONSUMER = """
import { Stablegate, verifyWebhook, type Invoice } from "./src/index.js";

const client = new Stablegate({ apiKey: "sk_test_x", baseUrl: "http://127.0.0.1:1" });
export async function typed(): Promise<string | undefined | null> {
  const invoice: Invoice = await client.invoices.create({ amount: "10.50", order_id: "o-1" });
  // @ts-expect-error amounts are decimal strings, never numbers
  await client.invoices.create({ amount: 10.5 });
  // @ts-expect-error a field the API does not have
  await client.invoices.create({ amount: "1", colour: "blue" });
  // @ts-expect-error status is one of the API's enum values
  client.invoices.list({ status: "PAID" });
  // @ts-expect-error a path the API does not have
  await client.raw.GET("/v1/invoicez");
  await verifyWebhook("{}", {}, { secrets: "whsec_AAAA" }).catch(() => undefined);
  return invoice.checkout_url;
}
"""


def typecheck_consumer(package: Path, source: str) -> subprocess.CompletedProcess[str]:
    """`tsc --noEmit` over `source` as a consumer.ts beside the SDK's sources, with the SDK's own settings."""
    (package / "consumer.ts").write_text(source)
    config = {
        "extends": "./tsconfig.json",
        "compilerOptions": {"noEmit": True, "rootDir": "."},
        "include": ["consumer.ts"],
    }
    (package / "tsconfig.consumer.json").write_text(json.dumps(config))
    tsc = parts.which("tsc", "run ./dev setup (npm install typescript)")
    return subprocess.run(
        [tsc, "-p", "tsconfig.consumer.json"], cwd=package, capture_output=True, text=True, timeout=180, check=False
    )


def test_the_generated_types_refuse_what_the_api_refuses(ts_package: Path) -> None:
    """Each `@ts-expect-error` line must be a type error: tsc fails on one that is not (the types bite)."""
    checked = typecheck_consumer(ts_package, CONSUMER)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    loosened = typecheck_consumer(ts_package, CONSUMER.replace("// @ts-expect-error amounts are", "// amounts are"))
    assert loosened.returncode != 0 and "consumer.ts(8," in loosened.stdout, loosened.stdout

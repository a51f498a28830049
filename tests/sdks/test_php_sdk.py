"""The PHP SDK (sdks/php): its PHPUnit suite against the live edge (this test starts the stack, captures a delivery
signed by the gateway's dispatcher and hands the suite both), and its package layout with a composer.json."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from stablegate_sdk import Stablegate

from gateway import parts, sdkgen
from tests.edge.conftest import Stack
from tests.sdks.conftest import SDK_SCOPES, FlakyProxy, WebhookReceiver, base_url

SDK = sdkgen.SDK_ROOT / "php"


def php_env(**extra: str) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"), **extra}


def test_the_php_sdk_suite_passes_against_the_live_edge(
    sdk_stack: Stack, merchant_key: str, flaky_proxy: FlakyProxy, receiver: WebhookReceiver, tmp_path: Path
) -> None:
    _, hook_key = sdk_stack.merchant_key(SDK_SCOPES)  # another merchant: the suite's lists hold only its own invoices
    with Stablegate(hook_key, base_url=base_url(sdk_stack)) as sg:
        endpoint = sg.webhook_endpoints.create(
            receiver.url,
            enabled_events=["invoice.created"],
            signing_algorithms=["WEBHOOK_SIGNING_ALGORITHM_HMAC_SHA256", "WEBHOOK_SIGNING_ALGORITHM_ED25519"],
        )
        hooked = sg.invoices.create("7", order_id="php-hooked")
    delivery = receiver.wait_for("invoice.created")
    captured = tmp_path / "delivery.json"
    captured.write_text(
        json.dumps(
            {
                "body": delivery.body.decode(),
                "headers": delivery.headers,
                "secret": endpoint.secret,
                "public_key": endpoint.signing_public_key,
                "invoice_id": hooked.id,
            }
        )
    )
    _, narrow = sdk_stack.merchant_key(("invoices:read",))
    flaky_proxy.script = ["lose", "503", "forward", "503", "503"]
    phpunit = parts.which("phpunit", "run ./dev setup (apt-get install phpunit)")
    run = subprocess.run(
        [phpunit, "-c", str(SDK / "phpunit.xml.dist")],
        cwd=SDK,
        env=php_env(
            STABLEGATE_URL=base_url(sdk_stack),
            STABLEGATE_KEY=merchant_key,
            STABLEGATE_NARROW_KEY=narrow,
            STABLEGATE_FLAKY_URL=flaky_proxy.url,
            STABLEGATE_DELIVERY_FILE=str(captured),
        ),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "OK (7 tests" in run.stdout, run.stdout[-2000:]
    posts = [seen for seen in flaky_proxy.seen if seen.method == "POST"]
    assert [seen.action for seen in posts] == ["lose", "503", "forward", "503"], "a keyless POST is sent once"
    assert "idempotency-key" not in posts[3].headers
    keys = {seen.headers["idempotency-key"] for seen in posts[:3]}
    assert len(keys) == 1 and next(iter(keys)).startswith("sdk_"), "every retry kept the create's Idempotency-Key"


def test_the_php_package_has_a_composer_json_readme_changelog_and_loads_without_composer(tmp_path: Path) -> None:
    composer = json.loads((SDK / "composer.json").read_text())
    assert composer["name"] == "stablegate/sdk" and composer["autoload"]["psr-4"] == {"Stablegate\\": "src/"}
    assert set(composer["require"]) == {"php", "ext-curl", "ext-json", "ext-sodium"}, "no Composer packages at run time"
    assert (SDK / "README.md").is_file() and (SDK / "CHANGELOG.md").is_file()
    script = tmp_path / "check.php"
    script.write_text(
        "<?php\n"
        f"require {json.dumps(str(SDK / 'autoload.php'))};\n"
        "$invoice = Stablegate\\Model\\Invoice::fromArray(['id' => 'inv_1', 'amount' => '10.5', 'unknown_later' => 1,\n"
        "    'payments' => [['tx_hash' => '0xab']]]);\n"
        "echo json_encode([$invoice->id, $invoice->payments[0]->tx_hash, $invoice->toArray(),\n"
        "    Stablegate\\Client::VERSION, class_exists(Stablegate\\Webhook::class)]);\n"
    )
    run = subprocess.run(["php", str(script)], env=php_env(), capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert json.loads(run.stdout) == [
        "inv_1",
        "0xab",
        {"amount": "10.5", "id": "inv_1", "payments": [{"tx_hash": "0xab"}]},
        "0.1.0",
        True,
    ]

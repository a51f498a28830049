"""The Python SDK builds into a wheel (README and changelog in its metadata, typed, the generated client inside)
that works installed outside the repo: it makes an invoice on the live edge."""

from __future__ import annotations

import email
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from gateway import sdkgen
from tests.edge.conftest import Stack
from tests.sdks.conftest import base_url

SDK = sdkgen.SDK_ROOT / "python"


def build_wheel(tmp: Path) -> Path:
    """`pip wheel` of a copy of sdks/python (no build isolation: offline, with the venv's setuptools)."""
    source = tmp / "src"
    shutil.copytree(SDK, source, ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
    out = tmp / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", str(source), "-w", str(out)],
        check=True,
        capture_output=True,
        timeout=180,
    )
    (wheel,) = out.glob("stablegate_sdk-*.whl")
    return wheel


def test_the_wheel_carries_readme_changelog_types_and_the_generated_client(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = email.message_from_bytes(archive.read(next(n for n in names if n.endswith("dist-info/METADATA"))))
    assert {"stablegate_sdk/py.typed", "stablegate_sdk/webhooks.py", "stablegate_sdk/generated/client.py"} <= names
    assert "stablegate_sdk/generated/models/invoice.py" in names
    assert not [n for n in names if "__pycache__" in n or n.startswith("tests/")]
    assert (metadata["Name"], metadata["Version"]) == ("stablegate-sdk", "0.1.0")
    description = metadata.get_payload()
    assert isinstance(description, str)
    assert "# stablegate-sdk (Python)" in description and "# Changelog" in description
    assert set(metadata.get_all("Requires-Dist") or []) >= {"httpx<0.29,>=0.23", "attrs>=22.2"}


def test_the_installed_wheel_works_outside_the_repo(tmp_path: Path, sdk_stack: Stack, merchant_key: str) -> None:
    wheel = build_wheel(tmp_path)
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
        check=True,
        capture_output=True,
        timeout=180,
    )
    script = (
        "import json, sys, stablegate_sdk\n"
        "from stablegate_sdk import Stablegate\n"
        "with Stablegate(sys.argv[1], base_url=sys.argv[2]) as sg:\n"
        "    inv = sg.invoices.create('2.25', order_id='from-wheel')\n"
        "print(json.dumps({'file': stablegate_sdk.__file__, 'id': inv.id, 'amount': inv.amount}))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script, merchant_key, base_url(sdk_stack)],
        cwd=tmp_path,
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["file"].startswith(str(site)) and result["amount"] == "2.25"
    assert sdk_stack.call("GET", f"/v1/invoices/{result['id']}", key=merchant_key).json()["order_id"] == "from-wheel"

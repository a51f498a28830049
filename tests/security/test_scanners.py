"""Security scanning in the test command: bandit on our packages and detect-secrets on the repository, each
finding fixed or justified in a reviewed allow-list (docs/security.md, "Scanning")."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = [
    "gateway",
    "service_runtime",
    "chain",
    "ledger",
    "watcher",
    "settlement",
    "signer",
    "edge",
    "checkout",
    "dashboard",
]
BASELINE = ROOT / ".secrets.baseline"
SECURITY_DOC = ROOT / "docs" / "security.md"


def tool(name: str) -> str:
    path = Path(sys.executable).parent / name
    assert path.exists(), f"{name} is missing: ./dev setup installs it"
    return str(path)


def bandit(*targets: str, config: bool = True) -> dict[str, Any]:
    args = [tool("bandit"), "-q", "-f", "json", "-r", *targets]
    if config:
        args[1:1] = ["-c", "pyproject.toml"]
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    report: dict[str, Any] = json.loads(done.stdout)
    assert not report["errors"], report["errors"]
    return report


def test_bandit_finds_nothing_in_our_packages() -> None:
    report = bandit(*PACKAGES)
    findings = [f"{r['filename']}:{r['line_number']} {r['test_id']} {r['issue_text']}" for r in report["results"]]
    assert findings == [], "fix it, or justify it (docs/security.md, Scanning):\n" + "\n".join(findings)
    scanned = {Path(name).parts[0] for name in report["metrics"] if name != "_totals"}
    assert scanned == set(PACKAGES)


def test_every_nosec_names_its_check_and_carries_a_reason() -> None:
    marked = []
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if re.search(r"#\s*nosec", line):
                    marked.append((path.relative_to(ROOT), number, line))
    assert marked, "expected the reviewed nosec lines"
    for path, number, line in marked:
        assert re.search(r"# nosec B\d{3}\b", line), f"{path}:{number}: a bare nosec silences every check"
        # The reason: beside ruff's own noqa for the same check, or after the nosec where ruff has no such check.
        reason = re.search(r"# noqa: S\d{3} - \S", line) or re.search(r"# nosec B\d{3} - \S", line)
        assert reason, f"{path}:{number}: no reason on the line"
    assert len(marked) <= 10, "nosec is for the odd reviewed line; a class of findings goes to the config"


def test_bandit_would_catch_a_new_finding(tmp_path: Path) -> None:
    # The gate has teeth: the same config on a file with a shell injection and a weak hash reports both.
    (tmp_path / "bad.py").write_text(
        "import hashlib\nimport subprocess\n\n\ndef run(cmd: str) -> bytes:\n"
        "    subprocess.call(cmd, shell=True)\n    return hashlib.md5(cmd.encode()).digest()\n"
    )
    found = {r["test_id"] for r in bandit(str(tmp_path))["results"]}
    assert {"B602", "B324"} <= found


def secrets_scan() -> dict[str, Any]:
    # Scans the files git tracks (what a clone has), never writes the baseline.
    done = subprocess.run(
        [tool("detect-secrets"), "scan", "--exclude-files", r"^\.secrets\.baseline$"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def findings(report: dict[str, Any]) -> set[tuple[str, str, str]]:
    """(file, type, hashed secret): line numbers move with every edit, the secret does not."""
    return {(name, r["type"], r["hashed_secret"]) for name, rows in report["results"].items() for r in rows}


@pytest.fixture(scope="module")
def baseline() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(BASELINE.read_text())
    return loaded


def test_the_secrets_scan_finds_nothing_the_baseline_does_not_allow(baseline: dict[str, Any]) -> None:
    report = secrets_scan()
    assert report["version"] == baseline["version"], "detect-secrets changed: regenerate and re-audit the baseline"
    assert [p["name"] for p in report["plugins_used"]] == [p["name"] for p in baseline["plugins_used"]]
    new = findings(report) - findings(baseline)
    assert not new, (
        "possible secrets not in .secrets.baseline: remove them, or audit them into the baseline and justify "
        f"the file in docs/security.md (Scanning): {sorted(new)}"
    )


def test_every_baseline_entry_is_audited_and_its_file_justified(baseline: dict[str, Any]) -> None:
    documented = SECURITY_DOC.read_text().split("## Scanning", 1)[1]
    for name, rows in baseline["results"].items():
        for row in rows:
            assert row.get("is_secret") is False, f"{name}:{row['line_number']} is not audited as a false positive"
        assert f"`{name}`" in documented, f"docs/security.md (Scanning) does not say why {name} is allowed"


def test_the_secrets_scan_would_catch_a_new_secret(tmp_path: Path) -> None:
    # The gate has teeth: a private key and an AWS key in a scanned file are reported.
    # (Assembled at run time, so that this file itself holds nothing the scanner reports.)
    aws, pem = "AKIA" + "IOSFODNN7EXAMPLF", "RSA " + "PRIVATE KEY"
    leaked = tmp_path / "leak.py"
    leaked.write_text(
        f'AWS_ACCESS_KEY_ID = "{aws}"\nKEY = """-----BEGIN {pem}-----\nMIIEpAIBAAKCAQEA\n-----END {pem}-----"""\n'
    )
    done = subprocess.run(
        [tool("detect-secrets"), "scan", "--all-files", "."],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    types = {r["type"] for rows in json.loads(done.stdout)["results"].values() for r in rows}
    assert {"AWS Access Key", "Private Key"} <= types

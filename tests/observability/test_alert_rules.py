"""The Prometheus alert rules: promtool checks them and runs their unit tests (a firing and a quiet case per
alert), every metric and label they read is one our services export, and every alert has its runbook entry."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from service_runtime.devcerts import DevMesh
from tests.observability.catalog import Exported, exported_metrics, repo_root
from tests.observability.promql import selectors

PROMETHEUS = repo_root() / "deploy" / "observability" / "prometheus"
RULES = PROMETHEUS / "alerts.yml"
RULE_TESTS = PROMETHEUS / "alerts_test.yml"
RUNBOOK = repo_root() / "docs" / "observability.md"


def promtool() -> str:
    found = shutil.which("promtool")
    assert found, "promtool is missing: ./dev setup installs it (Debian's prometheus package)"
    return found


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool(), *map(str, args)], capture_output=True, text=True, timeout=60, check=False)


def alerts() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text())
    return [rule for group in document["groups"] for rule in group["rules"] if "alert" in rule]


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Exported]:
    return exported_metrics(DevMesh(tmp_path_factory.mktemp("pki")))


def test_promtool_checks_the_rules() -> None:
    result = run("check", "rules", RULES)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alerts())} rules found" in result.stdout


def test_promtool_unit_tests_pass() -> None:
    result = run("test", "rules", RULE_TESTS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_fails_a_rule_test_that_expects_the_wrong_thing(tmp_path: Path) -> None:
    # The gate has teeth: the same tests against rules with a changed threshold fail.
    (tmp_path / "alerts.yml").write_text(
        RULES.read_text().replace(
            "max(ledger_webhook_deliveries_due) > 1000", "max(ledger_webhook_deliveries_due) > 2000"
        )
    )
    (tmp_path / "alerts_test.yml").write_text(RULE_TESTS.read_text())
    result = run("test", "rules", tmp_path / "alerts_test.yml")
    assert result.returncode != 0
    assert "alertname: WebhookDispatcherBacklog" in result.stdout + result.stderr


def test_every_alert_has_a_firing_and_a_quiet_case() -> None:
    cases: dict[str, set[bool]] = {}
    for group in yaml.safe_load(RULE_TESTS.read_text())["tests"]:
        for case in group.get("alert_rule_test", []):
            cases.setdefault(case["alertname"], set()).add(bool(case.get("exp_alerts")))
    names = [rule["alert"] for rule in alerts()]
    assert len(names) == len(set(names)), "alert names must be unique"
    missing = {name: {True, False} - cases.get(name, set()) for name in names}
    assert {name: m for name, m in missing.items() if m} == {}
    assert set(cases) <= set(names), "a test names an alert that does not exist"


@pytest.mark.parametrize("rule", alerts(), ids=lambda rule: str(rule["alert"]))
def test_alerts_read_only_metrics_and_labels_our_services_export(
    rule: dict[str, Any], catalog: dict[str, Exported]
) -> None:
    used = selectors(rule["expr"])
    assert used, "an alert that reads no metric"
    for metric, labels in used:
        assert metric in catalog, f"{metric} is exported by none of our services"
        assert labels <= catalog[metric].labels, f"{metric} has no label {labels - catalog[metric].labels}"


@pytest.mark.parametrize("rule", alerts(), ids=lambda rule: str(rule["alert"]))
def test_every_alert_has_a_runbook_entry(rule: dict[str, Any]) -> None:
    anchor = str(rule["annotations"]["runbook"]).split("#", 1)[1]
    assert anchor == rule["alert"].lower()
    headings = {
        re.sub(r"[^a-z0-9-]", "", line.lstrip("#").strip().lower())
        for line in RUNBOOK.read_text().splitlines()
        if line.startswith("### ")
    }
    assert anchor in headings, f"docs/observability.md has no '### {rule['alert']}' section"
    assert rule["labels"]["severity"] in {"critical", "warning", "info"}


def test_the_scrape_config_is_valid_and_loads_the_rules() -> None:
    config = PROMETHEUS / "prometheus.yml"
    result = run("check", "config", config)
    assert result.returncode == 0, result.stdout + result.stderr
    document = yaml.safe_load(config.read_text())
    assert document["rule_files"] == ["alerts.yml"]
    jobs = {job["job_name"] for job in document["scrape_configs"]}
    assert {"stablegate-ledger", "stablegate-watcher", "stablegate-settlement", "stablegate-signer"} <= jobs


def test_reconciliation_runs_start_every_status_at_zero() -> None:
    # ReconciliationFailing relies on it: increase() sees the first FAILED run only if the series existed at 0.
    from prometheus_client import CollectorRegistry

    from settlement.reconcile_service import ReconciliationMetrics

    registry = CollectorRegistry()
    ReconciliationMetrics(registry)
    for status in ("MATCHED", "MISMATCHED", "FAILED"):
        assert registry.get_sample_value("settlement_reconciliation_runs_total", {"status": status}) == 0

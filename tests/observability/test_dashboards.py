"""The Grafana dashboards: well-formed, and every panel's PromQL parses and reads only metrics and labels our
services export (the same catalog as the alerts)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from service_runtime.devcerts import DevMesh
from tests.observability.catalog import Exported, exported_metrics, repo_root
from tests.observability.promql import selectors

DASHBOARDS = sorted((repo_root() / "deploy" / "observability" / "grafana").glob("*.json"))
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}
"""Grafana's built-in interval variables, replaced by a duration before the PromQL parser sees an expression."""


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Exported]:
    return exported_metrics(DevMesh(tmp_path_factory.mktemp("pki")))


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for panel in dashboard["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))  # a collapsed row keeps its panels inside it
    return found


def test_there_are_dashboards_with_unique_uids() -> None:
    assert len(DASHBOARDS) >= 3
    uids = [json.loads(path.read_text())["uid"] for path in DASHBOARDS]
    assert len(uids) == len(set(uids))
    assert [f"{uid}.json" for uid in uids] == [path.name for path in DASHBOARDS]


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda path: path.name)
def test_every_panel_queries_exported_metrics(path: Path, catalog: dict[str, Exported]) -> None:
    dashboard = json.loads(path.read_text())
    assert dashboard["title"] and dashboard["schemaVersion"] >= 36
    assert {v["name"] for v in dashboard["templating"]["list"]} >= {"datasource"}
    ids = [panel["id"] for panel in panels(dashboard)]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    queries = 0
    for panel in panels(dashboard):
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], f"panel {panel['title']!r} has no query"
        for target in panel["targets"]:
            expression = target["expr"]
            for variable, value in GRAFANA_VARIABLES.items():
                expression = expression.replace(variable, value)
            assert "$" not in expression, f"an unknown variable in {target['expr']!r}"
            used = selectors(expression)
            assert used, f"panel {panel['title']!r} reads no metric"
            for metric, labels in used:
                assert metric in catalog, f"{panel['title']!r}: {metric} is exported by none of our services"
                missing = labels - catalog[metric].labels
                assert not missing, f"{panel['title']!r}: {metric} has no label {missing}"
            queries += 1
    assert queries >= 5


def test_the_catalog_check_catches_a_misspelt_metric(catalog: dict[str, Exported]) -> None:
    # The check above has teeth: a name one letter off and a label the metric lacks are both refused.
    assert "watcher_lag_block" not in catalog and "watcher_lag_blocks" in catalog
    ((metric, labels),) = selectors('sum by (provider) (rate(chain_rpc_requests_total{outcome="ok"}[5m]))')
    assert labels <= catalog[metric].labels
    ((metric, labels),) = selectors("sum by (reason) (rate(chain_rpc_requests_total[5m]))")
    assert not labels <= catalog[metric].labels

"""The OpenTelemetry Collector config: every pipeline names components that are configured, every configured
component is used, the processors are in the recommended order, its scrape jobs are Prometheus's, and its log
parser reads our real log lines' time and level."""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from tests.observability.catalog import repo_root
from tests.observability.test_log_shipping import expected_time, go_time, real_lines

OBSERVABILITY = repo_root() / "deploy" / "observability"
KNOWN = {
    # Component types of otelcol-contrib the config may use (a typo is refused before a collector would refuse it).
    "receivers": {"otlp", "prometheus", "filelog"},
    "processors": {"memory_limiter", "batch", "resource", "attributes"},
    "exporters": {"otlp", "otlphttp", "prometheusremotewrite", "debug"},
    "extensions": {"health_check"},
}


def config() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((OBSERVABILITY / "otel-collector.yaml").read_text())
    return loaded


def test_pipelines_use_exactly_the_configured_components() -> None:
    document = config()
    service = document["service"]
    assert set(service["pipelines"]) == {"metrics", "logs", "traces"}
    used: dict[str, set[str]] = {"receivers": set(), "processors": set(), "exporters": set()}
    for name, pipeline in service["pipelines"].items():
        for section, seen in used.items():
            assert pipeline[section], f"pipeline {name} has no {section}"
            for component in pipeline[section]:
                assert component in document[section], f"{name} names {component}, not configured in {section}"
                seen.add(component)
        # The collector's advice: memory_limiter first, batch last.
        assert pipeline["processors"][0] == "memory_limiter" and pipeline["processors"][-1] == "batch"
    for section, names in used.items():
        assert set(document[section]) == names, f"configured but unused {section}: {set(document[section]) - names}"
    assert set(service["extensions"]) == set(document["extensions"])
    for section, types in KNOWN.items():
        for component in document[section]:
            assert component.split("/", 1)[0] in types, f"unknown {section} type {component}"


def test_no_endpoint_or_credential_is_written_into_the_config() -> None:
    # Where data goes is the operator's: exporters read their endpoints from the environment.
    for name, exporter in config()["exporters"].items():
        assert re.fullmatch(r"\$\{env:[A-Z_]+\}", exporter["endpoint"]), name


def test_it_scrapes_the_same_jobs_as_prometheus() -> None:
    ours = config()["receivers"]["prometheus"]["config"]["scrape_configs"]
    prometheus = yaml.safe_load((OBSERVABILITY / "prometheus" / "prometheus.yml").read_text())["scrape_configs"]
    assert {(j["job_name"], tuple(j["static_configs"][0]["targets"])) for j in ours} == {
        (j["job_name"], tuple(j["static_configs"][0]["targets"])) for j in prometheus
    }


def test_the_filelog_parser_reads_our_time_level_service_and_message() -> None:
    operators = config()["receivers"]["filelog"]["operators"]
    (parser,) = [op for op in operators if op["type"] == "json_parser"]
    assert parser["timestamp"]["layout_type"] == "gotime"
    moved = {op["from"]: op["to"] for op in operators if op["type"] == "move"}
    assert moved == {"attributes.message": "body", "attributes.service": 'resource["service.name"]'}
    assert parser["severity"]["parse_from"] == "attributes.level"
    for record, line in real_lines():
        attributes = json.loads(line)
        time_field = parser["timestamp"]["parse_from"].removeprefix("attributes.")
        assert go_time(parser["timestamp"]["layout"], attributes[time_field]) == expected_time(record)
        # Every Python level name has a severity: the default words, or the config's mapping.
        mapped = {"debug", "info", "error", *parser["severity"]["mapping"].values()}
        assert {name.lower() for name in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")} <= mapped
        assert attributes["level"] in mapped
        assert {"message", "service"} <= set(attributes)

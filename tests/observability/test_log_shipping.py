"""Our real JSON log lines (service_runtime/logs.py) through the promtail (Loki) and filebeat (ELK) configs.

Neither promtail nor filebeat runs here, so the stages and processors the configs use are interpreted by the small
readers below, each written from its tool's documentation; any stage or processor they do not know fails the
test, so a config change cannot slip past unchecked.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from service_runtime.logs import JsonFormatter, request_id_var, trace_id_var
from tests.observability.catalog import repo_root

LOGS = repo_root() / "deploy" / "observability" / "logs"
CRI = re.compile(r"^(?P<time>\S+) (?P<stream>stdout|stderr) (?P<flags>[FP]) (?P<content>.*)$")


def real_lines() -> list[tuple[logging.LogRecord, str]]:
    """Lines exactly as a service writes them: plain, with request and trace ids and extras, with a traceback."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("ledger"))
    logger = logging.getLogger("stablegate.ledger.shipping-test")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    records: list[logging.LogRecord] = []

    def keep(record: logging.LogRecord) -> bool:
        records.append(record)
        return True

    handler.addFilter(keep)
    logger.info("ledger serving")
    tokens = request_id_var.set("req_0123"), trace_id_var.set("4bf92f3577b34da6a3ce929d0e0e4736")
    logger.warning("webhook endpoint disabled", extra={"endpointId": "we_1", "reason": "FAILING"})
    try:
        raise ValueError("boom\nsecond line")
    except ValueError:
        logger.exception("scan pass failed unexpectedly; retrying")
    request_id_var.reset(tokens[0])
    trace_id_var.reset(tokens[1])
    lines = stream.getvalue().splitlines()
    assert len(lines) == len(records) == 3, "one line per record, tracebacks included"
    return list(zip(records, lines, strict=True))


def cri(line: str) -> str:
    """The line as the container runtime writes it under /var/log/pods (CRI logging format)."""
    return f"2026-11-26T03:03:50.123456789Z stdout F {line}"


def expected_time(record: logging.LogRecord) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(record.created), dt.UTC).replace(microsecond=int(record.msecs) * 1000)


# --- promtail -------------------------------------------------------------------------------------------------


def rfc3339(value: str) -> dt.datetime:
    """Go's RFC3339Nano: date, T, time, optional fraction, Z or an offset."""
    match = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)", value)
    assert match, f"{value!r} is not RFC3339"
    base = dt.datetime.fromisoformat(match[1] + ("+00:00" if match[3] == "Z" else match[3]))
    return base.replace(microsecond=int((match[2] or "0").ljust(9, "0")[:6]))


def promtail(stages: list[dict[str, Any]], line: str) -> tuple[dict[str, str], dt.datetime | None, str]:
    """(labels, timestamp, line) after the pipeline stages, as promtail's documentation describes them."""
    extracted: dict[str, Any] = {}
    labels: dict[str, str] = {}
    timestamp: dt.datetime | None = None
    for stage in stages:
        ((kind, options),) = stage.items()
        options = options or {}
        if kind == "cri":
            match = CRI.match(line)
            assert match, f"not a CRI line: {line!r}"
            line = match["content"]
        elif kind == "json":
            document = json.loads(line)  # promtail drops the extraction (and says so) when the line is no JSON
            for name, path in options["expressions"].items():
                assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", path or name), "only plain field names are read here"
                if (path or name) in document:
                    extracted[name] = document[path or name]
        elif kind == "labels":
            for label, source in options.items():
                assert (source or label) in extracted, f"label {label} has nothing to read"
                labels[label] = str(extracted[source or label])
        elif kind == "timestamp":
            assert options["format"] == "RFC3339Nano", "only the RFC3339Nano format is read here"
            timestamp = rfc3339(extracted[options["source"]])
        else:
            pytest.fail(f"promtail stage {kind!r} is not interpreted by this test: extend it")
    return labels, timestamp, line


def promtail_jobs() -> Iterator[dict[str, Any]]:
    yield from yaml.safe_load((LOGS / "promtail.yml").read_text())["scrape_configs"]


@pytest.mark.parametrize("job", list(promtail_jobs()), ids=lambda job: str(job["job_name"]))
def test_promtail_labels_and_timestamps_our_lines(job: dict[str, Any]) -> None:
    wrapped = any("cri" in stage for stage in job["pipeline_stages"])
    for record, line in real_lines():
        labels, timestamp, body = promtail(job["pipeline_stages"], cri(line) if wrapped else line)
        assert labels == {"service": "ledger", "level": record.levelname.lower()}
        assert timestamp == expected_time(record)
        assert json.loads(body)["message"] == record.getMessage()  # the whole JSON line stays the entry


def test_promtail_keeps_labels_few() -> None:
    # Loki indexes labels: request ids, trace ids and loggers stay in the line (LogQL `| json` reads them).
    for job in promtail_jobs():
        for stage in job["pipeline_stages"]:
            if "labels" in stage:
                assert set(stage["labels"]) <= {"service", "level"}


# --- filebeat -------------------------------------------------------------------------------------------------

GO_LAYOUT = {
    "2006": r"(?P<year>\d{4})",
    "01": r"(?P<month>\d\d)",
    "02": r"(?P<day>\d\d)",
    "15": r"(?P<hour>\d\d)",
    "04": r"(?P<minute>\d\d)",
    "05": r"(?P<second>\d\d)",
    ".999": r"(?:\.(?P<fraction>\d+))?",
    ".000": r"\.(?P<fraction>\d{3})",
    "Z07:00": r"(?P<zone>Z|[+-]\d\d:\d\d)",
}


def go_time(layout: str, value: str) -> dt.datetime | None:
    """Parse `value` with a Go reference-time layout (the tokens our configs use), None when it does not match."""
    pattern, rest = "", layout
    while rest:
        token = next((t for t in sorted(GO_LAYOUT, key=len, reverse=True) if rest.startswith(t)), None)
        if token is None:
            assert not rest[0].isdigit(), f"layout token at {rest!r} is not interpreted by this test"
            pattern, rest = pattern + re.escape(rest[0]), rest[1:]
        else:
            pattern, rest = pattern + GO_LAYOUT[token], rest[len(token) :]
    match = re.fullmatch(pattern, value)
    if match is None:
        return None
    zone = dt.UTC if match["zone"] in (None, "Z") else dt.datetime.strptime(match["zone"], "%z").tzinfo
    parts = {k: int(match[k]) for k in ("year", "month", "day", "hour", "minute", "second")}
    micro = int((match["fraction"] or "0").ljust(6, "0")[:6])
    return dt.datetime(**parts, microsecond=micro, tzinfo=zone)


def filebeat_input(parsers: list[dict[str, Any]], line: str) -> dict[str, Any]:
    event: dict[str, Any] = {"message": line}
    for parser in parsers:
        ((kind, options),) = parser.items()
        if kind == "container":
            match = CRI.match(event["message"])
            if match:
                event["message"], event["stream"] = match["content"], match["stream"]
            else:  # Docker's json-file format
                wrapped = json.loads(event["message"])
                event["message"], event["stream"] = wrapped["log"].rstrip("\n"), wrapped["stream"]
        elif kind == "ndjson":
            assert options["target"] == "", "fields are lifted to the top level"
            document = json.loads(event["message"])
            assert options.get("message_key") in document
            event.update(document) if options.get("overwrite_keys") else event.update(
                {k: v for k, v in document.items() if k not in event}
            )
        else:
            pytest.fail(f"filebeat parser {kind!r} is not interpreted by this test: extend it")
    return event


def filebeat_processors(processors: list[dict[str, Any]], event: dict[str, Any]) -> dict[str, Any]:
    for processor in processors:
        ((kind, options),) = processor.items()
        if kind == "timestamp":
            for sample in options.get("test", []):  # filebeat refuses to start when a test value does not parse
                assert any(go_time(layout, sample) for layout in options["layouts"]), sample
            parsed = [go_time(layout, event[options["field"]]) for layout in options["layouts"]]
            assert any(parsed), f"{event[options['field']]!r} matches no layout"
            event["@timestamp"] = next(p for p in parsed if p)
        elif kind == "rename":
            for field in options["fields"]:
                if field["from"] in event:
                    event[field["to"]] = event.pop(field["from"])
                else:
                    assert options.get("ignore_missing"), f"{field['from']} missing"
        elif kind == "drop_fields":
            for name in options["fields"]:
                event.pop(name, None)
        else:
            pytest.fail(f"filebeat processor {kind!r} is not interpreted by this test: extend it")
    return event


def test_filebeat_parses_our_lines_into_ecs_fields() -> None:
    config = yaml.safe_load((LOGS / "filebeat.yml").read_text())
    inputs = {item["id"]: item for item in config["filebeat.inputs"]}
    assert set(inputs) == {"stablegate-containers", "stablegate-files"}
    for record, line in real_lines():
        for input_id, raw in (
            ("stablegate-files", line),
            ("stablegate-containers", cri(line)),
            ("stablegate-containers", json.dumps({"log": line + "\n", "stream": "stdout", "time": "x"})),
        ):
            event = filebeat_input(inputs[input_id]["parsers"], raw)
            event = filebeat_processors(config["processors"], event)
            assert event["@timestamp"] == expected_time(record)
            assert event["message"] == record.getMessage()
            assert event["log.level"] == record.levelname.lower()
            assert event["service.name"] == "ledger" and event["log.logger"] == record.name
            assert "time" not in event and "level" not in event
            if record.exc_info:
                assert "ValueError: boom\nsecond line" in event["error.stack_trace"]
            if record.levelno == logging.WARNING:
                assert event["trace.id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
                assert event["stablegate.request_id"] == "req_0123"
                assert (event["endpointId"], event["reason"]) == ("we_1", "FAILING")


def test_the_readers_refuse_a_line_format_they_do_not_parse() -> None:
    # The checks have teeth: a plain-text line or a timestamp in another format is refused.
    with pytest.raises(json.JSONDecodeError):
        promtail([{"json": {"expressions": {"level": "level"}}}], "INFO ledger serving")
    assert go_time("2006-01-02T15:04:05.999Z07:00", "26/11/2026 03:03:50") is None
    with pytest.raises(AssertionError):
        rfc3339("2026-11-26 03:03:50")


def test_log_configs_are_where_the_docs_say(tmp_path: Path) -> None:
    docs = (repo_root() / "docs" / "observability.md").read_text()
    for name in ("deploy/observability/logs/promtail.yml", "deploy/observability/logs/filebeat.yml"):
        assert name in docs

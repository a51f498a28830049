"""The proto surface: buf lint is clean, breaking changes are caught, and generated code is fresh."""

from __future__ import annotations

import filecmp
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from gateway import codegen, parts
from gateway.cli import SERVICES
from service_runtime import config_view
from service_runtime.surface import all_services

REPO = codegen.REPO_ROOT


def buf() -> str:
    return parts.which("buf", "run ./dev setup (npm install @bufbuild/buf)")


def workspace_copy(dest: Path, ref: str | None = None) -> Path:
    """A buf workspace in `dest`: protos/ and buf.yaml from the work tree (or a git ref), plus staged deps."""
    dest.mkdir(parents=True, exist_ok=True)
    if ref is None:
        shutil.copytree(REPO / "protos", dest / "protos")
        shutil.copy(REPO / "buf.yaml", dest / "buf.yaml")
    else:
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", ref, "protos", "buf.yaml"], capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    codegen.stage_deps(dest / ".build" / "proto-deps")
    return dest


def run_buf(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([buf(), *args], cwd=cwd, capture_output=True, text=True, check=False)


def test_buf_lint_passes_on_our_protos(tmp_path: Path) -> None:
    result = run_buf(["lint"], workspace_copy(tmp_path / "ws"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_buf_lint_rejects_a_rule_breaking_proto(tmp_path: Path) -> None:
    ws = workspace_copy(tmp_path / "ws")
    bad = ws / "protos" / "stablegate" / "merchant" / "v1" / "bad_example.proto"
    bad.write_text(
        'syntax = "proto3";\n\npackage stablegate.merchant.v1;\n\n'
        "// Enum whose zero value is not <NAME>_UNSPECIFIED.\nenum Color {\n  // Red.\n  RED = 0;\n}\n\n"
        "// Lower-camel field name.\nmessage bad_message {\n  // Bad.\n  string someField = 1;\n}\n"
    )
    result = run_buf(["lint", "--error-format", "json"], ws)
    assert result.returncode != 0
    rules = {json.loads(line)["type"] for line in result.stdout.splitlines() if line.strip()}
    assert {"ENUM_VALUE_PREFIX", "ENUM_ZERO_VALUE_SUFFIX", "MESSAGE_PASCAL_CASE", "FIELD_LOWER_SNAKE_CASE"} <= rules


def test_buf_breaking_catches_a_wire_incompatible_change(tmp_path: Path) -> None:
    before = workspace_copy(tmp_path / "before")
    after = workspace_copy(tmp_path / "after")
    invoice = after / "protos" / "stablegate" / "merchant" / "v1" / "invoice.proto"
    text = invoice.read_text()
    changed = text.replace("string id = 1 ", "int64 id = 1 ", 1)
    assert changed != text, "expected `string id = 1 ` in invoice.proto"
    invoice.write_text(changed)
    result = run_buf(["breaking", "--against", str(before), "--error-format", "json"], after)
    assert result.returncode != 0
    rules = {json.loads(line)["type"] for line in result.stdout.splitlines() if line.strip()}
    assert "FIELD_WIRE_JSON_COMPATIBLE_TYPE" in rules


def breaking_against_baseline(ws: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """`buf breaking` of workspace `ws` against the committed v1 baseline, image against image.

    Image against image, because buf matches files by path and a workspace directory names them from its root
    (`protos/stablegate/...`) while an image names them from the module (`stablegate/...`): a directory against
    the image would find no file in common and pass whatever changed.
    """
    image = ws / "now.binpb"
    built = run_buf(["build", "--exclude-source-info", "-o", str(image)], ws)
    assert built.returncode == 0, built.stdout + built.stderr
    return run_buf(["breaking", str(image), "--against", str(codegen.BASELINE_PATH), *extra], ws)


def test_buf_breaking_passes_against_the_committed_v1_baseline(tmp_path: Path) -> None:
    """DECISIONS, "`buf breaking`": every change is checked against the committed v1 image with WIRE_JSON rules."""
    assert codegen.BASELINE_PATH.is_file(), "api-baseline/v1.binpb is missing: the v1 baseline is committed"
    result = breaking_against_baseline(workspace_copy(tmp_path / "now"))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("proto", "before", "after", "rule"),
    [
        ("merchant/v1/invoice.proto", "string id = 1 ", "int64 id = 1 ", "FIELD_WIRE_JSON_COMPATIBLE_TYPE"),
        ("merchant/v1/invoice.proto", "string id = 1 ", "string invoice_id = 1 ", "FIELD_SAME_JSON_NAME"),
        ("merchant/v1/invoice_service.proto", "rpc CancelInvoice(", "rpc AbandonInvoice(", "RPC_NO_DELETE"),
    ],
)
def test_the_committed_v1_baseline_refuses_a_breaking_change(
    tmp_path: Path, proto: str, before: str, after: str, rule: str
) -> None:
    """The gate bites: a wire-incompatible change or a removed RPC fails against the baseline, naming the rule."""
    ws = workspace_copy(tmp_path / "ws")
    path = ws / "protos" / "stablegate" / proto
    text = path.read_text()
    assert before in text, f"expected {before!r} in {proto}"
    path.write_text(text.replace(before, after, 1))
    result = breaking_against_baseline(ws, "--error-format", "json")
    assert result.returncode != 0
    rules = {json.loads(line)["type"] for line in result.stdout.splitlines() if line.strip()}
    assert rule in rules, result.stdout + result.stderr


def test_the_v1_baseline_holds_every_served_package(tmp_path: Path) -> None:
    """The baseline covers the whole API: every proto file of ours is in the committed image."""
    ours_now = {p.relative_to(REPO / "protos").as_posix() for p in codegen.proto_files()}
    listed = run_buf(["ls-files", str(codegen.BASELINE_PATH)], tmp_path)
    assert listed.returncode == 0, listed.stderr
    in_baseline = {line.strip() for line in listed.stdout.splitlines() if line.startswith("stablegate/")}
    assert in_baseline <= ours_now, f"removed since v1: {sorted(in_baseline - ours_now)}"
    assert in_baseline, "the baseline image lists no stablegate protos"


def test_generated_code_is_fresh(tmp_path: Path) -> None:
    out = tmp_path / "gen"
    codegen.generate(out)
    fresh = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    committed = sorted(
        p.relative_to(codegen.GEN_ROOT)
        for p in codegen.GEN_ROOT.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    )
    assert fresh == committed, "gen/ is stale: run ./dev codegen and commit the result"
    _, mismatch, errors = filecmp.cmpfiles(out, codegen.GEN_ROOT, [str(p) for p in fresh], shallow=False)
    assert not mismatch and not errors, f"gen/ is stale ({mismatch or errors}): run ./dev codegen and commit"


def test_every_proto_service_belongs_to_exactly_one_service_process() -> None:
    owners: dict[str, list[str]] = {}
    for name, entry in SERVICES.items():
        for proto_service in entry.load()[1].__globals__["SERVED"]:
            if proto_service.startswith("stablegate."):  # the edge also serves Envoy's own APIs
                owners.setdefault(proto_service, []).append(name)
    # The runtime's own services are served by every process (service_runtime/server.py), not by one.
    assert sorted(owners) == sorted(set(all_services()) - {config_view.SERVICE_NAME})
    assert all(len(v) == 1 for v in owners.values()), owners

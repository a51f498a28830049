"""Generate Python code and Envoy's descriptor set from `protos/`.

One command (`./dev codegen`, or `python -m gateway.codegen`) writes everything generated from the
protos into `gen/`: message modules with `.pyi` stubs, gRPC stubs with `.pyi` stubs, the descriptor set
Envoy's gRPC-JSON transcoder reads, and the OpenAPI document with its reference page (edge/openapi.py).
Then it regenerates the SDKs' generated code from that document (gateway/sdkgen.py, into `sdks/`).
Generated files are never edited by hand; the test suite regenerates into a temporary directory and fails if
anything differs from what is committed.
"""

from __future__ import annotations

import argparse
import importlib.resources
import shutil
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = REPO_ROOT / "protos"
GEN_ROOT = REPO_ROOT / "gen"
DEPS_ROOT = REPO_ROOT / ".build" / "proto-deps"
DESCRIPTOR_NAME = "stablegate_descriptor.binpb"
BASELINE_PATH = REPO_ROOT / "api-baseline" / "v1.binpb"
"""The committed v1 baseline: a buf image of the protos as v1 shipped (DECISIONS, "`buf breaking`"). `buf breaking`
gates every change against it with the WIRE_JSON rules (tests/protos/test_protos.py); docs/development.md, "The v1
baseline", says when it may be rewritten (never for `stablegate.merchant.v1`)."""
# google/api protos our files import; staged for buf, which cannot fetch buf.build deps offline.
GOOGLE_DEPS = (
    "google/api/annotations.proto",
    "google/api/http.proto",
    "google/api/field_behavior.proto",
)


ERROR_DETAIL_PROTOS = ("google/rpc/error_details.proto", "google/rpc/status.proto")


class CodegenError(RuntimeError):
    """protoc rejected the protos or a dependency is missing."""


def proto_files(proto_root: Path = PROTO_ROOT) -> list[Path]:
    """All `.proto` files under the proto root, sorted for a deterministic build."""
    return sorted(proto_root.rglob("*.proto"))


def site_packages_root() -> Path:
    """The directory holding the installed `google/api/*.proto` (from googleapis-common-protos)."""
    import google.api  # noqa: PLC0415 - located at call time

    return Path(next(iter(google.api.__path__))).parent.parent


def stage_deps(deps_root: Path = DEPS_ROOT) -> Path:
    """Copy the google/api protos our files import into a build-time directory (for buf)."""
    source = site_packages_root()
    for rel in GOOGLE_DEPS:
        target = deps_root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        data = (source / rel).read_bytes()
        if not target.exists() or target.read_bytes() != data:
            target.write_bytes(data)
    return deps_root


def generate(out_dir: Path = GEN_ROOT, proto_root: Path = PROTO_ROOT) -> list[Path]:
    """Regenerate all code into `out_dir` (replacing its `stablegate/` tree); return the files written."""
    from grpc_tools import protoc  # noqa: PLC0415 - a dev dependency, imported only when generating

    files = proto_files(proto_root)
    if not files:
        raise CodegenError(f"no .proto files under {proto_root}")
    shutil.rmtree(out_dir / "stablegate", ignore_errors=True)
    (out_dir / DESCRIPTOR_NAME).unlink(missing_ok=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    well_known = Path(str(importlib.resources.files("grpc_tools") / "_proto"))
    bindir = Path(sys.executable).parent
    args = [
        "grpc_tools.protoc",
        f"--plugin=protoc-gen-mypy={bindir / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={bindir / 'protoc-gen-mypy_grpc'}",
        f"-I{proto_root}",
        f"-I{site_packages_root()}",
        f"-I{well_known}",
        f"--python_out={out_dir}",
        f"--mypy_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        f"--mypy_grpc_out={out_dir}",
        *(str(f.relative_to(proto_root)) for f in files),
    ]
    code = protoc.main(args)
    if code != 0:
        raise CodegenError(f"protoc failed with exit code {code}; see its message above")
    # Envoy's descriptor also carries the error detail types, so the transcoder can print them in JSON errors.
    descriptor_args = [
        "grpc_tools.protoc",
        f"-I{proto_root}",
        f"-I{site_packages_root()}",
        f"-I{well_known}",
        f"--descriptor_set_out={out_dir / DESCRIPTOR_NAME}",
        "--include_imports",
        "--include_source_info",
        *(str(f.relative_to(proto_root)) for f in files),
        *ERROR_DETAIL_PROTOS,
    ]
    code = protoc.main(descriptor_args)
    if code != 0:
        raise CodegenError(f"protoc failed writing the descriptor set with exit code {code}")
    # The OpenAPI document and its reference page come from the descriptor set just written, so they are
    # checked fresh like the rest of gen/.
    from edge import openapi  # noqa: PLC0415 - edge imports nothing generated; imported only when generating

    openapi.write(out_dir / DESCRIPTOR_NAME, out_dir)
    return sorted(p for p in out_dir.rglob("*") if p.is_file())


def write_baseline(path: Path = BASELINE_PATH) -> Path:
    """Write the protos as they are now as a buf image (no source info: comments do not gate) to `path`."""
    from gateway import parts  # noqa: PLC0415 - only this command needs buf

    buf = parts.which("buf", "run ./dev setup (npm install @bufbuild/buf)")
    stage_deps()
    path.parent.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [buf, "build", "--exclude-source-info", "-o", str(path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise CodegenError(f"buf build failed: {result.stderr.strip() or result.stdout.strip()}")
    return path


def main(argv: list[str] | None = None) -> int:
    """Command line: regenerate `gen/` and stage buf's deps (or, with --write-v1-baseline, rewrite the baseline)."""
    parser = argparse.ArgumentParser(prog="codegen", description=__doc__)
    parser.add_argument("--out", type=Path, default=GEN_ROOT, help="output directory (default: gen/)")
    parser.add_argument(
        "--write-v1-baseline",
        action="store_true",
        help="rewrite api-baseline/v1.binpb from protos/ (a deliberate act: docs/development.md, 'The v1 baseline')",
    )
    parser.add_argument(
        "--sdk-out",
        type=Path,
        default=None,
        help="where the SDKs go (default: sdks/ when --out is gen/; else no SDKs)",
    )
    args = parser.parse_args(argv)
    if args.write_v1_baseline:
        try:
            print(f"codegen: wrote the v1 baseline to {write_baseline()}")
        except CodegenError as exc:
            print(f"codegen: {exc}", file=sys.stderr)
            return 1
        return 0
    stage_deps()
    try:
        written = generate(args.out)
    except CodegenError as exc:
        print(f"codegen: {exc}", file=sys.stderr)
        return 1
    print(f"codegen: wrote {len(written)} files to {args.out}")
    sdk_out: Path | None = (
        args.sdk_out if args.sdk_out is not None else (REPO_ROOT / "sdks" if args.out == GEN_ROOT else None)
    )
    if sdk_out is None:
        return 0  # gen/ elsewhere: the committed SDKs are not overwritten from it
    from gateway import sdkgen  # noqa: PLC0415 - the SDK generators are dev tools, needed only here

    try:
        sdk_files = sdkgen.generate(args.out / "openapi.json", sdk_out)
    except sdkgen.SdkGenError as exc:
        print(f"codegen: {exc}", file=sys.stderr)
        return 1
    print(f"codegen: wrote {len(sdk_files)} SDK files to {sdk_out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

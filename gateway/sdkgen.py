"""Generate the SDKs' code from the OpenAPI document the edge serves (`gen/openapi.json`).

Part of `./dev codegen` (gateway/codegen.py calls `generate` after writing `gen/`). It writes:

- `sdks/openapi.json`: the document the SDKs are generated from: the served one with the proto package prefix
  (`stablegate.merchant.v1.`) taken off schema names, so generated types read `Invoice`, not
  `StablegateMerchantV1Invoice`; nothing else changes;
- `sdks/python/stablegate_sdk/generated/`: the Python client from `openapi-python-client` (pinned in pyproject),
  with its post hooks off so the output depends only on the generator's version;
- `sdks/typescript/src/generated/schema.ts`: the TypeScript types from `openapi-typescript` (pinned in
  package.json), which `openapi-fetch` reads;
- `sdks/php/src/Model/`: the PHP SDK's models, from our own small generator (gateway/sdkgen_php.py).

Generated files are never edited by hand; `tests/sdks/test_sdk_codegen.py` regenerates from the protos into a
temporary directory and fails when anything differs from what is committed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from gateway import parts

REPO_ROOT = Path(__file__).resolve().parent.parent
SDK_ROOT = REPO_ROOT / "sdks"
SCHEMA_PREFIX = "stablegate.merchant.v1."
"""The proto package on every public schema name; the SDKs' types go without it."""
SDK_OPENAPI = Path("openapi.json")
PYTHON_GENERATED = Path("python") / "stablegate_sdk" / "generated"
TYPESCRIPT_GENERATED = Path("typescript") / "src" / "generated" / "schema.ts"
PHP_GENERATED = Path("php") / "src" / "Model"
GENERATED_PATHS = (SDK_OPENAPI, PYTHON_GENERATED, TYPESCRIPT_GENERATED, PHP_GENERATED)
"""What `generate` writes under the SDK root, relative to it."""
PYTHON_GENERATOR_CONFIG = "post_hooks: []\n"
"""openapi-python-client's config: no ruff post hooks (their output would follow whatever ruff is installed)."""


class SdkGenError(RuntimeError):
    """A generator is missing or refused the document."""


def sdk_document(served: dict[str, Any]) -> dict[str, Any]:
    """The served OpenAPI document with the proto package prefix taken off schema names (and their `$ref`s)."""
    schemas: dict[str, Any] = served.get("components", {}).get("schemas", {})
    renamed: dict[str, str] = {}
    for name in schemas:
        short = name.removeprefix(SCHEMA_PREFIX)
        if short in renamed.values() or (short != name and short in schemas):
            raise SdkGenError(f"schema {name!r} would collide with another as {short!r}")
        renamed[name] = short

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            out = {}
            for key, value in node.items():
                if key == "$ref" and isinstance(value, str) and value.startswith("#/components/schemas/"):
                    target = value.removeprefix("#/components/schemas/")
                    out[key] = "#/components/schemas/" + renamed.get(target, target)
                else:
                    out[key] = walk(value)
            return out
        if isinstance(node, list):
            return [walk(item) for item in node]
        return node

    document: dict[str, Any] = walk(served)
    if schemas:
        document["components"]["schemas"] = {renamed[k]: walk(v) for k, v in schemas.items()}
    return document


def _run(args: list[str], what: str) -> None:
    result = subprocess.run(args, capture_output=True, text=True, check=False, timeout=300)
    if result.returncode != 0:
        raise SdkGenError(f"{what} failed ({result.returncode}): {result.stdout[-2000:]}{result.stderr[-2000:]}")


def generate_python(document: Path, out_dir: Path) -> None:
    """The Python client package (no project metadata) from `document` into `out_dir`, replacing it."""
    try:
        tool = parts.which("openapi-python-client", "run ./dev setup")
    except parts.PartError as exc:
        raise SdkGenError(str(exc)) from None
    with tempfile.TemporaryDirectory(prefix="sdkgen-") as tmp:
        config = Path(tmp) / "config.yaml"
        config.write_text(PYTHON_GENERATOR_CONFIG)
        staged = Path(tmp) / "out"
        args = [str(tool), "generate", "--path", str(document), "--meta", "none", "--config", str(config)]
        _run(
            [*args, "--output-path", str(staged), "--fail-on-warning"],
            "openapi-python-client",
        )
        shutil.rmtree(out_dir, ignore_errors=True)
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(staged, out_dir, ignore=shutil.ignore_patterns("__pycache__"))


def generate_typescript(document: Path, out_file: Path) -> None:
    """The TypeScript `paths`/`components` types from `document` into `out_file`."""
    tool = parts.which("openapi-typescript", "run ./dev setup (npm install openapi-typescript)")
    out_file.parent.mkdir(parents=True, exist_ok=True)
    _run([tool, str(document), "--output", str(out_file)], "openapi-typescript")


def generate(served_openapi: Path, sdk_root: Path = SDK_ROOT) -> list[Path]:
    """Regenerate every SDK's generated code under `sdk_root` from the served document; the paths written."""
    document = sdk_document(json.loads(served_openapi.read_text()))
    doc_path = sdk_root / SDK_OPENAPI
    doc_path.parent.mkdir(parents=True, exist_ok=True)
    doc_path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    generate_python(doc_path, sdk_root / PYTHON_GENERATED)
    generate_typescript(doc_path, sdk_root / TYPESCRIPT_GENERATED)
    generate_php(document, sdk_root / PHP_GENERATED)
    return generated_files(sdk_root)


def generate_php(document: dict[str, Any], out_dir: Path) -> None:
    """The PHP models (gateway/sdkgen_php.py) into `out_dir`, replacing it."""
    from gateway.sdkgen_php import php_models  # noqa: PLC0415 - only when generating

    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    for name, source in php_models(document).items():
        (out_dir / name).write_text(source)


def generated_files(sdk_root: Path = SDK_ROOT) -> list[Path]:
    """Every generated file under `sdk_root`, relative to it, sorted (caches left out)."""
    found: list[Path] = []
    for rel in GENERATED_PATHS:
        path = sdk_root / rel
        if path.is_file():
            found.append(rel)
        elif path.is_dir():
            found += [p.relative_to(sdk_root) for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    return sorted(found)

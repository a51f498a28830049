"""The SDKs' generated code is fresh: regenerated from the protos (through the OpenAPI document) it matches what is
committed, and a proto change without regenerating makes it differ, so the test command fails."""

from __future__ import annotations

import filecmp
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from gateway import codegen, sdkgen


def regenerate(tmp: Path, proto_root: Path = codegen.PROTO_ROOT) -> Path:
    """Protos -> gen/ -> SDK code, all under `tmp`; the SDK root."""
    codegen.generate(tmp / "gen", proto_root)
    sdks = tmp / "sdks"
    sdkgen.generate(tmp / "gen" / "openapi.json", sdks)
    return sdks


def stale_files(fresh_root: Path) -> list[str]:
    """Generated files that differ between `fresh_root` and the committed sdks/, or exist on one side only."""
    fresh = sdkgen.generated_files(fresh_root)
    committed = sdkgen.generated_files(sdkgen.SDK_ROOT)
    only = sorted(str(p) for p in set(fresh) ^ set(committed))
    common = [str(p) for p in sorted(set(fresh) & set(committed))]
    _, mismatch, errors = filecmp.cmpfiles(fresh_root, sdkgen.SDK_ROOT, common, shallow=False)
    return only + mismatch + errors


@pytest.fixture(scope="module")
def fresh_sdks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return regenerate(tmp_path_factory.mktemp("sdkgen"))


def test_generated_sdk_code_is_fresh(fresh_sdks: Path) -> None:
    assert sdkgen.generated_files(fresh_sdks), "nothing was generated"
    stale = stale_files(fresh_sdks)
    assert not stale, f"SDK code is stale ({stale[:5]}): run ./dev codegen and commit sdks/"


def test_a_proto_field_changed_without_regenerating_makes_the_sdks_stale(tmp_path: Path) -> None:
    protos = tmp_path / "protos"
    shutil.copytree(codegen.PROTO_ROOT, protos)
    invoice = protos / "stablegate" / "merchant" / "v1" / "invoice.proto"
    text = invoice.read_text()
    changed = text.replace("string order_id =", "string order_reference =", 1)
    assert changed != text, "expected `string order_id =` in invoice.proto"
    invoice.write_text(changed)
    stale = stale_files(regenerate(tmp_path / "out", protos))
    assert "python/stablegate_sdk/generated/models/invoice.py" in stale
    assert "typescript/src/generated/schema.ts" in stale
    assert "php/src/Model/Invoice.php" in stale
    assert "openapi.json" in stale


def test_sdk_schema_names_drop_the_proto_package_and_keep_every_reference_resolvable() -> None:
    document = json.loads((sdkgen.SDK_ROOT / sdkgen.SDK_OPENAPI).read_text())
    schemas = document["components"]["schemas"]
    assert "Invoice" in schemas and not [name for name in schemas if name.startswith(sdkgen.SCHEMA_PREFIX)]
    refs = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "$ref":
                    refs.add(value)
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(document)
    dangling = {ref for ref in refs if ref.startswith("#/components/schemas/") and ref.split("/")[-1] not in schemas}
    assert not dangling


def test_two_schemas_that_would_share_a_short_name_are_refused() -> None:
    served: dict[str, Any] = {"components": {"schemas": {"stablegate.merchant.v1.Invoice": {}, "Invoice": {}}}}
    with pytest.raises(sdkgen.SdkGenError, match="collide"):
        sdkgen.sdk_document(served)

"""The committed contract artifacts are what solc makes from contracts/src today, for an EVM BSC runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chain import build


def test_contract_artifacts_are_fresh(tmp_path: Path) -> None:
    build.write(tmp_path)
    fresh = sorted(p.name for p in tmp_path.glob("*.json"))
    committed = sorted(p.name for p in build.ARTIFACTS_DIR.glob("*.json"))
    assert fresh == committed, "contracts/artifacts is stale: run ./dev contracts and commit the result"
    for name in fresh:
        assert (tmp_path / name).read_text() == (build.ARTIFACTS_DIR / name).read_text(), (
            f"contracts/artifacts/{name} is stale: run ./dev contracts and commit the result"
        )


def test_artifacts_name_the_pinned_compiler_and_bsc_evm_version() -> None:
    package = json.loads((build.REPO_ROOT / "package.json").read_text())
    assert package["dependencies"]["solc"] == build.SOLC_VERSION
    for name in build.CONTRACTS:
        artifact = json.loads((build.ARTIFACTS_DIR / f"{name}.json").read_text())
        assert artifact["compiler"]["version"].startswith(build.SOLC_VERSION + "+")
        assert artifact["compiler"]["evmVersion"] == "cancun"
        assert len(artifact["bytecode"]) > 2 and len(artifact["deployedBytecode"]) > 2


def test_a_warning_in_our_sources_fails_the_build(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for path in build.SOURCE_DIR.glob("*.sol"):
        (src / path.name).write_text(path.read_text())
    token = src / "StablegateTestToken.sol"
    # An unused local variable is a warning, not an error, in solc.
    token.write_text(token.read_text().replace("_mint(to, amount);", "uint256 unused = 1;\n        _mint(to, amount);"))
    with pytest.raises(build.BuildError, match="Unused local variable"):
        build.compile_sources(src)

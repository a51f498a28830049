"""Compile `contracts/src/*.sol` with solc from npm into `contracts/artifacts/*.json` (`./dev contracts`).

solc runs through its standard-JSON interface in Node (`node_modules/solc`, the version pinned in
package.json): the npm `solcjs` command line cannot set `evmVersion`, and solc's default EVM is newer than BSC
runs. Imports resolve only to `@openzeppelin/contracts` in node_modules. Every setting is fixed here, so the
artifacts are reproducible: the test suite compiles into a temporary directory and fails if anything differs
from what is committed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
SOURCE_DIR = REPO_ROOT / "contracts" / "src"
ARTIFACTS_DIR = REPO_ROOT / "contracts" / "artifacts"
NODE_MODULES = REPO_ROOT / "node_modules"

SOLC_VERSION = "0.8.37"
"""The solc release compiled with; package.json pins the same one exactly."""
EVM_VERSION = "cancun"
"""BSC has run Cancun's opcodes (MCOPY, transient storage) since its Haber hard fork (2024); solc's default is newer."""
OPTIMIZER_RUNS = 200
CONTRACTS = ("StablegateTestToken", "DepositForwarder", "ForwarderFactory", "Treasury")
"""Our contracts, each in `contracts/src/<name>.sol`; only these get artifacts."""

# Reads standard JSON on stdin, resolves imports under node_modules (OpenZeppelin only), prints the output.
_NODE_COMPILE = r"""
const fs = require("fs"), path = require("path");
const [solcPath, nodeModules] = process.argv.slice(1);
const solc = require(solcPath);
const input = fs.readFileSync(0, "utf8");
function findImports(name) {
  if (!name.startsWith("@openzeppelin/contracts/")) return { error: "import outside @openzeppelin/contracts: " + name };
  try { return { contents: fs.readFileSync(path.join(nodeModules, name), "utf8") }; }
  catch (e) { return { error: "not found in node_modules: " + name }; }
}
const output = JSON.parse(solc.compile(input, { import: findImports }));
process.stdout.write(JSON.stringify({ version: solc.version(), output }));
"""


class BuildError(RuntimeError):
    """The compiler is missing or rejected the sources; the message says what to do."""


def standard_input(source_dir: Path = SOURCE_DIR) -> dict[str, Any]:
    """The standard-JSON input of solc for our sources: fixed EVM version, optimizer and outputs."""
    sources = {f"contracts/src/{path.name}": {"content": path.read_text()} for path in sorted(source_dir.glob("*.sol"))}
    if not sources:
        raise BuildError(f"no .sol files under {source_dir}")
    return {
        "language": "Solidity",
        "sources": sources,
        "settings": {
            "evmVersion": EVM_VERSION,
            "optimizer": {"enabled": True, "runs": OPTIMIZER_RUNS},
            "metadata": {"bytecodeHash": "ipfs"},
            "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}},
        },
    }


def compile_sources(source_dir: Path = SOURCE_DIR, node_modules: Path = NODE_MODULES) -> dict[str, dict[str, Any]]:
    """Compile and return one artifact (plain JSON data) per contract in CONTRACTS."""
    solc = node_modules / "solc"
    node = shutil.which("node")
    if node is None or not (solc / "package.json").exists():
        raise BuildError("solc from npm is not installed: run ./dev setup (needs node and npm)")
    proc = subprocess.run(
        [node, "-e", _NODE_COMPILE, str(solc), str(node_modules)],
        input=json.dumps(standard_input(source_dir)),
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    if proc.returncode != 0:
        raise BuildError(f"solc failed to run: {proc.stderr.strip()[-2000:]}")
    result = json.loads(proc.stdout)
    version: str = result["version"]
    if not version.startswith(SOLC_VERSION + "+"):
        raise BuildError(f"node_modules has solc {version}, expected {SOLC_VERSION}: run ./dev setup")
    output = result["output"]
    # Warnings about our own sources fail the build too; OpenZeppelin's are theirs to fix.
    errors = [
        e
        for e in output.get("errors", [])
        if e.get("severity") == "error" or e.get("sourceLocation", {}).get("file", "").startswith("contracts/src/")
    ]
    if errors:
        raise BuildError("solc rejected the sources:\n" + "\n".join(e["formattedMessage"] for e in errors))
    artifacts: dict[str, dict[str, Any]] = {}
    for name in CONTRACTS:
        source = f"contracts/src/{name}.sol"
        try:
            compiled = output["contracts"][source][name]
        except KeyError:
            raise BuildError(f"{source} does not define contract {name}") from None
        artifacts[name] = {
            "contractName": name,
            "sourceName": source,
            "compiler": {"version": version, "evmVersion": EVM_VERSION, "optimizerRuns": OPTIMIZER_RUNS},
            "abi": compiled["abi"],
            "bytecode": "0x" + compiled["evm"]["bytecode"]["object"],
            "deployedBytecode": "0x" + compiled["evm"]["deployedBytecode"]["object"],
        }
    return artifacts


def render(artifact: dict[str, Any]) -> str:
    """An artifact as the exact text committed (sorted keys, two-space indent, final newline)."""
    return json.dumps(artifact, indent=2, sort_keys=True) + "\n"


def write(out_dir: Path = ARTIFACTS_DIR, source_dir: Path = SOURCE_DIR) -> list[Path]:
    """Compile and write `<name>.json` per contract into `out_dir`, removing artifacts of removed contracts."""
    artifacts = compile_sources(source_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.glob("*.json"):
        if stale.stem not in artifacts:
            stale.unlink()
    written = []
    for name, artifact in artifacts.items():
        path = out_dir / f"{name}.json"
        path.write_text(render(artifact))
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    """Command line: compile the contracts into contracts/artifacts (or --out)."""
    parser = argparse.ArgumentParser(prog="python -m chain.build", description=__doc__)
    parser.add_argument(
        "--out", type=Path, default=ARTIFACTS_DIR, help="output directory (default: contracts/artifacts)"
    )
    args = parser.parse_args(argv)
    try:
        written = write(args.out)
    except BuildError as exc:
        print(f"contracts: {exc}", file=sys.stderr)
        return 1
    print(f"contracts: solc {SOLC_VERSION} (evmVersion {EVM_VERSION}) wrote {len(written)} artifacts to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

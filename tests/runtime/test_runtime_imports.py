"""The shared runtime depends on no service and not on the composition root above them (DECISIONS)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

from gateway.parts import REPO_ROOT

RUNTIME = REPO_ROOT / "service_runtime"
# Ours, above the runtime: the services and the composition root. Generated protos (`stablegate.*`) are the
# contract every layer shares, so the runtime may read them.
FORBIDDEN = ("gateway", "ledger", "watcher", "settlement", "signer", "edge")


def _imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_no_runtime_module_names_a_service_or_the_composition_root_in_any_import() -> None:
    # Every import statement, including those inside functions that run only on some paths.
    offenders = {
        str(path.relative_to(REPO_ROOT)): sorted(_imported_roots(path) & set(FORBIDDEN))
        for path in sorted(RUNTIME.rglob("*.py"))
    }
    offenders = {name: roots for name, roots in offenders.items() if roots}
    assert offenders == {}


def test_importing_every_runtime_module_loads_no_service() -> None:
    # The walk as the interpreter does it: whatever importing the runtime pulls in, transitively.
    modules = sorted(f"service_runtime.{p.stem}" for p in RUNTIME.glob("*.py") if p.stem != "__init__")
    script = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True, cwd=REPO_ROOT)
    loaded = set(json.loads(out.stdout))
    assert "service_runtime" in loaded
    assert loaded & set(FORBIDDEN) == set()


def test_the_walk_would_catch_a_service_import(tmp_path: Path) -> None:
    # The check itself is live: a module that imports a service is reported.
    bad = tmp_path / "bad.py"
    bad.write_text("def f() -> None:\n    from ledger.app import definition\n")
    assert _imported_roots(bad) & set(FORBIDDEN) == {"ledger"}

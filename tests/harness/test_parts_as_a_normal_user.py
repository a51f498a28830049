"""The harness works for a normal user too: Postgres, Redis, anvil and a SoftHSM token, without root.

CI runs as root, so this test drops to the unprivileged `nobody` user and runs the harness there with Debian's
own Python (the project's venv Python lives under /root, which other users cannot enter; `gateway.parts`
needs only the standard library). Run as a normal user, it runs the same script as that user.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from gateway import parts

SCRIPT = r"""
import json, os, shutil, subprocess, sys
from gateway import parts

assert os.geteuid() != 0
base = parts.make_shared_dir("stablegate-user-")
report = {}
started = []
try:
    plan, spec = parts.prepare_postgres(base, parts.free_port())
    assert plan.user is None  # a normal user runs Postgres as itself
    started.append(parts.start(spec))
    parts.create_database(plan)
    psql = str(parts.postgres_bin_dir() / "psql")
    out = subprocess.run([psql, "-h", "127.0.0.1", "-p", str(plan.port), "-U", "postgres", "-d", "stablegate",
                          "-tAc", "SELECT current_user || ':' || 42"], capture_output=True, text=True, check=True)
    report["postgres"] = out.stdout.strip()
    redis_port = parts.free_port()
    started.append(parts.start(parts.prepare_redis(base, redis_port)))
    report["redis"] = parts.redis_ping(redis_port)
    anvil_port = parts.free_port()
    started.append(parts.start(parts.prepare_anvil(anvil_port)))
    report["anvil"] = parts.json_rpc(f"http://127.0.0.1:{anvil_port}", "eth_chainId")
    token = parts.init_softhsm_token(base / "hsm", "user-token")
    listing = subprocess.run(["softhsm2-util", "--show-slots"], capture_output=True, text=True,
                             env={**os.environ, **token.env})
    report["softhsm"] = "user-token" in listing.stdout
    ports = [plan.port, redis_port, anvil_port]
finally:
    for proc in reversed(started):
        proc.stop()
    shutil.rmtree(base, ignore_errors=True)
report["leftover_ports"] = [p for p in ports if parts.port_is_open(p)]
report["leftover_groups"] = [p.pid for p in started if p.group_alive()]
print(json.dumps(report))
"""


def test_real_parts_start_and_stop_as_an_unprivileged_user() -> None:
    python = "/usr/bin/python3"
    if not Path(python).exists():
        pytest.fail("Debian's python3 is missing: ./dev setup installs it")
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(parts.REPO_ROOT),
        "HOME": tempfile.gettempdir(),
        "LANG": "C.UTF-8",
    }
    argv = [python, "-c", SCRIPT]
    if os.geteuid() == 0:
        runuser = shutil.which("runuser")
        assert runuser is not None
        argv = [runuser, "-u", "nobody", "--", *argv]
    result = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=90, check=False, cwd="/")
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {
        "postgres": "postgres:42",
        "redis": True,
        "anvil": "0x61",
        "softhsm": True,
        "leftover_ports": [],
        "leftover_groups": [],
    }

"""The images' HEALTHCHECK and the pods' probes: `python -m service_runtime.healthprobe` over the mesh's mTLS."""

from __future__ import annotations

import asyncio
import os
import sys

from service_runtime.config import ServiceSettings, load_settings
from service_runtime.devcerts import DevMesh
from service_runtime.mesh import Role
from service_runtime.server import ServiceDefinition, ServiceRuntime


def probe_env(pki: DevMesh, port: int | str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STABLEGATE_")}
    env.update(pki.files(Role.LEDGER).env("ledger"))
    env["STABLEGATE_LEDGER_GRPC_PORT"] = str(port)
    return env


async def run_probe(env: dict[str, str], service: str = "ledger") -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "service_runtime.healthprobe",
        service,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_probe_exits_0_while_serving_and_1_once_draining_with_the_services_own_certificate(
    mesh_pki: DevMesh,
) -> None:
    settings = load_settings(
        ServiceSettings,
        grpc_port=0,
        metrics_port=None,
        drain_delay_seconds=30,
        tls=mesh_pki.files(Role.LEDGER).settings(),
    )
    runtime = ServiceRuntime(settings, ServiceDefinition("probe", lambda server: None, ()))
    ports = await runtime.start()
    env = probe_env(mesh_pki, ports.grpc_port)
    code, out, err = await run_probe(env)
    assert (code, out.strip()) == (0, "ledger: SERVING"), err
    runtime.request_stop()
    drained = asyncio.ensure_future(runtime.wait_and_drain())
    await asyncio.sleep(0.3)
    code, out, err = await run_probe(env)
    assert (code, out.strip()) == (1, "ledger: NOT_SERVING"), err
    drained.cancel()
    await runtime.server.stop(0)


async def test_probe_fails_when_nothing_answers_and_names_a_missing_variable(mesh_pki: DevMesh) -> None:
    from gateway.parts import free_port

    code, _, err = await run_probe(probe_env(mesh_pki, free_port()))
    assert code == 1
    assert "did not answer" in err
    env = probe_env(mesh_pki, 50051)
    del env["STABLEGATE_LEDGER_TLS__KEY_FILE"]
    code, _, err = await run_probe(env)
    assert code == 2
    assert "STABLEGATE_LEDGER_TLS__KEY_FILE is not set" in err
    code, _, err = await run_probe(probe_env(mesh_pki, "http"))
    assert code == 2
    assert "GRPC_PORT must be a port number" in err
    code, _, err = await run_probe(env, service="postgres")
    assert code == 2
    assert "unknown service 'postgres'" in err

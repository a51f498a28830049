"""docs/security.md's role tables are the code's: each service's ROLES, rule for rule."""

from __future__ import annotations

import importlib
import re

from gateway.cli import SERVICES
from gateway.parts import REPO_ROOT


def documented_roles() -> dict[str, dict[str, frozenset[str]]]:
    """{service: {rule: roles}} from the tables under each `### <service> (` heading."""
    tables: dict[str, dict[str, frozenset[str]]] = {}
    current: str | None = None
    for line in (REPO_ROOT / "docs" / "security.md").read_text().splitlines():
        heading = re.match(r"^### (\w+) \(", line)
        if heading:
            current = heading.group(1)
            tables[current] = {}
            continue
        if line.startswith("## "):
            current = None
        row = re.match(r"^\| `([^`]+)` \| ([a-z, ]+) \|$", line)
        if current is not None and row:
            tables[current][row.group(1)] = frozenset(r.strip() for r in row.group(2).split(","))
    return tables


def test_every_service_roles_table_is_documented_exactly() -> None:
    documented = documented_roles()
    assert sorted(documented) == sorted(SERVICES)
    for service in SERVICES:
        code = importlib.import_module(f"{service}.app").ROLES
        assert {k: frozenset(str(r) for r in v) for k, v in code.items()} == documented[service], service

"""Find proto service descriptors by full name in the generated code under the `stablegate` namespace."""

from __future__ import annotations

import importlib
from functools import cache
from pathlib import Path

import grpc
from google.protobuf import descriptor_pool
from google.protobuf.descriptor import ServiceDescriptor

from service_runtime.unimplemented import unimplemented_handler


@cache
def load_generated_modules() -> tuple[str, ...]:
    """Import every generated `*_pb2` module so the default descriptor pool knows all our services."""
    import stablegate  # noqa: PLC0415 - the generated namespace package

    # Generated packages have no __init__.py (namespace packages), which pkgutil does not list: walk the files.
    names: set[str] = set()
    for root in (Path(p) for p in stablegate.__path__):
        if root.is_dir():
            for path in root.rglob("*_pb2.py"):
                rel = path.relative_to(root).with_suffix("")
                names.add(".".join(("stablegate", *rel.parts)))
    for name in sorted(names):
        importlib.import_module(name)
    return tuple(sorted(names))


def find_service(full_name: str) -> ServiceDescriptor:
    """The descriptor of a proto service, e.g. `stablegate.merchant.v1.InvoiceService`."""
    load_generated_modules()
    return descriptor_pool.Default().FindServiceByName(full_name)


def all_services() -> list[str]:
    """Full names of every `stablegate.*` service in the generated code."""
    pool = descriptor_pool.Default()
    names: set[str] = set()
    for module in load_generated_modules():
        file_name = importlib.import_module(module).DESCRIPTOR.name
        names.update(s.full_name for s in pool.FindFileByName(file_name).services_by_name.values())
    return sorted(names)


def register_unimplemented(server: grpc.aio.Server, service_names: tuple[str, ...]) -> None:
    """Serve each named proto service with every RPC answering UNIMPLEMENTED."""
    server.add_generic_rpc_handlers(tuple(unimplemented_handler(find_service(n)) for n in service_names))

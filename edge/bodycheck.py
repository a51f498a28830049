"""Unknown JSON body fields are refused, like unknown query parameters; enums are spelt by name.

Envoy's transcoder drops a JSON field the request message does not have; the caller would never learn that a
misspelt field (`"ammount"`) did nothing. The edge's key check sees each request's body (ext_authz
`with_request_body`) and refuses one naming a field the operation's request message lacks, at any depth, with
400 `FIELD_UNKNOWN` naming it. It also refuses an enum given by number (`"status": 1`, `?status=1`), which
proto3 JSON would accept but the API documents by name only: 400 `ENUM_VALUE_INVALID`. The fields come from
the same descriptor set the transcoder reads.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.api import annotations_pb2
from google.protobuf import descriptor_pb2

from edge.envoy_config import PUBLIC_PACKAGES, path_regex

_F = descriptor_pb2.FieldDescriptorProto
_VERBS = ("get", "put", "post", "delete", "patch")
_STRING_TYPES = frozenset({".google.protobuf.Timestamp", ".google.protobuf.Duration", ".google.protobuf.FieldMask"})
"""Well-known types whose JSON form is a string; the transcoder would also take an object, silently."""


@dataclass(frozen=True)
class _Operation:
    verb: str
    path: re.Pattern[str]
    body_message: str | None
    """Full name (with a leading dot) of the message the JSON body is; None without a body."""
    request_message: str
    """The request message, whose fields not in the path or body are query parameters."""
    route_group: str
    """The rate-limit group: `<service>:read` for GET-bound methods, `<service>:write` for the rest."""


@dataclass(frozen=True)
class Refusal:
    """Why a request is refused: the field (dotted), the reason and a message."""

    field: str
    reason: str
    message: str


class BodyFields:
    """The JSON body fields each REST operation of the public services may carry."""

    def __init__(self, descriptor_path: Path, packages: Sequence[str] = PUBLIC_PACKAGES) -> None:
        fds = descriptor_pb2.FileDescriptorSet.FromString(descriptor_path.read_bytes())
        self._messages: dict[str, descriptor_pb2.DescriptorProto] = {}
        for file in fds.file:
            for message in file.message_type:
                self._collect(f".{file.package}", message)
        self._operations: list[_Operation] = []
        for file in fds.file:
            if not file.package.startswith(tuple(p.rstrip(".") for p in packages)):
                continue
            for service in file.service:
                for method in service.method:
                    rule = method.options.Extensions[annotations_pb2.http]
                    verb = rule.WhichOneof("pattern")
                    if verb not in _VERBS:
                        continue
                    body_message: str | None = method.input_type if rule.body == "*" else None
                    if rule.body and rule.body != "*":
                        field = next(f for f in self._messages[method.input_type].field if f.name == rule.body)
                        body_message = field.type_name if field.type == _F.TYPE_MESSAGE else None
                    template = str(getattr(rule, verb))
                    pattern = re.compile(path_regex(template))
                    service_name = f"{file.package}.{service.name}"
                    group = f"{service_name}:{'read' if verb == 'get' else 'write'}"
                    self._operations.append(_Operation(verb.upper(), pattern, body_message, method.input_type, group))

    def _collect(self, scope: str, message: descriptor_pb2.DescriptorProto) -> None:
        name = f"{scope}.{message.name}"
        self._messages[name] = message
        for nested in message.nested_type:
            self._collect(name, nested)

    def _operation(self, method: str, route: str) -> _Operation | None:
        return next((o for o in self._operations if o.verb == method and o.path.match(route)), None)

    def route_group(self, method: str, path: str) -> str | None:
        """The rate-limit group of a REST request (`<service>:read|write`, as Envoy's routes name them).

        None for a path no operation matches.
        """
        operation = self._operation(method, path.partition("?")[0])
        return None if operation is None else operation.route_group

    def refusal(self, method: str, path: str, body: bytes) -> Refusal | None:
        """Why the request's body or query is refused (an unknown field, an enum by number); None if it is not.

        Bodies that are not a JSON object, and paths no operation matches, are left to the transcoder (which
        refuses what it cannot parse).
        """
        route, _, query = path.partition("?")
        operation = self._operation(method, route)
        if operation is None:
            return None
        found = self._query_refusal(operation.request_message, query) if query else None
        if found is not None or not body or operation.body_message is None:
            return found
        try:
            document = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return None
        return self._body_refusal(operation.body_message, document, "")

    def _query_refusal(self, message_name: str, query: str) -> Refusal | None:
        fields = {f.name: f for f in self._messages[message_name].field}
        fields |= {f.json_name: f for f in self._messages[message_name].field}
        for name, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
            field = fields.get(name)
            if field is not None and field.type == _F.TYPE_ENUM and _numeric(value):
                return _by_number(name)
        return None

    def _body_refusal(self, message_name: str, value: Any, prefix: str) -> Refusal | None:
        message = self._messages.get(message_name)
        if message is None or not isinstance(value, Mapping) or message_name.startswith(".google.protobuf."):
            return None
        fields = {f.name: f for f in message.field} | {f.json_name: f for f in message.field}
        for key, item in value.items():
            field = fields.get(key)
            name = f"{prefix}{key}"
            if field is None:
                return Refusal(
                    name[:100], "FIELD_UNKNOWN", f"the body has a field this operation does not take: {name}"[:200]
                )
            found = self._field_refusal(field, item, name)
            if found is not None:
                return found
        return None

    def _field_refusal(self, field: descriptor_pb2.FieldDescriptorProto, item: Any, name: str) -> Refusal | None:
        items = item if isinstance(item, list) else [item]
        if field.type == _F.TYPE_ENUM:
            numbers = any(isinstance(i, int | float) and not isinstance(i, bool) for i in items)
            return _by_number(name) if numbers else None
        if field.type != _F.TYPE_MESSAGE:
            return _not_scalar(name) if any(isinstance(i, Mapping | list) for i in items) else None
        if field.type_name in _STRING_TYPES:
            if any(i is not None and not isinstance(i, str) for i in items):
                return Refusal(name[:100], "FIELD_INVALID", f'{name[:100]} is a string (e.g. "900s", an RFC 3339 time)')
            return None
        entry = self._messages.get(field.type_name)
        if entry is not None and entry.options.map_entry:
            return self._map_refusal(entry, item, name)
        found = (self._body_refusal(field.type_name, element, f"{name}.") for element in items)
        return next((f for f in found if f is not None), None)

    def _map_refusal(self, entry: descriptor_pb2.DescriptorProto, item: Any, name: str) -> Refusal | None:
        if not isinstance(item, Mapping):
            return None
        value_field = next(f for f in entry.field if f.name == "value")
        for map_key, map_value in item.items():
            if value_field.type == _F.TYPE_MESSAGE:
                found = self._body_refusal(value_field.type_name, map_value, f"{name}.{map_key}.")
            else:
                # The transcoder would turn an object here into a corrupt message instead of refusing it.
                found = _not_scalar(f"{name}.{map_key}") if isinstance(map_value, Mapping | list | None) else None
            if found:
                return found
        return None


def _not_scalar(name: str) -> Refusal:
    return Refusal(name[:100], "FIELD_INVALID", f"{name[:100]} takes a single value, not an object, list or null")


def _numeric(value: str) -> bool:
    return bool(re.fullmatch(r"-?[0-9]+", value.strip()))


def _by_number(name: str) -> Refusal:
    return Refusal(
        name[:100],
        "ENUM_VALUE_INVALID",
        f"{name[:100]} takes an enum value's name (e.g. INVOICE_STATUS_OPEN), not a number",
    )

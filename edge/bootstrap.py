"""Envoy bootstrap for the edge.

Today this is the thinnest edge: an admin interface (for `/ready`) and a public listener that answers
`GET /healthz` for load balancers. The Edge issue replaces the route table with the gRPC-JSON transcoder
generated from the protos' `google.api.http` rules.
"""

from __future__ import annotations

from typing import Any

import yaml


def envoy_config(*, listen_port: int, admin_port: int, host: str = "127.0.0.1") -> dict[str, Any]:
    """The Envoy bootstrap as a dict: admin on `admin_port`, the public listener on `listen_port`."""
    return {
        "admin": {"address": {"socket_address": {"address": host, "port_value": admin_port}}},
        "static_resources": {
            "listeners": [
                {
                    "name": "public",
                    "address": {"socket_address": {"address": host, "port_value": listen_port}},
                    "filter_chains": [
                        {
                            "filters": [
                                {
                                    "name": "envoy.filters.network.http_connection_manager",
                                    "typed_config": {
                                        "@type": "type.googleapis.com/envoy.extensions.filters.network."
                                        "http_connection_manager.v3.HttpConnectionManager",
                                        "stat_prefix": "public",
                                        "server_header_transformation": "PASS_THROUGH",
                                        "route_config": {
                                            "name": "public",
                                            "virtual_hosts": [
                                                {
                                                    "name": "stablegate",
                                                    "domains": ["*"],
                                                    "routes": [
                                                        {
                                                            "match": {"path": "/healthz"},
                                                            "direct_response": {
                                                                "status": 200,
                                                                "body": {"inline_string": '{"status":"ok"}'},
                                                            },
                                                        }
                                                    ],
                                                }
                                            ],
                                        },
                                        "http_filters": [
                                            {
                                                "name": "envoy.filters.http.router",
                                                "typed_config": {
                                                    "@type": "type.googleapis.com/envoy.extensions.filters.http."
                                                    "router.v3.Router"
                                                },
                                            }
                                        ],
                                    },
                                }
                            ]
                        }
                    ],
                }
            ]
        },
    }


def envoy_yaml(*, listen_port: int, admin_port: int) -> str:
    """The Envoy bootstrap rendered as YAML."""
    return yaml.safe_dump(envoy_config(listen_port=listen_port, admin_port=admin_port), sort_keys=False)

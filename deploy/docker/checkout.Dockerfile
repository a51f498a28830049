# syntax=docker/dockerfile:1
# The checkout image (the hosted checkout page; its gRPC port serves health only). Build from the repository root:
#   docker build -f deploy/docker/checkout.Dockerfile -t stablegate/checkout:$(git rev-parse --short HEAD) .
# Base pinned by digest (deploy/docker/README.md says where the digest comes from and how to move it).
# Runs as uid 10001 with a read-only root filesystem: Python writes no bytecode at run time (compiled here),
# and the only writable paths are the volumes the pod mounts (/tmp).

FROM python:3.11.10-slim-bookworm@sha256:5148c0e4bbb64271bca1d3322360ebf4bfb7564507ae32dd639322e4952a6b16 AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
COPY deploy/docker/requirements.txt /tmp/requirements.txt
RUN /opt/venv/bin/pip install --require-virtualenv -r /tmp/requirements.txt
# xds-protos ships an older copy of opentelemetry/proto/*: opentelemetry-proto's must win (./dev does the same).
RUN /opt/venv/bin/pip install --require-virtualenv --no-deps --force-reinstall \
    "opentelemetry-proto==$(/opt/venv/bin/python -c 'import importlib.metadata as m; print(m.version("opentelemetry-proto"))')"
COPY service_runtime/ /app/service_runtime/
COPY gen/stablegate/runtime/ /app/gen/stablegate/runtime/
COPY chain/__init__.py /app/chain/__init__.py
COPY chain/networks.py /app/chain/networks.py
COPY checkout/ /app/checkout/
COPY gen/stablegate/ledger/ /app/gen/stablegate/ledger/
COPY gen/stablegate/merchant/ /app/gen/stablegate/merchant/
RUN /opt/venv/bin/python -m compileall -q /app

FROM python:3.11.10-slim-bookworm@sha256:5148c0e4bbb64271bca1d3322360ebf4bfb7564507ae32dd639322e4952a6b16
RUN groupadd --system --gid 10001 stablegate \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin stablegate
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
WORKDIR /app
ENV PATH=/opt/venv/bin:$PATH PYTHONPATH=/app:/app/gen PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    STABLEGATE_CHECKOUT_PROFILE=prod STABLEGATE_CHECKOUT_HOST=0.0.0.0 \
    STABLEGATE_CHECKOUT_GRPC_PORT=50051 STABLEGATE_CHECKOUT_METRICS_PORT=9090 STABLEGATE_CHECKOUT_HTTP_PORT=8080
USER 10001:10001
EXPOSE 50051 9090 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-m", "service_runtime.healthprobe", "checkout"]
ENTRYPOINT ["python", "-m", "checkout"]

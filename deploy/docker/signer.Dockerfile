# syntax=docker/dockerfile:1
# The signer image: the signing enclave and nothing else. It holds no other service's code: only signer/, the
# shared runtime (service_runtime/), the two stdlib-only network-profile files the runtime's settings read
# (chain/__init__.py, chain/networks.py), the signer's generated protos and the runtime's (its configuration view;
# tests/deploy/test_dockerfiles.py
# checks every COPY). Build from the repository root:
#   docker build -f deploy/docker/signer.Dockerfile -t stablegate/signer:$(git rev-parse --short HEAD) .
# Base pinned by digest (deploy/docker/README.md). Runs as uid 10001 on a read-only root filesystem; writable:
# /tmp, the signer's state volume (/var/lib/stablegate/signer: its SQLite store) and, with SoftHSM only, the
# token directory (/var/lib/softhsm/tokens). Production mounts its HSM vendor's PKCS#11 module and points
# STABLEGATE_SIGNER_PKCS11_MODULE at it; SoftHSM is in the image for the dev overlay and tests.

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
COPY chain/__init__.py chain/networks.py /app/chain/
COPY signer/ /app/signer/
COPY gen/stablegate/signer/ /app/gen/stablegate/signer/
RUN /opt/venv/bin/python -m compileall -q /app

FROM python:3.11.10-slim-bookworm@sha256:5148c0e4bbb64271bca1d3322360ebf4bfb7564507ae32dd639322e4952a6b16
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends softhsm2 >/dev/null \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 stablegate \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin stablegate \
 && mkdir -p /var/lib/stablegate/signer \
 && chown 10001:10001 /var/lib/stablegate/signer
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
WORKDIR /app
ENV PATH=/opt/venv/bin:$PATH PYTHONPATH=/app:/app/gen PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    STABLEGATE_SIGNER_PROFILE=prod STABLEGATE_SIGNER_HOST=0.0.0.0 \
    STABLEGATE_SIGNER_GRPC_PORT=50051 STABLEGATE_SIGNER_METRICS_PORT=9090 \
    STABLEGATE_SIGNER_STATE_PATH=/var/lib/stablegate/signer/signer-state.sqlite3
USER 10001:10001
VOLUME ["/var/lib/stablegate/signer"]
EXPOSE 50051 9090
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-m", "service_runtime.healthprobe", "signer"]
ENTRYPOINT ["python", "-m", "signer"]

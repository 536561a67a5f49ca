# syntax=docker/dockerfile:1
#
# xtenant-pdp container image.
#
#   docker build -t xtenant-pdp:0.1.0 .
#   docker run --rm -p 9090:9090 -p 9191:9191 -p 9464:9464 xtenant-pdp:0.1.0
#
# The default command serves the bundled example policy on TCP 9090 (decisions), 9191 (grpc.health.v1
# only, for probes) and 9464 (Prometheus /metrics). Kubernetes manifests replace the command's
# arguments (deploy/README.md). tests/test_dockerfile.py lints this file with hadolint and runs the
# ENTRYPOINT + CMD below as a local process.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---------------------------------------------------------------- build: a venv with the package
FROM ${PYTHON_IMAGE} AS build

# tini: a real init as PID 1, so SIGTERM reaches the server and zombies are reaped.
RUN apt-get update \
    && apt-get install --yes --no-install-recommends tini=0.19.0-1+b3 \
    && rm -rf /var/lib/apt/lists/*

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore

RUN python -m venv /opt/xtenant-pdp

WORKDIR /src
COPY pyproject.toml README.md ./
COPY xtenant_pdp ./xtenant_pdp

# grpcio-tools (protoc) is only needed to regenerate code from proto/, pip and setuptools only to
# install: none of them goes into the runtime image. The example policy gets a stable path.
RUN /opt/xtenant-pdp/bin/pip install --no-cache-dir . \
    && /opt/xtenant-pdp/bin/pip uninstall --yes grpcio-tools setuptools wheel pip \
    && ln -s "$(/opt/xtenant-pdp/bin/python -c 'import pathlib, xtenant_pdp; print(pathlib.Path(xtenant_pdp.__file__).parent / "examples")')" /opt/xtenant-pdp/examples \
    && /opt/xtenant-pdp/bin/xtenant-pdp validate /opt/xtenant-pdp/examples/policy

# ---------------------------------------------------------------- runtime: slim Python + the venv
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="xtenant-pdp" \
      org.opencontainers.image.description="Policy decision point for Microsoft Entra cross-tenant access settings" \
      org.opencontainers.image.licenses="Apache-2.0"

COPY --from=build /usr/bin/tini-static /usr/bin/tini
COPY --from=build /opt/xtenant-pdp /opt/xtenant-pdp

ENV PATH=/opt/xtenant-pdp/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1

# Numeric, so Kubernetes can check runAsNonRoot without reading /etc/passwd.
USER 10001:10001
WORKDIR /opt/xtenant-pdp

# 9090 decisions (gRPC), 9191 grpc.health.v1 only (probes), 9464 Prometheus /metrics.
EXPOSE 9090 9191 9464

ENTRYPOINT ["/usr/bin/tini", "--", "/opt/xtenant-pdp/bin/xtenant-pdp"]
CMD ["serve", "--policy", "/opt/xtenant-pdp/examples/policy", "--listen", "0.0.0.0:9090", "--health-listen", "0.0.0.0:9191", "--metrics-listen", "0.0.0.0:9464"]

# syntax=docker/dockerfile:1.7
#
# Targets (the last one is the default):
#   ingestion              OpenMetadata ingestion environment (its own lock file),
#                          for workflows run as Kubernetes pods
#   matrix-profile-worker  the analysis worker run by the matrix-profile Kubernetes Jobs
#   code-server            the Dagster gRPC code server of the `moderate` location
#
# Build with `task build-image` (or `docker build --target <target> .`).

FROM ghcr.io/astral-sh/uv:0.13.8 AS uv

# Dependencies first, from the lock file only: this layer is rebuilt only when
# pyproject.toml or uv.lock change, not when the sources do.
FROM python:3.11.14-slim-bookworm AS builder
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/venv
WORKDIR /src
COPY moderate/pyproject.toml moderate/uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-install-project
COPY moderate/moderate ./moderate
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-editable
# Compile stumpy's numba kernels into their on-disk cache (about a minute) so no
# analysis run pays it; a node with another CPU model compiles again at run time.
RUN /opt/venv/bin/python -m moderate.matrix_profile.worker.warmup

# The OpenMetadata ingestion package pins libraries that break Dagster
# (antlr4-python3-runtime), so it lives in its own environment, built from its own
# lock file, at /opt/ingestion (where the code location looks for it).
FROM python:3.11.14-slim-bookworm AS ingestion-builder
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/ingestion/.venv
WORKDIR /opt/ingestion
COPY openmetadata-ingestion/pyproject.toml openmetadata-ingestion/uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-install-project
COPY openmetadata-ingestion/run_workflow.py ./

FROM python:3.11.14-slim-bookworm AS runtime
RUN groupadd --system --gid 10001 moderate \
    && useradd --system --uid 10001 --gid moderate \
        --home-dir /home/moderate --create-home --shell /usr/sbin/nologin moderate
ENV PATH=/opt/venv/bin:${PATH} \
    PYTHONUNBUFFERED=1 \
    DAGSTER_HOME=/home/moderate/dagster_home
WORKDIR /home/moderate

FROM runtime AS ingestion
COPY --from=ingestion-builder /opt/ingestion /opt/ingestion
USER 10001:10001
ENTRYPOINT ["/opt/ingestion/.venv/bin/python", "/opt/ingestion/run_workflow.py"]

FROM runtime AS matrix-profile-worker
COPY --from=builder /opt/venv /opt/venv
USER 10001:10001
ENTRYPOINT ["python", "-m", "moderate.matrix_profile.worker"]

FROM runtime AS code-server
# The dataset assets clone their sources with git and fetch Git LFS objects.
RUN apt-get update \
    && apt-get install --yes --no-install-recommends git git-lfs \
    && rm --recursive --force /var/lib/apt/lists/*
COPY --from=builder /opt/venv /opt/venv
# Bundled so that OpenMetadata workflows can run as subprocesses of a run.
COPY --from=ingestion-builder /opt/ingestion /opt/ingestion
RUN mkdir --parents "${DAGSTER_HOME}" && chown 10001:10001 "${DAGSTER_HOME}"
ENV DAGSTER_GRPC_HOST=0.0.0.0 \
    DAGSTER_GRPC_PORT=3030
USER 10001:10001
EXPOSE 3030
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD dagster api grpc-health-check --host 127.0.0.1 --port "${DAGSTER_GRPC_PORT}"
# Port and bind address come from DAGSTER_GRPC_PORT / DAGSTER_GRPC_HOST; the Helm
# chart replaces this command with its own `dagster api grpc` arguments.
CMD ["dagster", "api", "grpc", "--module-name", "moderate.definitions"]

# Targets (the last one is the default):
#   ingestion              OpenMetadata ingestion environment (its own lock file),
#                          for workflows run as Kubernetes pods
#   matrix-profile-worker  the analysis worker run by the matrix-profile Kubernetes Jobs
#   code-server            the Dagster gRPC code server of the `moderate` location
#
# Build with `task build-images` (or `docker build --target <target> .`).
# PYTHON_IMAGE and UV_IMAGE name the base images; the defaults are the public
# ones, and a machine without a registry passes locally made equivalents.

ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13.8

FROM ${UV_IMAGE} AS uv

# Dependencies first, from the lock file only: this layer is rebuilt only when
# pyproject.toml or uv.lock change, not when the sources do.
FROM ${PYTHON_IMAGE} AS builder
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

# stumpy's numba kernels compiled into a cache of their own (about a minute),
# for a generic x86-64 CPU: numba keys its cache on the CPU model, so a cache
# built for the build machine's CPU misses on every other node. The worker
# copies this cache into its writable NUMBA_CACHE_DIR when it starts.
FROM builder AS numba-cache
ENV NUMBA_CPU_NAME=generic \
    NUMBA_CACHE_DIR=/opt/numba-cache
RUN /opt/venv/bin/python -m moderate.matrix_profile.worker.numba_cache

# The OpenMetadata ingestion package pins libraries that break Dagster
# (antlr4-python3-runtime), so it lives in its own environment, built from its own
# lock file, at /opt/ingestion (where the code location looks for it).
FROM ${PYTHON_IMAGE} AS ingestion-builder
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

FROM ${PYTHON_IMAGE} AS runtime
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
COPY --from=numba-cache /opt/numba-cache /opt/numba-cache
# The Job's NUMBA_CACHE_DIR is its writable scratch; the worker seeds it from
# MODERATE_NUMBA_CACHE_SEED. The CPU name must match the one the cache was built for.
ENV NUMBA_CPU_NAME=generic \
    NUMBA_CACHE_DIR=/tmp/numba \
    MODERATE_NUMBA_CACHE_SEED=/opt/numba-cache
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
# DAGSTER_HOME of the code server, and of the run pods that the Helm chart starts
# with DAGSTER_HOME=/opt/dagster/dagster_home (its instance ConfigMap is mounted
# there): both owned by the run user so that nothing under them is unwritable.
RUN mkdir --parents "${DAGSTER_HOME}" /opt/dagster/dagster_home \
    && chown 10001:10001 "${DAGSTER_HOME}" /opt/dagster /opt/dagster/dagster_home
ENV DAGSTER_GRPC_HOST=0.0.0.0 \
    DAGSTER_GRPC_PORT=3030
# The catalogue links every asset's code and docs to this repository and commit
# (moderate/catalog.py); deploy/push-images.sh passes both, empty means local paths.
ARG MODERATE_GIT_URL=""
ARG MODERATE_GIT_REF=""
ENV MODERATE_GIT_URL=${MODERATE_GIT_URL} \
    MODERATE_GIT_REF=${MODERATE_GIT_REF}
USER 10001:10001
EXPOSE 3030
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD dagster api grpc-health-check --host 127.0.0.1 --port "${DAGSTER_GRPC_PORT}"
# Port and bind address come from DAGSTER_GRPC_PORT / DAGSTER_GRPC_HOST; the Helm
# chart replaces this command with its own `dagster api grpc` arguments.
CMD ["dagster", "api", "grpc", "--module-name", "moderate.definitions"]

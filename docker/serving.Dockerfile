# syntax=docker/dockerfile:1.7
# MLServer + mlserver-xgboost: the V2 predictor (KServe ServingRuntime image). The model
# implementation is serving.mlserver_runtime (the project is installed): the stock
# XGBoostModel plus V2 input checks, so malformed tensors get 400 instead of 500.
# Build from the repository root:
#   docker build --platform linux/amd64 -f docker/serving.Dockerfile -t bvp-serving .
# Versions come from uv.lock: `uv export` writes the locked set as constraints, and only the
# packages this image needs are installed under them (tests/k8s/test_dockerfiles.py resolves
# the same command into a throwaway venv). The final stage has no compiler, no uv, no pip
# cache, and runs as uid 10001.
ARG PYTHON_IMAGE=docker.io/library/python:3.11.14-slim-bookworm

FROM --platform=linux/amd64 ${PYTHON_IMAGE} AS builder
ARG UV_VERSION=0.13.9
# EXTRAS: uv.lock extras exported as constraints. PACKAGES: what this image installs.
ARG EXTRAS="stack"
ARG PACKAGES="mlserver mlserver-xgboost uvloop ."
# OVERRIDES: same as [tool.uv] override-dependencies in pyproject.toml (CPU xgboost without
# the 470 MB NCCL wheel); constraints alone cannot drop a dependency.
ARG OVERRIDES="nvidia-nccl-cu12; sys_platform == 'never'"
ENV UV_PYTHON_DOWNLOADS=never UV_LINK_MODE=copy UV_COMPILE_BYTECODE=1 UV_NO_CACHE=1
RUN pip install --no-cache-dir --disable-pip-version-check "uv==${UV_VERSION}"
WORKDIR /src
COPY pyproject.toml uv.lock README.md ./
RUN uv export --frozen --no-dev --no-emit-project --no-hashes \
        $(for e in ${EXTRAS}; do printf -- "--extra %s " "$e"; done) \
        -o /tmp/constraints.txt \
 && printf '%s\n' "${OVERRIDES}" > /tmp/overrides.txt \
 && uv venv /opt/venv --python /usr/local/bin/python3.11
COPY ml ml
COPY pipelines pipelines
COPY serving serving
COPY ui ui
COPY bvp bvp
RUN VIRTUAL_ENV=/opt/venv uv pip install \
        --constraint /tmp/constraints.txt --override /tmp/overrides.txt ${PACKAGES}

FROM --platform=linux/amd64 ${PYTHON_IMAGE}
RUN groupadd --gid 10001 bvp \
 && useradd --uid 10001 --gid 10001 --home-dir /home/bvp --create-home --shell /usr/sbin/nologin bvp
COPY --from=builder /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    OMP_NUM_THREADS=1 \
    HOME=/home/bvp \
    BVP_HOME=/tmp/bvp
WORKDIR /home/bvp
USER 10001:10001
# The model folder is mounted by KServe's storage initializer at /mnt/models (the MLflow
# artifact folder with model.ubj). Model settings come from env, so no model-settings.json
# is needed in the bucket. Metrics go to /tmp: the root filesystem is read-only.
ENV MLSERVER_MODEL_NAME=btc-volatility \
    MLSERVER_MODEL_IMPLEMENTATION=serving.mlserver_runtime.ValidatingXGBoostModel \
    MLSERVER_MODEL_URI=/mnt/models \
    MLSERVER_HTTP_PORT=8080 \
    MLSERVER_GRPC_PORT=8081 \
    MLSERVER_METRICS_PORT=8082 \
    MLSERVER_METRICS_DIR=/tmp/mlserver-metrics \
    MLSERVER_PARALLEL_WORKERS=1
EXPOSE 8080 8081 8082
ENTRYPOINT ["mlserver"]
CMD ["start", "/mnt/models"]

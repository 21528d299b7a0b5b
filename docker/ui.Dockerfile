# syntax=docker/dockerfile:1.7
# Gradio UI.
# Build from the repository root:
#   docker build --platform linux/amd64 -f docker/ui.Dockerfile -t bvp-ui .
# Versions come from uv.lock: `uv export` writes the locked set as constraints, and only the
# packages this image needs are installed under them (tests/k8s/test_dockerfiles.py resolves
# the same command into a throwaway venv). The final stage has no compiler, no uv, no pip
# cache, and runs as uid 10001.
ARG PYTHON_IMAGE=docker.io/library/python:3.11.14-slim-bookworm

FROM --platform=linux/amd64 ${PYTHON_IMAGE} AS builder
ARG UV_VERSION=0.13.9
# EXTRAS: uv.lock extras exported as constraints. PACKAGES: what this image installs
# (mlflow-skinny: the Model/Monitoring views read the registry from the tracking server
# over REST; the full mlflow, with its SQL store and server, is not needed here).
ARG EXTRAS="stack"
ARG PACKAGES="gradio plotly matplotlib mlflow-skinny ."
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
ENV BVP_UI__HOST=0.0.0.0 \
    BVP_UI__PORT=7860 \
    GRADIO_ANALYTICS_ENABLED=False \
    MPLCONFIGDIR=/tmp/matplotlib
EXPOSE 7860
ENTRYPOINT ["python", "-m", "ui"]

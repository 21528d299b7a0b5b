# SageMaker serving image: the /ping + /invocations adapter over the project's code.
# Build for SageMaker's architecture from the repo root:
#   docker build --platform linux/amd64 -f docker/sagemaker.Dockerfile \
#     -t "$ECR_REPO:$(git rev-parse --short HEAD)" .
# SageMaker runs `docker run IMAGE serve`: the exec-form ENTRYPOINT receives "serve".
FROM --platform=linux/amd64 python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    OMP_NUM_THREADS=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY ml ml
COPY serving serving
COPY pipelines pipelines
COPY ui ui
COPY bvp bvp
# The core dependencies from pyproject plus the ASGI stack; versions match uv.lock.
RUN pip install --no-cache-dir . "fastapi==0.115.14" "uvicorn==0.55.0" \
    && useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin bvp

USER 10001
EXPOSE 8080
ENTRYPOINT ["python", "-m", "serving.sagemaker_app"]
CMD ["serve"]

"""Container image of the KFP components (docker/pipeline.Dockerfile).

Every lightweight component uses it as ``base_image`` with the project preinstalled, so
nothing is pip-installed at run time (compile with ``install_kfp_package=False``).
"""

from __future__ import annotations

import os

__all__ = ["PIPELINE_IMAGE", "PIPELINE_IMAGE_ENV", "pipeline_image"]

PIPELINE_IMAGE = "ghcr.io/bvp-project/bvp-pipeline:0.1.0"
"""Default image: skaffold builds ``bvp-pipeline``; the chart uses it for MLflow."""
PIPELINE_IMAGE_ENV = "BVP_PIPELINE_IMAGE"
"""Environment variable overriding the image at compile time (e.g. an ECR reference)."""


def pipeline_image() -> str:
    """``base_image`` for components: ``$BVP_PIPELINE_IMAGE`` or the default."""
    return os.environ.get(PIPELINE_IMAGE_ENV) or PIPELINE_IMAGE

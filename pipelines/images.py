"""Container images the pipelines run in (the project installed; nothing pip-installed at run time)."""

import os

__all__ = ["PIPELINE_IMAGE"]

PIPELINE_IMAGE = os.environ.get(
    "BVP_PIPELINE_IMAGE", "ghcr.io/bvp-project/bvp-pipeline:0.1.0"
)
"""Base image of every KFP component. Read at compile time; the compiled YAML pins it."""

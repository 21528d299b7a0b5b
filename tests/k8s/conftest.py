"""Fixtures for the Kubernetes delivery tests: helm rendering and offline schemas."""

from __future__ import annotations

import copy
import json
import subprocess
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "btc-volatility"
SCHEMAS = ROOT / "tests" / "testdata" / "k8s-schemas"
HELM = ROOT / ".tools" / "bin" / "helm"
K8S_VERSION = "1.35.0"  # kindest/node v1.35.8 in k8s/kind-cluster.yaml
RELEASE, NAMESPACE = "bvp", "bvp"
STORAGE_URI = "s3://mlflow/artifacts/1/models/m-0123/artifacts"

# name -> extra helm args; every variant is linted, rendered and validated.
VALUE_SETS: dict[str, list[str]] = {
    "default": [],
    "default-isvc": [
        "--set",
        "inferenceService.enabled=true",
        "--set",
        f"inferenceService.storageUri={STORAGE_URI}",
    ],
    "kind": ["-f", str(CHART / "values-kind.yaml")],
    "kind-isvc": [
        "-f",
        str(CHART / "values-kind.yaml"),
        "--set",
        "inferenceService.enabled=true",
        "--set",
        f"inferenceService.storageUri={STORAGE_URI}",
    ],
    "eks": [
        "-f",
        str(CHART / "values-eks.yaml"),
        "--set",
        "inferenceService.storageUri=gs://bucket/models/m-1/artifacts",
    ],
}


def strictify(node: Any) -> Any:
    """Make unknown fields errors (the API server would prune them silently)."""
    if isinstance(node, dict):
        if (
            node.get("type") == "object"
            and "properties" in node
            and not node.get("x-kubernetes-preserve-unknown-fields")
            and "additionalProperties" not in node
        ):
            node["additionalProperties"] = False
        for value in node.values():
            strictify(value)
    elif isinstance(node, list):
        for value in node:
            strictify(value)
    return node


@cache
def validator(relpath: str, strict: bool = True) -> Draft7Validator:
    schema = json.loads((SCHEMAS / relpath).read_text())
    return Draft7Validator(strictify(copy.deepcopy(schema)) if strict else schema)


CRD_SCHEMAS = {
    (
        "serving.kserve.io/v1beta1",
        "InferenceService",
    ): "kserve/jsonschema/inferenceservice-serving-v1beta1.json",
    (
        "serving.kserve.io/v1alpha1",
        "ServingRuntime",
    ): "kserve/jsonschema/servingruntime-serving-v1alpha1.json",
}


def schema_errors(doc: dict[str, Any]) -> list[str]:
    """Validate a manifest: CRDs via jsonschema, core kinds via kubernetes-validate."""
    key = (doc["apiVersion"], doc["kind"])
    if key in CRD_SCHEMAS:
        v = validator(CRD_SCHEMAS[key])
        return [f"{list(e.absolute_path)}: {e.message}" for e in v.iter_errors(doc)]
    import kubernetes_validate

    try:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return [str(exc)]
    return []


@pytest.fixture(scope="session")
def helm() -> Path:
    if not HELM.exists():
        pytest.skip(
            f"{HELM} missing: run `make tools` (scripts/get-k8s-tools.sh .tools/bin)"
        )
    return HELM


@pytest.fixture(scope="session")
def render(helm: Path) -> Callable[[str], list[dict[str, Any]]]:
    """Render the chart with a named value set; cached per session."""
    cache_: dict[str, list[dict[str, Any]]] = {}

    def _render(name: str) -> list[dict[str, Any]]:
        if name not in cache_:
            out = subprocess.run(
                [
                    str(helm),
                    "template",
                    RELEASE,
                    str(CHART),
                    "-n",
                    NAMESPACE,
                    *VALUE_SETS[name],
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            cache_[name] = [d for d in yaml.safe_load_all(out) if d]
        return cache_[name]

    return _render

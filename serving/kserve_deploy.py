"""KServe InferenceService for the champion model: resolve, build, apply.

The registry alias (``models:/btc-volatility@champion``) is resolved here to the
artifact folder holding ``model.ubj``, because KServe's storage initializer only
downloads storage URIs (s3://, gs://). The manifest builder is a pure function; it
mirrors ``charts/btc-volatility/templates/inferenceservice.yaml`` (tests compare them).
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from dataclasses import dataclass
from typing import Any

import yaml

from ml.errors import ConfigError, PromotionError

__all__ = [
    "DEFAULT_RUNTIME",
    "DEFAULT_TRANSFORMER_IMAGE",
    "STORAGE_SCHEMES",
    "InferenceServiceSpec",
    "apply_manifest",
    "build_inference_service",
    "check_storage_uri",
    "resolve_alias_uri",
    "to_yaml",
]

logger = logging.getLogger(__name__)

STORAGE_SCHEMES = ("s3://", "gs://")
DEFAULT_RUNTIME = "bvp-mlserver"  # servingRuntime.name in the chart
DEFAULT_TRANSFORMER_IMAGE = "ghcr.io/bvp-project/bvp-transformer:0.1.0"
MODEL_FORMAT = {"name": "xgboost", "version": "2"}
PROTOCOL_VERSION = "v2"
DEPLOYMENT_MODE = "Standard"
CONTAINER_NAME = "kserve-container"


@dataclass(frozen=True)
class InferenceServiceSpec:
    """Inputs of one InferenceService manifest.

    Attributes:
        name: InferenceService name; also the MLServer model name the transformer calls.
        namespace: Target namespace.
        storage_uri: s3:// or gs:// folder holding ``model.ubj``.
        runtime: ServingRuntime (chart: ``bvp-mlserver``) or ClusterServingRuntime name.
        service_account: ServiceAccount with the S3 credentials/IRSA annotations.
        transformer_image: Transformer image, or None for a predictor-only service.
        transformer_http_port: Transformer REST port (``BVP_TRANSFORMER__HTTP_PORT``).
        transformer_grpc_port: Transformer gRPC port (``BVP_TRANSFORMER__GRPC_PORT``).
    """

    name: str
    namespace: str
    storage_uri: str
    runtime: str = DEFAULT_RUNTIME
    service_account: str = "bvp-btc-volatility"
    transformer_image: str | None = DEFAULT_TRANSFORMER_IMAGE
    transformer_http_port: int = 8090
    transformer_grpc_port: int = 8091


def check_storage_uri(uri: str) -> str:
    """Return ``uri`` if KServe can download it, else raise.

    Raises:
        ConfigError: ``uri`` is a registry URI (``models:/``) or another scheme.
    """
    if uri.startswith(STORAGE_SCHEMES) and uri.split("://", 1)[1].strip("/"):
        return uri
    hint = (
        "KServe cannot resolve models:/ URIs; deploy the alias's artifact location."
        if uri.startswith("models:/")
        else "Log models to an experiment whose artifact root is on S3 or GCS "
        "(mlflow server --default-artifact-root s3://...), or copy the model folder "
        "there and pass --storage-uri."
    )
    raise ConfigError(
        "storageUri",
        uri,
        "a URI starting with s3:// or gs:// and naming a bucket",
        hint,
    )


def resolve_alias_uri(client: Any, model_name: str, alias: str) -> str:
    """Resolve ``models:/<model_name>@<alias>`` to the version's artifact folder.

    Args:
        client: An ``mlflow.MlflowClient``.
        model_name: Registered model name.
        alias: Alias, e.g. ``champion``.

    Returns:
        The storage URI of the folder holding the model files (not checked here).

    Raises:
        ModelNotFoundError: The model or the alias does not exist.
    """
    from pipelines.tracking import describe_alias

    info = describe_alias(
        client,
        model_name,
        alias,
        "Train and promote a model first, or pass --alias with an existing alias.",
    )
    uri = str(info["artifact_location"])
    logger.info(
        "resolved %s@%s -> version %s at %s", model_name, alias, info["version"], uri
    )
    return uri


def build_inference_service(spec: InferenceServiceSpec) -> dict[str, Any]:
    """Build the InferenceService manifest (pure; checks the storage URI)."""
    check_storage_uri(spec.storage_uri)
    manifest: dict[str, Any] = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            "name": spec.name,
            "namespace": spec.namespace,
            "labels": {
                "app.kubernetes.io/part-of": "btc-volatility",
                "app.kubernetes.io/managed-by": "bvp",
            },
            "annotations": {"serving.kserve.io/deploymentMode": DEPLOYMENT_MODE},
        },
        "spec": {
            "predictor": {
                "serviceAccountName": spec.service_account,
                "model": {
                    "modelFormat": dict(MODEL_FORMAT),
                    "protocolVersion": PROTOCOL_VERSION,
                    "runtime": spec.runtime,
                    "storageUri": spec.storage_uri,
                },
            }
        },
    }
    if spec.transformer_image:
        manifest["spec"]["transformer"] = {
            "serviceAccountName": spec.service_account,
            "containers": [
                {
                    "name": CONTAINER_NAME,
                    "image": spec.transformer_image,
                    "args": [
                        "--model_name",
                        spec.name,
                        "--http_port",
                        str(spec.transformer_http_port),
                        "--grpc_port",
                        str(spec.transformer_grpc_port),
                        "--protocol",
                        PROTOCOL_VERSION,
                        "--predictor_protocol",
                        PROTOCOL_VERSION,
                    ],
                    "ports": [
                        {
                            "name": "http1",
                            "containerPort": spec.transformer_http_port,
                            "protocol": "TCP",
                        }
                    ],
                }
            ],
        }
    return manifest


def to_yaml(manifest: dict[str, Any]) -> str:
    """Render a manifest as YAML (keys in insertion order)."""
    return yaml.safe_dump(manifest, sort_keys=False)


def apply_manifest(manifest: dict[str, Any], kubectl: str = "kubectl") -> str:
    """Create or patch the resource with server-side apply; return kubectl's output.

    Raises:
        PromotionError: kubectl is missing or the API server refused the manifest.
    """
    exe = shutil.which(kubectl)
    if exe is None:
        raise PromotionError(
            f"kubectl: {kubectl!r} not found on PATH; install it "
            "(scripts/get-k8s-tools.sh .tools/bin) or use --dry-run."
        )
    cmd = [exe, "apply", "--server-side", "--field-manager=bvp", "-f", "-"]
    proc = subprocess.run(
        cmd, input=to_yaml(manifest), capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise PromotionError(f"kubectl apply failed: {proc.stderr.strip()}")
    return proc.stdout.strip()

"""SageMaker deployment decisions and packaging, without AWS calls.

Everything ``serving/promote.py`` needs that is not a boto3 call lives here, so it is
tested without a network: resource names, the model archive, the blue/green
deployment config, the smoke-test request and its verdict, and the deployment record.

Archive layout (extracted by SageMaker into ``/opt/ml/model``)::

    model.ubj          # the registered booster (sklearn-API XGBClassifier, UBJSON)
    model-meta.json    # name, version, run id, feature names, probability columns
"""

from __future__ import annotations

import json
import math
import re
import tarfile
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from ml._typing import FloatArray
from ml.errors import ConfigError
from ml.evaluation import PROB_COLUMNS
from ml.features import FEATURE_NAMES
from ml.labels import REGIMES
from ml.models import BOOSTER_FILE

__all__ = [
    "ARCHIVE_FILE",
    "DEPLOYMENT_FILE",
    "META_FILE",
    "PROJECT_TAG_KEY",
    "SMOKE_HORIZONS",
    "TAG_PREFIX",
    "VERSION_TAG_KEY",
    "DeploymentRecord",
    "ResourceNames",
    "SmokeVerdict",
    "build_model_archive",
    "check_smoke_response",
    "deployment_config",
    "model_meta",
    "resource_names",
    "s3_key",
    "smoke_request",
    "write_deployment_info",
]

ARCHIVE_FILE = "model.tar.gz"
META_FILE = "model-meta.json"
DEPLOYMENT_FILE = "deployment_info.json"
PROJECT_TAG_KEY = "project"
"""Tag key put on every SageMaker resource the project creates."""
VERSION_TAG_KEY = "model-version"
"""Tag key carrying the registry version on SageMaker models and configs."""
TAG_PREFIX = "bvp.sagemaker."
"""Prefix of the MLflow model-version tags that record a deployment."""
SMOKE_HORIZONS = (1, 7, 30)
"""Horizons of the smoke-test request (shortest, a week, longest)."""

_NAME_RE = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9])*$")
_NAME_MAX = 63


@dataclass(frozen=True)
class ResourceNames:
    """Names of the SageMaker model and endpoint config of one deployment."""

    model: str
    endpoint_config: str


def resource_names(prefix: str, version: str, now: datetime) -> ResourceNames:
    """Unique names carrying the model version and the UTC time of the deployment.

    Raises:
        ConfigError: The prefix makes a name SageMaker refuses (pattern or length).
    """
    stamp = now.strftime("%Y%m%d-%H%M%S")
    name = f"{prefix}-v{version}-{stamp}"
    if len(name) > _NAME_MAX or not _NAME_RE.match(name):
        raise ConfigError(
            "aws.name_prefix",
            prefix,
            f"letters, digits and single hyphens, at most "
            f"{_NAME_MAX - len(name) + len(prefix)} characters",
            "Set BVP_AWS__NAME_PREFIX.",
        )
    return ResourceNames(model=name, endpoint_config=name)


def s3_key(prefix: str, version: str) -> str:
    """S3 key of the archive: ``<prefix>/v<version>/model.tar.gz``."""
    return f"{prefix}/v{version}/{ARCHIVE_FILE}"


def model_meta(name: str, version: str, run_id: str | None) -> dict[str, Any]:
    """Metadata shipped next to the booster; the container checks the feature names."""
    return {
        "name": name,
        "version": str(version),
        "run_id": run_id or "",
        "feature_names": list(FEATURE_NAMES),
        "prob_columns": list(PROB_COLUMNS),
        "regimes": list(REGIMES),
    }


def build_model_archive(booster: Path, meta: dict[str, Any], dest: Path) -> Path:
    """Write ``model.tar.gz`` (booster + meta at the archive root) into ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / ARCHIVE_FILE
    meta_path = dest / META_FILE
    meta_path.write_text(json.dumps(meta, indent=2, sort_keys=True))
    with tarfile.open(path, "w:gz") as tar:
        for src, arcname in ((booster, BOOSTER_FILE), (meta_path, META_FILE)):
            info = tar.gettarinfo(str(src), arcname=arcname)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            with open(src, "rb") as fh:
                tar.addfile(info, fh)
    return path


def deployment_config(termination_wait_s: int, alarms: list[str]) -> dict[str, Any]:
    """``DeploymentConfig`` for UpdateEndpoint: blue/green, all traffic at once.

    SageMaker starts the new (green) fleet next to the old one, moves all traffic when
    it is healthy, keeps the old fleet ``termination_wait_s`` seconds and rolls back by
    itself if one of ``alarms`` fires in that time.
    """
    config: dict[str, Any] = {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {
                "Type": "ALL_AT_ONCE",
                "WaitIntervalInSeconds": 0,
            },
            "TerminationWaitInSeconds": termination_wait_s,
        }
    }
    if alarms:
        config["AutoRollbackConfiguration"] = {
            "Alarms": [{"AlarmName": a} for a in alarms]
        }
    return config


def smoke_request(x: FloatArray) -> bytes:
    """JSON body ``{"instances": rows}``; missing features (NaN) become ``null``."""
    rows = [[None if math.isnan(v) else float(v) for v in row] for row in np.asarray(x)]
    return json.dumps({"instances": rows}, allow_nan=False).encode()


@dataclass(frozen=True)
class SmokeVerdict:
    """Outcome of the smoke test: ``ok`` and, when not, why."""

    ok: bool
    reason: str = ""


def check_smoke_response(
    body: bytes, expected: FloatArray, version: str, atol: float
) -> SmokeVerdict:
    """Compare the endpoint's answer with the local booster's probabilities.

    The answer must be JSON with ``model_version`` equal to ``version`` and one
    prediction per request row whose ``p_low, p_normal, p_high`` are in [0, 1], sum to
    1 and match ``expected`` within ``atol``.
    """
    try:
        doc = json.loads(body)
        preds = doc["predictions"]
        got = np.array([[float(p[c]) for c in PROB_COLUMNS] for p in preds])
    except (ValueError, KeyError, TypeError) as exc:
        excerpt = body[:120].decode("utf-8", "replace")
        return SmokeVerdict(
            False, f"body {excerpt!r} is not a predictions document ({exc!r})"
        )
    served = str(doc.get("model_version"))
    if served != str(version):
        return SmokeVerdict(
            False, f"model_version: got {served!r}, expected {version!r}"
        )
    want = np.asarray(expected, dtype="float64")
    if got.shape != want.shape:
        return SmokeVerdict(
            False, f"probabilities: got shape {got.shape}, expected {want.shape}"
        )
    if not np.isfinite(got).all() or (got < 0).any() or (got > 1).any():
        return SmokeVerdict(
            False, f"probabilities: got {got.tolist()}, expected values in [0, 1]"
        )
    sums = got.sum(axis=1)
    if not np.allclose(sums, 1.0, atol=1e-4):
        return SmokeVerdict(False, f"probability sums: got {sums.tolist()}, expected 1")
    diff = float(np.abs(got - want).max())
    if diff > atol:
        return SmokeVerdict(
            False,
            f"probabilities differ from the local booster by {diff:.2e}, "
            f"expected <= {atol}",
        )
    return SmokeVerdict(True)


@dataclass(frozen=True)
class DeploymentRecord:
    """One successful promotion, as written to MLflow tags and deployment_info.json."""

    endpoint: str
    endpoint_config: str
    model_name: str
    model_version: str
    model_data_url: str
    image_uri: str
    region: str
    deployed_at: str
    previous_config: str | None
    action: str
    """``created`` (new endpoint) or ``updated`` (blue/green to a new config)."""

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for JSON."""
        return asdict(self)

    def as_tags(self) -> dict[str, str]:
        """MLflow model-version tags (``bvp.sagemaker.*``)."""
        return {
            f"{TAG_PREFIX}{k}": "" if v is None else str(v)
            for k, v in asdict(self).items()
        }


def write_deployment_info(path: Path, record: DeploymentRecord) -> Path:
    """Write the record atomically (temp file in the same folder, fsync, rename; the
    file gets the usual umask-derived permissions, not the temp file's 0600)."""
    from pipelines.ingest.store import atomic_write_bytes

    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(record.as_dict(), indent=2, sort_keys=True) + "\n"
    atomic_write_bytes(path, [text.encode()])
    return path

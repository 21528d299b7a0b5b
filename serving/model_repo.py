"""Build the MLServer model repository for the champion (mlserver-xgboost runtime).

Layout under ``<home>/serving/repo``::

    settings.json                     # server: ports, metrics, workers
    btc-volatility/model-settings.json
    btc-volatility/model.ubj          # the registered booster, copied from MLflow
    btc-volatility/structural.json    # the variance model of the same version (transformer)

The repository is built in a temp folder and swapped in with a rename, so a running
server never sees a half-written model.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ml.models import BOOSTER_FILE
from ml.settings import Settings
from ml.structural import STRUCTURAL_FILE
from pipelines.ingest.store import process_umask

__all__ = ["XGBOOST_RUNTIME", "model_settings", "prepare_repository", "server_settings"]

XGBOOST_RUNTIME = "serving.mlserver_runtime.ValidatingXGBoostModel"
"""MLServer runtime: the stock mlserver-xgboost model plus V2 input checks."""


def server_settings(settings: Settings) -> dict[str, Any]:
    """MLServer ``settings.json``."""
    s = settings.serving
    return {
        "host": s.host,
        "http_port": s.http_port,
        "grpc_port": s.grpc_port,
        "metrics_port": s.metrics_port,
        "metrics_endpoint": "/metrics",
        "parallel_workers": s.parallel_workers,
        "load_models_at_startup": True,
        "debug": False,
    }


def model_settings(
    name: str,
    version: str,
    extra: dict[str, Any] | None = None,
    max_batch_size: int = 0,
    max_batch_time_s: float = 0.0,
) -> dict[str, Any]:
    """MLServer ``model-settings.json`` for the booster file next to it.

    Adaptive batching is written only when ``max_batch_size`` > 1 (MLServer's own
    default is off); the served repository passes ``BVP_SERVING__MAX_BATCH_SIZE``
    (default 32, chosen with ``bench/serving.py``: see ``ml.settings``).
    """
    out: dict[str, Any] = {
        "name": name,
        "implementation": XGBOOST_RUNTIME,
        "parameters": {
            "uri": f"./{BOOSTER_FILE}",
            "version": version,
            "extra": extra or {},
        },
    }
    if max_batch_size > 1:
        out["max_batch_size"] = max_batch_size
        out["max_batch_time"] = max_batch_time_s
    return out


def prepare_repository(
    settings: Settings, booster: Path, version: str, meta: dict[str, Any]
) -> Path:
    """Write the repository for ``booster`` atomically; returns its root."""
    root = settings.home / "serving" / "repo"
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=root.parent, prefix=".repo-"))
    tmp.chmod(0o777 & ~process_umask())  # mkdtemp's 0700 hides it from other users
    name = settings.mlflow.model_name
    (tmp / name).mkdir()
    shutil.copy2(booster, tmp / name / BOOSTER_FILE)
    structural = booster.parent / STRUCTURAL_FILE
    if structural.exists():  # the variance model registered with this booster
        shutil.copy2(structural, tmp / name / STRUCTURAL_FILE)
    (tmp / name / "model-settings.json").write_text(
        json.dumps(
            model_settings(
                name,
                version,
                meta,
                settings.serving.max_batch_size,
                settings.serving.max_batch_time_s,
            ),
            indent=2,
        )  # fmt: skip
    )
    (tmp / "settings.json").write_text(json.dumps(server_settings(settings), indent=2))
    old = root.parent / ".repo-old"
    if old.exists():
        shutil.rmtree(old)
    if root.exists():
        root.rename(old)
    tmp.rename(root)
    shutil.rmtree(old, ignore_errors=True)
    return root

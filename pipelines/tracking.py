"""MLflow adapter: runs, metrics, model logging, registry versions and aliases.

The registered model's versions carry a ``bvp.fingerprint`` tag (data versions +
model spec + thresholds + code), so re-running the pipeline on unchanged inputs
reuses the version instead of registering a duplicate.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import pandas as pd

from ml.errors import ModelNotFoundError

log = logging.getLogger(__name__)

__all__ = [
    "FINGERPRINT_TAG",
    "code_digest",
    "compute_fingerprint",
    "ensure_experiment",
    "find_version_by_fingerprint",
    "log_evaluation",
    "log_training_run",
    "register_version",
    "describe_alias",
    "resolve_alias",
]

FINGERPRINT_TAG = "bvp.fingerprint"
MODEL_ARTIFACT = "model"
PIP_REQUIREMENTS = ["xgboost==3.2.0", "scikit-learn", "numpy", "pandas<3"]


def code_digest() -> str:
    """Hash of the pure core's sources: a code change means a different model."""
    import ml

    root = Path(ml.__file__).parent
    h = hashlib.sha256()
    for p in sorted(root.glob("*.py")):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def compute_fingerprint(
    versions: dict[str, Any],
    spec: dict[str, Any],
    thresholds: list[float] | tuple[float, ...],
) -> str:
    """Stable hash of everything that determines the trained model."""
    payload = json.dumps(
        {
            "data": versions,
            "spec": spec,
            "thresholds": list(thresholds),
            "code": code_digest(),
        },
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def ensure_experiment(
    tracking_uri: str, experiment: str, artifact_root: str = ""
) -> str:
    """Point MLflow at the tracking URI and create the experiment if needed."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    found = mlflow.get_experiment_by_name(experiment)
    if found is not None:
        return str(found.experiment_id)
    location = f"{artifact_root.rstrip('/')}/{experiment}" if artifact_root else None
    return str(mlflow.create_experiment(experiment, artifact_location=location))


def log_training_run(
    tracking_uri: str,
    experiment: str,
    artifact_root: str,
    model_dir: str | Path,
    params: dict[str, Any],
    tags: dict[str, str],
) -> tuple[str, str]:
    """Log a training run with the booster as an MLflow xgboost model.

    Returns:
        (run id, model URI ``models:/m-...``).
    """
    import mlflow

    from ml.models import BOOSTER_FILE, load_regime_model

    exp_id = ensure_experiment(tracking_uri, experiment, artifact_root)
    model = load_regime_model(Path(model_dir) / BOOSTER_FILE)
    with mlflow.start_run(experiment_id=exp_id, run_name="training") as run:
        mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
        mlflow.set_tags(tags)
        info = mlflow.xgboost.log_model(
            model,
            name=MODEL_ARTIFACT,
            model_format="ubj",
            pip_requirements=PIP_REQUIREMENTS,
        )
        mlflow.log_artifacts(str(model_dir), artifact_path="model_dir")
    return run.info.run_id, info.model_uri


def log_evaluation(
    tracking_uri: str, run_id: str, metrics: pd.DataFrame, eval_dir: str | Path
) -> dict[str, float]:
    """Log walk-forward metrics (per model and horizon) and tables to the run."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    flat: dict[str, float] = {}
    names = [m for m in ("macro_f1", "balanced_accuracy", "log_loss", "brier", "qlike",
                         "coverage_80") if m in metrics.columns]  # fmt: skip
    for row in metrics.itertuples(index=False):
        for m in names:
            value = float(getattr(row, m))
            if value == value:  # level metrics are NaN for classifiers
                flat[f"wf_{row.model}_h{int(row.horizon):02d}_{m}"] = value
    means = metrics.groupby("model")[names].mean()
    for model, vals in means.iterrows():
        for m, v in vals.items():
            if v == v:
                flat[f"wf_{model}_mean_{m}"] = float(v)
    client = mlflow.MlflowClient()
    items = list(flat.items())
    for start in range(0, len(items), 900):
        from mlflow.entities import Metric

        batch = [Metric(k, v, 0, 0) for k, v in items[start : start + 900]]
        client.log_batch(run_id, metrics=batch)
    for p in Path(eval_dir).iterdir():
        client.log_artifact(run_id, str(p), artifact_path="walk_forward")
    return flat


def find_version_by_fingerprint(
    tracking_uri: str, name: str, fingerprint: str
) -> Any | None:
    """The registered version carrying this fingerprint, if any."""
    import mlflow
    from mlflow.exceptions import MlflowException

    mlflow.set_tracking_uri(tracking_uri)
    client = mlflow.MlflowClient()
    try:
        versions = client.search_model_versions(f"name = '{name}'")
    except MlflowException:
        return None
    for v in versions:
        if v.tags.get(FINGERPRINT_TAG) == fingerprint:
            return v
    return None


def register_version(
    tracking_uri: str,
    name: str,
    model_uri: str,
    run_id: str,
    fingerprint: str,
    alias: str,
    tags: dict[str, str] | None = None,
    previous: str = "",
) -> tuple[str, bool]:
    """Register the model (or reuse the version with the same fingerprint) and alias it.

    Args:
        previous: Alias the version that held ``alias`` moves to when ``alias`` moves
            to another version (``previous``, what ``bvp model rollback`` restores);
            "" leaves the old version unaliased.

    Returns:
        (version, created) where created is False when an identical version existed.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    mlflow.set_tracking_uri(tracking_uri)
    client = mlflow.MlflowClient()
    existing = find_version_by_fingerprint(tracking_uri, name, fingerprint)
    if existing is not None:
        version, created = str(existing.version), False
    else:
        mv = mlflow.register_model(
            model_uri,
            name,
            tags={FINGERPRINT_TAG: fingerprint, "run_id": run_id, **(tags or {})},
        )
        version, created = str(mv.version), True
    if alias:
        old = None
        if previous:
            with contextlib.suppress(MlflowException):  # no such alias yet
                old = str(client.get_model_version_by_alias(name, alias).version)
        if old is not None and old != version:
            client.set_registered_model_alias(name, previous, old)
            log.info("%s v%s -> @%s (was @%s)", name, old, previous, alias)
        client.set_registered_model_alias(name, alias, version)
    return version, created


def resolve_alias(tracking_uri: str, name: str, alias: str) -> dict[str, Any]:
    """Describe the version behind ``name@alias``: version, run, tags, artifact location.

    Raises:
        ModelNotFoundError: No such model or alias.
    """
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    return describe_alias(mlflow.MlflowClient(), name, alias)


def describe_alias(
    client: Any,
    name: str,
    alias: str,
    hint: str = "Run `bvp pipeline run training --local` (or `make up`) first.",
) -> dict[str, Any]:
    """Describe ``name@alias`` with an explicit ``MlflowClient``.

    The artifact location is the folder holding the model files: MLflow 3 versions
    point at a logged model (``models:/m-<id>``) whose files live at its artifact
    location; older versions fall back to the version's download URI.

    Raises:
        ModelNotFoundError: No such model or alias (``hint`` says what to do).
    """
    from mlflow.exceptions import MlflowException

    try:
        mv = client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        raise ModelNotFoundError(name, f"@{alias}", hint) from exc
    model_id = getattr(mv, "model_id", None)
    if model_id:
        location = str(client.get_logged_model(model_id).artifact_location)
    else:
        location = str(client.get_model_version_download_uri(name, mv.version))
    return {
        "name": name,
        "version": str(mv.version),
        "run_id": mv.run_id,
        "model_id": model_id,
        "source": mv.source,
        "artifact_location": location,
        "tags": dict(mv.tags),
        "aliases": list(mv.aliases),
    }

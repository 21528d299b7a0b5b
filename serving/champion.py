"""Fetch the champion booster (and its structural model) from MLflow to a local folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ml.models import BOOSTER_FILE
from ml.settings import Settings
from ml.structural import STRUCTURAL_FILE
from pipelines.tracking import resolve_alias

__all__ = ["fetch_champion"]


def fetch_champion(
    settings: Settings, alias: str | None = None
) -> tuple[Path, dict[str, Any]]:
    """Download ``<model>@<alias>`` (default: champion) once per version.

    The version's ``structural.json`` (logged by its training run under ``model_dir/``)
    is put beside the booster; versions trained before it existed have none, and the
    transformer then serves the classifier alone.

    Returns:
        (path of model.ubj, description of the version from the registry).
    """
    import mlflow

    name, alias = settings.mlflow.model_name, alias or settings.mlflow.champion_alias
    info = resolve_alias(settings.tracking_uri, name, alias)
    dest = settings.home / "serving" / "cache" / f"v{info['version']}"
    booster = dest / BOOSTER_FILE
    if not booster.exists():
        dest.mkdir(parents=True, exist_ok=True)
        mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{name}/{info['version']}", dst_path=str(dest)
        )
    found = booster if booster.exists() else next(dest.rglob(BOOSTER_FILE))
    structural = found.parent / STRUCTURAL_FILE
    if not structural.exists() and info.get("run_id"):
        from mlflow.exceptions import MlflowException

        try:
            got = mlflow.artifacts.download_artifacts(
                run_id=str(info["run_id"]), artifact_path=f"model_dir/{STRUCTURAL_FILE}",
                dst_path=str(dest / "run"),
            )  # fmt: skip
        except (MlflowException, OSError):
            got = None  # trained before the structural model existed
        if got is not None:
            Path(got).replace(structural)
    return found, info

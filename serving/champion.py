"""Fetch the champion booster from the MLflow registry to a local folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ml.models import BOOSTER_FILE
from ml.settings import Settings
from pipelines.tracking import resolve_alias

__all__ = ["fetch_champion"]


def fetch_champion(
    settings: Settings, alias: str | None = None
) -> tuple[Path, dict[str, Any]]:
    """Download ``<model>@<alias>`` (default: champion) once per version.

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
    return found, info

"""Champion metadata and walk-forward tables for the Model and History tabs (from MLflow).

The UI reads the registry through the MLflow client, which speaks both to the local
sqlite store and to a tracking server over REST (the UI image installs ``mlflow-skinny``
for that). Downloaded artifacts are cached under ``<home>/ui-cache/<run id>/``.
"""

from __future__ import annotations

import json
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ml.errors import BVPError, ModelNotFoundError
from ml.settings import Settings
from ui.backtest import normalize_predictions

__all__ = [
    "METRICS_ARTIFACT",
    "PREDICTIONS_ARTIFACT",
    "ChampionInfo",
    "cache_dir",
    "download_artifact",
    "load_champion",
    "load_predictions",
    "walk_forward_table",
]

HEADLINE_HORIZONS = (1, 7, 14, 30)
METRICS_ARTIFACT = "walk_forward/walk_forward_metrics.csv"
PREDICTIONS_ARTIFACT = "walk_forward/walk_forward_predictions.csv"
_PREDICTIONS: dict[str, pd.DataFrame] = {}
_DOWNLOAD_LOCK = threading.Lock()


@dataclass(frozen=True)
class ChampionInfo:
    """What the Model tab shows about the champion."""

    version: str
    run_id: str | None
    summary: dict[str, str] = field(default_factory=dict)
    metrics: pd.DataFrame | None = None
    """Walk-forward metrics table (None when the run logged none)."""


def cache_dir(settings: Settings) -> Path:
    """Folder for artifacts the UI downloads (served by Gradio as files)."""
    return settings.home / "ui-cache"


def download_artifact(settings: Settings, run_id: str, artifact: str) -> Path | None:
    """Artifact of a run as a local file, cached; None when the run has no such file.

    Callbacks run concurrently (page load fires several), so downloads are serialised
    and land in a temp folder first: nobody reads a half-written file.
    """
    import mlflow

    local = cache_dir(settings) / run_id / artifact
    with _DOWNLOAD_LOCK:
        if local.exists():
            return local
        local.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=local.parent) as tmp:
            try:
                got = mlflow.artifacts.download_artifacts(
                    run_id=run_id, artifact_path=artifact, dst_path=tmp,
                    tracking_uri=settings.tracking_uri,
                )  # fmt: skip
            except (OSError, mlflow.exceptions.MlflowException):
                return None
            Path(got).replace(local)
    return local


def load_champion(settings: Settings) -> ChampionInfo:
    """Describe the champion: version, data, thresholds, walk-forward metrics.

    Raises:
        ModelNotFoundError: No model carries the champion alias.
    """
    import mlflow

    from pipelines.tracking import resolve_alias

    alias = settings.mlflow.champion_alias
    info = resolve_alias(settings.tracking_uri, settings.mlflow.model_name, alias)
    run_id = info["run_id"] or None
    summary = {
        "model": f"{info['name']} v{info['version']} (@{alias})",
        "run": str(run_id or "?"),
        "fingerprint": str(info["tags"].get("bvp.fingerprint", "?")),
        "thresholds": ", ".join(f"{t:.2f}" for t in settings.target.thresholds),
    }
    metrics = None
    if run_id:
        run = mlflow.MlflowClient(settings.tracking_uri).get_run(run_id)
        params = run.data.params
        if params.get("thresholds"):
            summary["thresholds"] = params["thresholds"].replace(",", ", ")
        versions = json.loads(run.data.tags.get("bvp.data_versions", "{}"))
        for key, v in versions.items():
            summary[f"data ({key})"] = (
                f"{v.get('first')} .. {v.get('last')}, {v.get('rows')} rows, "
                f"sha256 {str(v.get('sha256'))[:12]}"
            )
        first, last = params.get("train_first_origin"), params.get("train_last_origin")
        if first or last:
            summary["trained on origins"] = (
                f"{first} .. {last} ({params.get('train_rows', '?')} rows)"
            )
        path = download_artifact(settings, run_id, METRICS_ARTIFACT)
        if path is not None:
            metrics = walk_forward_table(pd.read_csv(path))
    return ChampionInfo(info["version"], run_id, summary, metrics)


def load_predictions(settings: Settings) -> tuple[ChampionInfo, pd.DataFrame]:
    """The champion's walk-forward predictions (normalised, cached per run).

    Raises:
        ModelNotFoundError: No champion, or its run logged no predictions table.
    """
    champ = load_champion(settings)
    if champ.run_id is None:
        raise ModelNotFoundError(
            settings.mlflow.model_name,
            f"v{champ.version} predictions",
            "The version has no run.",
        )
    if champ.run_id not in _PREDICTIONS:
        path = download_artifact(settings, champ.run_id, PREDICTIONS_ARTIFACT)
        if path is None:
            raise ModelNotFoundError(
                settings.mlflow.model_name, f"v{champ.version} {PREDICTIONS_ARTIFACT}",
                "Its training run logged no walk-forward predictions; re-run the training pipeline.",
            )  # fmt: skip
        try:
            _PREDICTIONS[champ.run_id] = normalize_predictions(pd.read_csv(path))
        except (ValueError, KeyError) as exc:
            raise BVPError(
                f"{PREDICTIONS_ARTIFACT} of run {champ.run_id} is unreadable: {exc}"
            ) from exc
    return champ, _PREDICTIONS[champ.run_id]


def walk_forward_table(metrics: pd.DataFrame) -> pd.DataFrame:
    """Model x horizon (1, 7, 14, 30, mean) table of macro-F1 / balanced acc. / log loss."""
    cols = [
        c
        for c in ("macro_f1", "balanced_accuracy", "log_loss", "brier")
        if c in metrics
    ]
    head = metrics[metrics["horizon"].isin(HEADLINE_HORIZONS)].copy()
    head["horizon"] = head["horizon"].map(lambda h: f"h{h}")
    mean = (
        metrics.groupby("model", sort=False)[cols]
        .mean()
        .reset_index()
        .assign(horizon="mean 1-30")
    )
    out = pd.concat(
        [head[["model", "horizon", *cols]], mean[["model", "horizon", *cols]]]
    )
    return out.round(3).reset_index(drop=True)

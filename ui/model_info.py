"""Champion metadata and walk-forward metrics for the Model tab (read from MLflow)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ml.errors import BVPError
from ml.settings import Settings

__all__ = ["champion_summary", "walk_forward_table"]

HEADLINE_HORIZONS = (1, 7, 14, 30)


def champion_summary(settings: Settings) -> tuple[dict[str, str], pd.DataFrame | None]:
    """Champion description and its walk-forward metrics (None if not logged)."""
    import mlflow

    from pipelines.tracking import resolve_alias

    info = resolve_alias(settings.tracking_uri, settings.mlflow.model_name, settings.mlflow.champion_alias)
    tags = info["tags"]
    summary = {
        "model": f"{info['name']} v{info['version']} (@{settings.mlflow.champion_alias})",
        "run": str(info["run_id"]),
        "fingerprint": tags.get("bvp.fingerprint", "?"),
        "thresholds": ", ".join(f"{t:.2f}" for t in settings.target.thresholds),
    }
    table = None
    if info["run_id"]:
        run = mlflow.MlflowClient(settings.tracking_uri).get_run(info["run_id"])
        versions = json.loads(run.data.tags.get("bvp.data_versions", "{}"))
        for key, v in versions.items():
            summary[f"data ({key})"] = f"{v.get('first')} .. {v.get('last')}, {v.get('rows')} rows, sha256 {str(v.get('sha256'))[:12]}"
        summary["trained on origins"] = f"{run.data.params.get('train_first_origin')} .. {run.data.params.get('train_last_origin')}"
        try:
            path = mlflow.artifacts.download_artifacts(
                run_id=info["run_id"], artifact_path="walk_forward/walk_forward_metrics.csv",
                tracking_uri=settings.tracking_uri,
            )  # fmt: skip
            table = walk_forward_table(pd.read_csv(Path(path)))
        except (BVPError, OSError, mlflow.exceptions.MlflowException):
            table = None
    return summary, table


def walk_forward_table(metrics: pd.DataFrame) -> pd.DataFrame:
    """Model x horizon (1, 7, 14, 30, mean) table of macro-F1 / balanced acc. / log loss."""
    cols = ["macro_f1", "balanced_accuracy", "log_loss"]
    head = metrics[metrics["horizon"].isin(HEADLINE_HORIZONS)].copy()
    head["horizon"] = head["horizon"].map(lambda h: f"h{h}")
    mean = metrics.groupby("model", sort=False)[cols].mean().reset_index().assign(horizon="mean 1-30")
    out = pd.concat([head[["model", "horizon", *cols]], mean[["model", "horizon", *cols]]])
    return out.round(3).reset_index(drop=True)

"""Monitoring step: Evidently drift report + champion performance, logged to MLflow.

Evidently 0.7 (``Report([DataDriftPreset()]).run(current, reference)``) writes the
HTML report; the verdict comes from ``ml.monitoring.feature_drift`` over the same
columns (the method Evidently uses for these sizes), so columns Evidently cannot take
(all-NaN, constant) and windows too small for a verdict are reported, never a crash.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ml.assessment import assess_champion, predictor
from ml.errors import DataValidationError
from ml.models import load_regime_model
from ml.monitoring import DriftSummary, feature_drift
from ml.panel import Panel

log = logging.getLogger(__name__)

__all__ = [
    "REPORT_FILE",
    "SUMMARY_FILE",
    "champion_cutoff",
    "champion_run_meta",
    "check_champion_thresholds",
    "evidently_report",
    "run_monitor",
]

REPORT_FILE = "drift_report.html"
SUMMARY_FILE = "monitoring_summary.json"


def evidently_report(
    reference: pd.DataFrame, current: pd.DataFrame, drift: DriftSummary, path: Path
) -> str:
    """Write Evidently's data-drift HTML report over the testable columns.

    Returns:
        "ok", or why no report could be made (the monitoring run goes on).
    """
    cols = list(drift.scores)
    if not cols or len(current) < 2:
        path.write_text(f"<html><body><p>No drift report: {len(cols)} testable columns, "
                        f"{len(current)} current rows. Skipped: {drift.skipped}</p></body></html>")  # fmt: skip
        return "skipped: nothing testable"
    try:
        from evidently import Report
        from evidently.presets import DataDriftPreset

        snap = Report([DataDriftPreset(drift_share=drift.drift_share)]).run(
            current.loc[:, cols].reset_index(drop=True),
            reference.loc[:, cols].reset_index(drop=True),
        )
        snap.save_html(str(path))
        return "ok"
    except Exception as exc:  # noqa: BLE001 - the report is evidence, not the verdict
        log.warning("Evidently report failed (%s); the drift verdict stands", exc)
        path.write_text(f"<html><body><p>Evidently failed: {exc}</p></body></html>")
        return f"failed: {exc}"


def champion_cutoff(panel: Panel, tags: dict[str, str], params: dict[str, str]) -> int:
    """Day index of the champion's training cutoff (its data's last day).

    From the ``bvp.data.daily.last`` tag (run or version), else the run's
    ``train_last_origin`` parameter, else the last day (a conservative reference).
    """
    last = tags.get("bvp.data.daily.last") or params.get("train_last_origin")
    if not last:
        return len(panel.days) - 1
    return min(panel.day_index(last), len(panel.days) - 1)


def champion_run_meta(info: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """(run tags merged with version tags, run params) of a registry version."""
    import mlflow

    if not info.get("run_id"):
        return dict(info["tags"]), {}
    run = mlflow.get_run(info["run_id"])
    return {**run.data.tags, **info["tags"]}, dict(run.data.params)


def check_champion_thresholds(
    panel: Panel, params: dict[str, str], version: str
) -> None:
    """Refuse to judge a champion trained for other regime thresholds than the panel's.

    Its classes would be scored against labels of another target, and a retrained
    challenger could not be compared with it.

    Raises:
        DataValidationError: Names both threshold pairs and the two ways out.
    """
    trained = params.get("thresholds")
    if not trained:  # registered without the parameter: nothing to compare
        return
    got = tuple(float(x) for x in trained.split(","))
    if np.allclose(got, panel.thresholds):
        return
    want = ",".join(f"{x:g}" for x in got)
    raise DataValidationError(
        "thresholds", list(panel.thresholds),
        f"expected the champion's {list(got)} (v{version} was trained for them): "
        f"monitor it with BVP_TARGET__THRESHOLDS='[{want}]', or train a champion for "
        "these thresholds with bvp train",
    )  # fmt: skip


def run_monitor(
    panel: Panel,
    tracking_uri: str,
    artifact_root: str,
    experiment: str,
    model_name: str,
    alias: str,
    settings: dict[str, Any],
    out_dir: Path,
) -> dict[str, Any]:
    """Assess the champion at the panel's last day; log a run with the HTML report.

    Args:
        panel: Candles known now.
        tracking_uri: MLflow tracking URI.
        artifact_root: Artifact root for a new experiment.
        experiment: Monitoring experiment (``volatility_monitoring``).
        model_name: Registered model.
        alias: Alias being monitored (champion).
        settings: ``window_days``, ``drift_threshold``, ``drift_share``, ``min_rows``.
        out_dir: Where the report and summary go (also logged to MLflow).

    Returns:
        Summary: champion version, drift and performance dicts, report status.
    """
    import mlflow

    from pipelines.promotion import download_version
    from pipelines.tracking import ensure_experiment

    out_dir.mkdir(parents=True, exist_ok=True)
    booster, info = download_version(
        tracking_uri, model_name, alias, out_dir / "models"
    )
    tags, params = champion_run_meta(info)
    check_champion_thresholds(panel, params, info["version"])
    cutoff = champion_cutoff(panel, tags, params)
    asof = len(panel.days) - 1
    a = assess_champion(panel, predictor(panel, load_regime_model(booster)), cutoff, asof,
                        int(settings["window_days"]))  # fmt: skip
    drift = feature_drift(a.reference, a.current, float(settings["drift_threshold"]),
                          float(settings["drift_share"]), int(settings["min_rows"]))  # fmt: skip
    status = evidently_report(a.reference, a.current, drift, out_dir / REPORT_FILE)
    summary = {
        "asof": str(panel.days[asof].date()), "champion_version": info["version"],
        "champion_cutoff": str(panel.days[cutoff].date()), "report": status,
        "drift": drift.as_dict(), "performance": a.performance.as_dict(),
    }  # fmt: skip
    (out_dir / SUMMARY_FILE).write_text(json.dumps(summary, indent=2, default=float))
    exp_id = ensure_experiment(tracking_uri, experiment, artifact_root)
    with mlflow.start_run(
        experiment_id=exp_id, run_name=f"monitor-{summary['asof']}"
    ) as run:
        mlflow.set_tags(
            {"bvp.stage": "monitor", "bvp.champion_version": info["version"]}
        )
        mlflow.log_metrics({"drift_share": drift.share, "n_current": drift.n_current,
                            **{f"perf_{k}": float(v) for k, v in a.performance.as_dict().items()
                               if pd.notna(v)}})  # fmt: skip
        mlflow.log_artifact(str(out_dir / REPORT_FILE))
        mlflow.log_artifact(str(out_dir / SUMMARY_FILE))
    summary["mlflow_run_id"] = run.info.run_id
    return summary

"""Monitoring tab: the latest run of the monitoring experiment and the replay plot.

Reads whatever the monitoring job logged (metrics, params, tags, an Evidently HTML
report artifact) without assuming more than "runs in experiment
``settings.monitoring.experiment``"; no runs is a normal state, not an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ml.settings import Settings
from ui.model_info import download_artifact

__all__ = ["REPLAY_PLOT", "MonitoringView", "load_monitoring", "replay_plot_path"]

REPLAY_PLOT = Path("reports") / "replay.png"
"""Replay plot written by the replay job, relative to ``BVP_HOME``."""
NO_RUNS = (
    "No monitoring runs yet. They appear here after "
    "`bvp pipeline run monitoring --local` (or the scheduled monitoring pipeline) runs."
)


@dataclass(frozen=True)
class MonitoringView:
    """What the Monitoring tab shows."""

    message: str
    metrics: pd.DataFrame
    report: Path | None = None
    """Local copy of the Evidently HTML report."""
    report_url: str | None = None
    """The run's artifacts page in the MLflow UI, when the tracking server has one."""


def replay_plot_path(settings: Settings) -> Path | None:
    """``<home>/reports/replay.png`` when it exists."""
    path = settings.home / REPLAY_PLOT
    return path if path.is_file() else None


def _find_html(
    client: object, run_id: str, path: str = "", depth: int = 2
) -> str | None:
    for item in client.list_artifacts(run_id, path or None):  # type: ignore[attr-defined]
        if item.is_dir and depth > 0:
            found = _find_html(client, run_id, item.path, depth - 1)
            if found:
                return found
        elif item.path.endswith(".html"):
            return str(item.path)
    return None


def load_monitoring(settings: Settings) -> MonitoringView:
    """Summary of the latest monitoring run (or the no-runs message)."""
    import mlflow

    client = mlflow.MlflowClient(settings.tracking_uri)
    exp = client.get_experiment_by_name(settings.monitoring.experiment)
    runs = (
        []
        if exp is None
        else client.search_runs(
            [exp.experiment_id], order_by=["attributes.start_time DESC"], max_results=1
        )
    )
    if not runs:
        return MonitoringView(NO_RUNS, pd.DataFrame())
    run = runs[0]
    started = pd.Timestamp(run.info.start_time, unit="ms", tz="UTC").strftime(
        "%Y-%m-%d %H:%M UTC"
    )
    lines = [
        f"**Latest monitoring run** `{run.info.run_id}` ({run.info.run_name or 'unnamed'}), started {started}, status {run.info.status}"
    ]
    lines += [f"- **{k}**: {v}" for k, v in sorted(run.data.params.items())]
    lines += [
        f"- **{k}**: {v}"
        for k, v in sorted(run.data.tags.items())
        if not k.startswith("mlflow.")
    ]
    metrics = pd.DataFrame(
        sorted(run.data.metrics.items()), columns=["metric", "value"]
    ).round(4)
    html = _find_html(client, run.info.run_id)
    report = download_artifact(settings, run.info.run_id, html) if html else None
    url = None
    if settings.tracking_uri.startswith(("http://", "https://")):
        url = f"{settings.tracking_uri.rstrip('/')}/#/experiments/{exp.experiment_id}/runs/{run.info.run_id}/artifacts"  # type: ignore[union-attr]
    if html is None:
        lines.append("- no Evidently HTML report in this run's artifacts")
    return MonitoringView("\n".join(lines), metrics, report, url)

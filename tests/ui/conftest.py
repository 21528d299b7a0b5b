"""UI fixtures: a tiny real champion (booster + MLflow registry + walk-forward tables).

Built once per session from the bundled candles: an XGBoost classifier with 30 trees
trained on origins up to 2024-06-01, a short walk-forward (xgboost and a climatology
baseline, origins from 2024-10-01) and the artifacts the evaluate step would log.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ml.settings import MlflowSettings, Settings

THRESHOLDS = (0.40, 0.65)
TRAIN_CUTOFF = "2024-06-01"
FIRST_ORIGIN = "2024-10-01"


class Climatology:
    """Baseline: class frequencies per horizon among labels known at the cutoff."""

    name = "climatology"

    def fit(self, panel, cutoff):
        known = panel.label_known(cutoff)
        self.freq = np.stack(
            [
                np.bincount(panel.labels[known[:, j], j], minlength=3)
                for j in range(known.shape[1])
            ]
        ).astype("float64")
        self.freq /= self.freq.sum(axis=1, keepdims=True)

    def predict_proba(self, panel, origins):
        return np.broadcast_to(self.freq, (len(origins), *self.freq.shape)).copy()


@dataclass(frozen=True)
class Champion:
    """A registered champion in an isolated home."""

    home: Path
    tracking_uri: str
    booster: Path
    version: str
    run_id: str
    predictions: pd.DataFrame

    def settings(self, **overrides) -> Settings:
        return Settings(
            home=self.home,
            mlflow=MlflowSettings(tracking_uri=self.tracking_uri),
            **overrides,
        )


@pytest.fixture(scope="session")
def champion(tmp_path_factory: pytest.TempPathFactory) -> Champion:
    from ml.data import bundled_path, read_candles
    from ml.evaluation import walk_forward
    from ml.models import (
        BOOSTER_FILE,
        RegimeModelSpec,
        XGBForecaster,
        fit_regime_model,
        training_rows,
    )
    from ml.panel import build_panel
    from pipelines.tracking import log_evaluation, log_training_run, register_version

    home = tmp_path_factory.mktemp("ui-champion")
    settings = Settings(
        home=home, mlflow=MlflowSettings(tracking_uri=f"sqlite:///{home / 'mlflow.db'}")
    )
    daily, h4 = read_candles(bundled_path("1d")), read_candles(bundled_path("4h"))
    panel = build_panel(daily, h4, THRESHOLDS)
    spec = RegimeModelSpec(n_estimators=30, n_jobs=1)
    cutoff = panel.day_index(TRAIN_CUTOFF)
    model = fit_regime_model(*training_rows(panel, cutoff), spec)
    model_dir = home / "model"
    model_dir.mkdir()
    model.save_model(str(model_dir / BOOSTER_FILE))
    from pipelines.steps import (
        train_structural,  # as the train step: registered with it
    )

    cut = pd.Timestamp(TRAIN_CUTOFF) + pd.Timedelta(days=1)
    train_structural(
        build_panel(
            daily[daily["open_time"] < cut], h4[h4["open_time"] < cut], THRESHOLDS
        ),
        model_dir,
    )

    results = [
        walk_forward(panel, make, FIRST_ORIGIN, 90)
        for make in (lambda: XGBForecaster(spec), Climatology)
    ]
    eval_dir = home / "eval"
    eval_dir.mkdir()
    metrics = pd.concat([r.metrics() for r in results], ignore_index=True)
    metrics.to_csv(eval_dir / "walk_forward_metrics.csv", index=False)
    preds = pd.concat([r.to_frame().assign(model=r.name) for r in results])
    preds.to_csv(eval_dir / "walk_forward_predictions.csv", index=False)

    versions = {
        k: {
            "first": str(f["open_time"].min().date()),
            "last": str(f["open_time"].max().date()),
            "rows": len(f),
            "sha256": "0" * 64,
        }
        for k, f in (("1d", daily), ("4h", h4))
    }
    first_origin = str(panel.days[panel.first_usable].date())
    params = {**asdict(spec), "thresholds": "0.4,0.65", "train_rows": int(panel.label_known(cutoff).sum()),
              "train_first_origin": first_origin, "train_last_origin": TRAIN_CUTOFF}  # fmt: skip
    tags = {"bvp.fingerprint": "test-fp", "bvp.data_versions": json.dumps(versions)}
    uri = settings.tracking_uri
    run_id, model_uri = log_training_run(
        uri, "volatility_prediction", settings.artifact_root, model_dir, params, tags
    )
    log_evaluation(uri, run_id, metrics, eval_dir)
    version, _ = register_version(
        uri, settings.mlflow.model_name, model_uri, run_id, "test-fp", "champion"
    )
    return Champion(home, uri, model_dir / BOOSTER_FILE, version, run_id, preds)


@pytest.fixture(scope="session")
def monitored(champion: Champion) -> Champion:
    """The champion's home with two monitoring runs (HTML report) and a replay plot."""
    import mlflow

    mlflow.set_tracking_uri(champion.tracking_uri)
    exp = mlflow.create_experiment(
        "volatility_monitoring", artifact_location=(champion.home / "mon").as_uri()
    )
    for share in (0.1, 0.6):
        with mlflow.start_run(experiment_id=exp, run_name=f"monitor-{share}"):
            mlflow.log_metrics({"drift_share": share, "macro_f1_recent": 0.5})
            mlflow.log_param("window_days", 180)
            mlflow.log_text("<html>drift</html>", "evidently/drift_report.html")
    reports = champion.home / "reports"
    reports.mkdir(exist_ok=True)
    _replay_png(reports / "replay.png")
    return champion


def _replay_png(path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 2.5))
    ax.plot(range(30), np.sin(np.arange(30) / 4), label="replayed p_high")
    ax.set_title("replay (test fixture)")
    ax.legend()
    fig.savefig(path, dpi=80)
    plt.close(fig)

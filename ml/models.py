"""The regime model: one XGBoost classifier over (origin, horizon) rows.

Horizon is an input feature, so one booster answers all 30 horizons and serves as a
single MLServer model (30 rows per request). The spec (hyper-parameters) is separate
from the fitted result.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import xgboost as xgb

from ml._typing import FloatArray, IntArray
from ml.errors import DataValidationError
from ml.features import FEATURE_NAMES
from ml.labels import REGIMES
from ml.panel import Panel

__all__ = [
    "BOOSTER_FILE",
    "MAX_HORIZON_ATTR",
    "Forecaster",
    "PerHorizonXGBForecaster",
    "RegimeModelSpec",
    "XGBForecaster",
    "fit_regime_model",
    "load_regime_model",
    "training_rows",
]

BOOSTER_FILE = "model.ubj"
"""File name MLServer's xgboost runtime loads (sklearn-API classifier, UBJSON)."""
MAX_HORIZON_ATTR = "bvp_max_horizon"
"""Booster attribute: the largest horizon (column 0 of the input) it was trained on;
the served runtime refuses rows outside 1..this."""


class Forecaster(Protocol):
    """Anything evaluated walk-forward: refit at a cutoff day, predict origins."""

    name: str

    def fit(self, panel: Panel, cutoff: int) -> None:
        """Fit on what was known on day index ``cutoff`` (labels with i + h <= cutoff)."""

    def predict_proba(self, panel: Panel, origins: IntArray) -> FloatArray:
        """Regime probabilities, shape (len(origins), H, 3)."""


@dataclass(frozen=True)
class RegimeModelSpec:
    """Hyper-parameters of the regime classifier."""

    n_estimators: int = 300
    max_depth: int = 3
    learning_rate: float = 0.03
    subsample: float = 0.8
    colsample_bytree: float = 0.8
    min_child_weight: float = 20.0
    seed: int = 7
    n_jobs: int = 2

    def params(self) -> dict[str, float | int | str]:
        """Keyword arguments for ``xgb.XGBClassifier``."""
        p = asdict(self)
        return {
            **{k: v for k, v in p.items() if k not in ("seed",)},
            "random_state": self.seed,
            "objective": "multi:softprob",
            "tree_method": "hist",
            "eval_metric": "mlogloss",
        }


def training_rows(panel: Panel, cutoff: int) -> tuple[FloatArray, IntArray]:
    """Rows (X, y) whose labels were known on day ``cutoff``."""
    mask = panel.label_known(cutoff)
    return panel.x[mask], panel.labels[mask]


def fit_regime_model(
    x: FloatArray, y: IntArray, spec: RegimeModelSpec
) -> xgb.XGBClassifier:
    """Fit the classifier.

    Raises:
        DataValidationError: The training window lacks one of the three regimes.
    """
    present = sorted(set(np.unique(y).tolist()))
    if present != [0, 1, 2]:
        raise DataValidationError(
            "labels",
            [REGIMES[i] for i in present],
            "expected all three regimes (low, normal, high) in the training window; "
            "widen it (train_start/train_end) or move the thresholds",
        )
    model = xgb.XGBClassifier(**spec.params())
    model.fit(x, y)
    model.get_booster().set_attr(**{MAX_HORIZON_ATTR: str(int(x[:, 0].max()))})
    return model


def load_regime_model(path: str | Path) -> xgb.XGBClassifier:
    """Load a saved classifier (``model.ubj``)."""
    model = xgb.XGBClassifier()
    model.load_model(str(path))
    return model


class XGBForecaster:
    """Walk-forward wrapper of the regime classifier."""

    name = "xgboost"

    def __init__(self, spec: RegimeModelSpec) -> None:
        self.spec = spec
        self.model: xgb.XGBClassifier | None = None

    def fit(self, panel: Panel, cutoff: int) -> None:
        """Fit on rows known at ``cutoff``."""
        self.model = fit_regime_model(*training_rows(panel, cutoff), self.spec)

    def predict_proba(self, panel: Panel, origins: IntArray) -> FloatArray:
        """Probabilities (len(origins), H, 3)."""
        if self.model is None:
            raise RuntimeError("fit() before predict_proba()")
        x = panel.x[origins]
        n, h, k = x.shape
        assert k == len(FEATURE_NAMES)
        p = self.model.predict_proba(x.reshape(n * h, k))
        return np.asarray(p, dtype="float64").reshape(n, h, 3)


class PerHorizonXGBForecaster:
    """The alternative to pooling: one classifier per horizon, same spec and features.

    Compared walk-forward with the pooled model by ``bench/forecast.py --classifiers``;
    not served (30 boosters would be 30 MLServer models or one custom runtime).
    """

    name = "xgboost_per_horizon"

    def __init__(self, spec: RegimeModelSpec) -> None:
        self.spec = spec
        self.models: list[xgb.XGBClassifier] = []

    def fit(self, panel: Panel, cutoff: int) -> None:
        """Fit horizon h's classifier on its rows known at ``cutoff``."""
        mask = panel.label_known(cutoff)
        self.models = [
            fit_regime_model(panel.x[:, j][mask[:, j]], panel.labels[:, j][mask[:, j]], self.spec)
            for j in range(len(panel.horizons))
        ]  # fmt: skip

    def predict_proba(self, panel: Panel, origins: IntArray) -> FloatArray:
        """Probabilities (len(origins), H, 3)."""
        if not self.models:
            raise RuntimeError("fit() before predict_proba()")
        x = panel.x[origins]
        return np.stack(
            [np.asarray(m.predict_proba(x[:, j]), dtype="float64")
             for j, m in enumerate(self.models)], axis=1,
        )  # fmt: skip

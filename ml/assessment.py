"""Panel-level inputs of the monitoring decision, shared by the pipeline and the replay.

``predict`` arguments are callables mapping origin day indices to probabilities of
shape (n, H, 3), so the same code serves a registry model, a cached replay model or a
test double.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xgboost as xgb

from ml._typing import FloatArray, IntArray
from ml.features import DAILY_FEATURES, FEATURE_NAMES
from ml.labels import REGIMES
from ml.monitoring import (
    PerformanceSummary,
    climatology,
    daily_log_losses,
    matured_mask,
    summarize_performance,
)
from ml.panel import Panel

__all__ = [
    "PREDICTION_COLUMNS",
    "Predict",
    "WindowAssessment",
    "assess_champion",
    "gate_losses",
    "predictor",
]

Predict = Callable[[IntArray], FloatArray]
PREDICTION_COLUMNS = tuple(f"pred_p_{r}" for r in REGIMES)
"""Per-day mean predicted probability over horizons (prediction drift columns)."""


def predictor(panel: Panel, model: xgb.XGBClassifier) -> Predict:
    """Wrap a fitted classifier as a :data:`Predict` over ``panel``'s origins."""

    def predict(origins: IntArray) -> FloatArray:
        x = panel.x[origins]
        n, h, _ = x.shape
        p = model.predict_proba(x.reshape(n * h, len(FEATURE_NAMES)))
        return np.asarray(p, dtype="float64").reshape(n, h, 3)

    return predict


@dataclass(frozen=True)
class WindowAssessment:
    """Reference and current rows for drift, and the champion's matured performance."""

    reference: pd.DataFrame
    """Daily features (+ predictions) over the champion's training days."""
    current: pd.DataFrame
    """The same columns over the last ``window_days`` days up to asof."""
    performance: PerformanceSummary


def _with_predictions(
    panel: Panel, days: IntArray, predict: Predict | None
) -> pd.DataFrame:
    frame = panel.features.iloc[days].loc[:, list(DAILY_FEATURES)].copy()
    if predict is not None and len(days):
        mean_p = predict(days).mean(axis=1)
        for j, col in enumerate(PREDICTION_COLUMNS):
            frame[col] = mean_p[:, j]
    return frame


def assess_champion(
    panel: Panel,
    predict: Predict,
    cutoff: int,
    asof: int,
    window_days: int,
    with_predictions: bool = True,
) -> WindowAssessment:
    """Drift inputs and matured-label performance of the champion at ``asof``.

    Args:
        panel: Data known at ``asof`` (later rows are ignored).
        predict: The champion.
        cutoff: Day index of the champion's training cutoff (labels known then).
        asof: Day index of "now".
        window_days: Length of the recent window, days.
        with_predictions: Add :data:`PREDICTION_COLUMNS` to the drift frames.

    Notes:
        Reference days: [first usable day, cutoff]. Current days: (asof - window,
        asof]. Performance: origins in [asof - window, asof) with t + h <= asof only;
        the no-skill reference is the climatology of the champion's training labels.
    """
    first = panel.first_usable
    ref_days = np.arange(first, max(cutoff, first - 1) + 1)
    cur_days = np.arange(max(asof - window_days + 1, first), asof + 1)
    p = predict if with_predictions else None
    origins = np.arange(max(asof - window_days, first), max(asof, first))
    labels = panel.labels[origins]
    mask = matured_mask(origins, labels, asof)
    perf = summarize_performance(
        predict(origins) if len(origins) else np.zeros((0, labels.shape[1], 3)),
        labels, mask, climatology(panel.labels[panel.label_known(cutoff)]),
    )  # fmt: skip
    return WindowAssessment(
        _with_predictions(panel, ref_days, p),
        _with_predictions(panel, cur_days, p),
        perf,
    )


def gate_losses(
    panel: Panel, champion: Predict, challenger: Predict, asof: int, gate_days: int
) -> tuple[FloatArray, FloatArray]:
    """Per-origin-day log losses of both models on the gate window.

    Origins in [asof - gate_days, asof), pairs with t + h <= asof only. The challenger
    must have been fitted on labels known at asof - gate_days (out of sample here).
    """
    origins = np.arange(max(asof - gate_days, panel.first_usable), asof)
    labels = panel.labels[origins]
    mask = matured_mask(origins, labels, asof)
    return (
        daily_log_losses(champion(origins), labels, mask),
        daily_log_losses(challenger(origins), labels, mask),
    )

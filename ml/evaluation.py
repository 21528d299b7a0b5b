"""Walk-forward evaluation and the classification metrics it reports.

Protocol: expanding window; the forecaster is refit on day R_k = first_origin +
k * refit_every using only samples whose label was known on R_k (i + h <= R_k), then
predicts every origin in [R_k, R_{k+1}). Origins whose target lies beyond the data are
predicted but not scored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ml._typing import FloatArray, IntArray
from ml.errors import DataValidationError
from ml.labels import REGIMES
from ml.models import Forecaster
from ml.panel import Panel

__all__ = [
    "EPS",
    "PROB_COLUMNS",
    "WalkForwardResult",
    "balanced_accuracy",
    "brier_score",
    "confusion",
    "first_origin_index",
    "log_loss",
    "macro_f1",
    "score_predictions",
    "walk_forward",
]

EPS = 1e-15
PROB_COLUMNS = tuple(f"p_{r}" for r in REGIMES)


def log_loss(y: IntArray, p: FloatArray) -> float:
    """Mean multiclass log loss, probabilities clipped to [1e-15, 1]."""
    p = np.clip(p / p.sum(axis=1, keepdims=True), EPS, 1.0)
    return float(-np.mean(np.log(p[np.arange(len(y)), y])))


def brier_score(y: IntArray, p: FloatArray) -> float:
    """Mean over rows of sum_k (p_k - 1[y=k])^2 (range 0..2)."""
    onehot = np.eye(p.shape[1])[y]
    return float(np.mean(np.sum((p - onehot) ** 2, axis=1)))


def confusion(y: IntArray, pred: IntArray, k: int = 3) -> IntArray:
    """Confusion matrix, rows true class, columns predicted class."""
    m = np.zeros((k, k), dtype="int64")
    np.add.at(m, (y, pred), 1)
    return m


def macro_f1(y: IntArray, pred: IntArray, k: int = 3) -> float:
    """Unweighted mean of per-class F1 over classes present in y or pred."""
    m = confusion(y, pred, k)
    tp = np.diag(m).astype(float)
    support, predicted = m.sum(axis=1), m.sum(axis=0)
    present = (support + predicted) > 0
    denom = support + predicted
    f1 = np.divide(2 * tp, denom, out=np.zeros(k), where=denom > 0)
    return float(f1[present].mean())


def balanced_accuracy(y: IntArray, pred: IntArray, k: int = 3) -> float:
    """Mean recall over classes present in y."""
    m = confusion(y, pred, k)
    support = m.sum(axis=1)
    present = support > 0
    return float((np.diag(m)[present] / support[present]).mean())


def score_predictions(y: IntArray, p: FloatArray) -> dict[str, float]:
    """Every classification metric for one set of predictions."""
    pred = p.argmax(axis=1)
    return {
        "macro_f1": macro_f1(y, pred),
        "balanced_accuracy": balanced_accuracy(y, pred),
        "log_loss": log_loss(y, p),
        "brier": brier_score(y, p),
        "accuracy": float(np.mean(pred == y)),
        "n": float(len(y)),
    }


@dataclass(frozen=True)
class WalkForwardResult:
    """Predictions of one forecaster for every origin x horizon."""

    name: str
    origins: IntArray
    proba: FloatArray
    """Shape (len(origins), H, 3)."""
    labels: IntArray
    """Shape (len(origins), H); -1 where the target lies beyond the data."""
    days: pd.DatetimeIndex
    """Origin dates."""

    def metrics(self, horizons: Iterable[int] | None = None) -> pd.DataFrame:
        """One row per horizon: macro-F1, balanced accuracy, log loss, Brier."""
        hs = (
            list(horizons)
            if horizons is not None
            else range(1, self.labels.shape[1] + 1)
        )
        rows = []
        for h in hs:
            ok = self.labels[:, h - 1] >= 0
            rows.append(
                {"model": self.name, "horizon": h, **score_predictions(
                    self.labels[ok, h - 1], self.proba[ok, h - 1])}
            )  # fmt: skip
        return pd.DataFrame(rows)

    def confusion(self, h: int) -> IntArray:
        """Confusion matrix at horizon h (argmax predictions)."""
        ok = self.labels[:, h - 1] >= 0
        return confusion(self.labels[ok, h - 1], self.proba[ok, h - 1].argmax(axis=1))

    def to_frame(self) -> pd.DataFrame:
        """Long format: origin_date, horizon, p_low, p_normal, p_high, regime."""
        n, hh, _ = self.proba.shape
        frame = pd.DataFrame(self.proba.reshape(n * hh, 3), columns=list(PROB_COLUMNS))
        frame.insert(0, "horizon", np.tile(np.arange(1, hh + 1), n))
        frame.insert(0, "origin_date", np.repeat(self.days.date, hh))
        frame["regime"] = self.labels.reshape(-1)
        return frame


def first_origin_index(panel: Panel, first_origin: str) -> int:
    """Index of the first walk-forward origin, ``first_origin`` or the next day.

    Raises:
        DataValidationError: ``first_origin`` (``BVP_TRAIN__FIRST_TEST_ORIGIN``) is
            not a date, is after the data's last day, or is before the first day whose
            known labels hold all three regimes.
    """
    from ml.data import parse_day

    day = parse_day(first_origin, "first_origin")
    start = panel.day_index(day)
    if start >= len(panel.days):
        raise DataValidationError(
            "first_origin", first_origin,
            f"expected {panel.days[-1].date()} (the data's last day) or earlier "
            "(BVP_TRAIN__FIRST_TEST_ORIGIN)",
        )  # fmt: skip
    ready = panel.first_full_cutoff()
    if ready is not None and start < ready:  # None: the model's own error says it
        raise DataValidationError(
            "first_origin", first_origin,
            f"expected {panel.days[min(ready, len(panel.days) - 1)].date()} or later: "
            "the first refit needs labels of all three regimes known by then "
            "(BVP_TRAIN__FIRST_TEST_ORIGIN)",
        )  # fmt: skip
    return start


def walk_forward(
    panel: Panel,
    make_forecaster: Callable[[], Forecaster],
    first_origin: str,
    refit_every: int = 30,
    last_origin: int | None = None,
    on_refit: Callable[[int, int], None] | None = None,
) -> WalkForwardResult:
    """Expanding-window walk-forward predictions.

    Args:
        panel: The data.
        make_forecaster: Builds a fresh forecaster (one per refit).
        first_origin: First origin date (ISO).
        refit_every: Days between refits.
        last_origin: Last origin index (default: the last day).
        on_refit: Called with (refit number, total refits) for progress.

    Returns:
        Predictions for every origin from ``first_origin`` on.
    """
    start = first_origin_index(panel, first_origin)
    end = len(panel.days) - 1 if last_origin is None else last_origin
    if start > end:
        raise DataValidationError(
            "first_origin", first_origin,
            f"expected {panel.days[end].date()} (the last origin) or earlier",
        )  # fmt: skip
    cutoffs = list(range(start, end + 1, refit_every))
    probs = []
    for k, cutoff in enumerate(cutoffs):
        origins = np.arange(cutoff, min(cutoff + refit_every, end + 1))
        model = make_forecaster()
        model.fit(panel, cutoff)
        probs.append(model.predict_proba(panel, origins))
        if on_refit is not None:
            on_refit(k + 1, len(cutoffs))
    origins = np.arange(start, end + 1)
    return WalkForwardResult(
        name=make_forecaster().name,
        origins=origins,
        proba=np.concatenate(probs),
        labels=panel.labels[origins],
        days=panel.days[origins],
    )

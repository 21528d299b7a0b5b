"""Model-vs-baselines comparison on the walk-forward protocol, with bootstrap CIs.

Every forecaster is refit on the same days with the same information set
(:func:`ml.evaluation.walk_forward`'s protocol). Regime metrics are scored on origins
whose label is known; the level metrics (QLIKE of the variance forecast, coverage of
the 80% volatility interval) on origins whose realised volatility over (t, t+h] is
known. Confidence intervals: moving-block bootstrap over origins (30-day blocks,
the same resampled origins for every model, so differences are paired).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ml._typing import FloatArray, IntArray
from ml.evaluation import (
    balanced_accuracy,
    brier_score,
    first_origin_index,
    log_loss,
    macro_f1,
)
from ml.labels import ANNUALIZATION
from ml.panel import Panel
from ml.scoring import (
    block_bootstrap_ci,
    interval_coverage,
    qlike,
    realized_variance_forward,
)

__all__ = [
    "REPORT_HORIZONS",
    "ForecastRecord",
    "compare_forecasts",
    "level_with_variance",
    "reliability_curve",
    "run_forecasters",
]

REPORT_HORIZONS: tuple[int | str, ...] = (1, 7, 14, 30, "mean")
"""Rows of the table: single horizons and the mean over 1..30."""
CLASS_METRICS = ("macro_f1", "balanced_accuracy", "log_loss", "brier")
LEVEL_METRICS = ("qlike", "coverage_80")


@dataclass(frozen=True)
class ForecastRecord:
    """Walk-forward output of one forecaster."""

    name: str
    proba: FloatArray
    """(n, H, 3) regime probabilities."""
    level: FloatArray | None
    """(n, H, 4) E[vol], q10, q90, E[variance] (annualised), or None."""


def level_with_variance(
    model: object, panel: Panel, origins: IntArray
) -> FloatArray | None:
    """(n, H, 4) level forecast of a forecaster (None if it has no level forecast).

    The structural model returns E[variance] itself; HAR's is 365 exp(mu + s^2/2)
    (its lognormal), GARCH's the mean over its simulated paths.
    """
    from ml.vol_baselines import GarchTForecaster, HARForecaster

    if isinstance(model, GarchTForecaster):
        out = []
        for block in np.array_split(np.asarray(origins), max(1, len(origins) // 32)):
            sim = model.simulate(panel, block)
            rv2 = (
                np.cumsum(sim**2, axis=2)
                * ANNUALIZATION
                / np.arange(1, sim.shape[2] + 1)
            )
            rv = np.sqrt(rv2)
            q = np.quantile(rv, (0.1, 0.9), axis=1)
            out.append(
                np.stack([rv.mean(axis=1), q[0], q[1], rv2.mean(axis=1)], axis=-1)
            )
        return np.concatenate(out)
    predict_level = getattr(model, "predict_level", None)
    if predict_level is None:
        return None
    level = np.asarray(predict_level(panel, origins), dtype="float64")
    if isinstance(model, HARForecaster):
        assert model.sigma_ is not None
        var = ANNUALIZATION * np.exp(model._mu(panel, origins) + model.sigma_**2 / 2)
        level = np.concatenate([level, var[..., None]], axis=-1)
    return level


def run_forecasters(
    panel: Panel,
    makers: dict[str, Callable[[], object]],
    first_origin: str,
    refit_every: int = 30,
    progress: Callable[[str, int, int], None] | None = None,
    last_origin: str | None = None,
) -> tuple[IntArray, dict[str, ForecastRecord]]:
    """Walk-forward probabilities (and levels where available) of every forecaster.

    Origins run from ``first_origin`` to ``last_origin`` (default: the last day).
    """
    start = first_origin_index(panel, first_origin)
    end = len(panel.days) - 1
    if last_origin is not None:  # the last day <= last_origin
        end = min(
            end, int(panel.days.searchsorted(pd.Timestamp(last_origin), "right")) - 1
        )
    cutoffs = list(range(start, end + 1, refit_every))
    records = {}
    for name, make in makers.items():
        probs, levels = [], []
        for k, cutoff in enumerate(cutoffs):
            origins = np.arange(cutoff, min(cutoff + refit_every, end + 1))
            model = make()
            model.fit(panel, cutoff)  # type: ignore[attr-defined]
            probs.append(model.predict_proba(panel, origins))  # type: ignore[attr-defined]
            levels.append(level_with_variance(model, panel, origins))
            if progress is not None:
                progress(name, k + 1, len(cutoffs))
        lv: FloatArray | None = (
            None if levels[0] is None else np.concatenate(levels)  # type: ignore[arg-type]
        )
        records[name] = ForecastRecord(name, np.concatenate(probs), lv)
    return np.arange(start, end + 1), records


def _class_metric(metric: str, y: IntArray, p: FloatArray) -> float:
    if metric == "log_loss":
        return log_loss(y, p)
    if metric == "brier":
        return brier_score(y, p)
    pred = p.argmax(axis=1)
    return macro_f1(y, pred) if metric == "macro_f1" else balanced_accuracy(y, pred)


def _statistic(
    metric: str, rec: ForecastRecord, labels: IntArray, rv: FloatArray, hs: list[int]
) -> Callable[[IntArray], float] | None:
    """Map resampled origin positions to the metric averaged over horizons ``hs``."""
    if metric in LEVEL_METRICS and rec.level is None:
        return None
    level = rec.level

    def stat(idx: IntArray) -> float:
        vals = []
        for h in hs:
            if metric in CLASS_METRICS:
                y = labels[idx, h - 1]
                ok = y >= 0
                vals.append(_class_metric(metric, y[ok], rec.proba[idx, h - 1][ok]))
            else:
                assert level is not None
                x = rv[idx, h - 1]
                ok = np.isfinite(x)
                lv = level[idx, h - 1][ok]
                vals.append(
                    qlike(x[ok], lv[:, 3]) if metric == "qlike"
                    else interval_coverage(np.sqrt(x[ok]), lv[:, 1], lv[:, 2])
                )  # fmt: skip
        return float(np.mean(vals))

    return stat


def compare_forecasts(
    panel: Panel,
    origins: IntArray,
    records: dict[str, ForecastRecord],
    n_boot: int = 200,
    block: int = 30,
    reference: str | None = None,
) -> pd.DataFrame:
    """Long table: model, horizon, metric, value, ci_lo, ci_hi (90% block bootstrap).

    With ``reference`` (the candidate model's name), rows ``model = "<ref> - <other>"``
    add the paired bootstrap interval of the difference in log loss and QLIKE.
    """
    labels = panel.labels[origins]
    rv = realized_variance_forward(panel.returns, labels.shape[1])[origins]
    n, rows = len(origins), []
    all_h = list(range(1, labels.shape[1] + 1))
    for horizon in REPORT_HORIZONS:
        hs = all_h if horizon == "mean" else [int(horizon)]
        for metric in (*CLASS_METRICS, *LEVEL_METRICS):
            stats = {
                k: _statistic(metric, r, labels, rv, hs) for k, r in records.items()
            }
            for name, stat in stats.items():
                if stat is None:
                    continue
                lo, hi = block_bootstrap_ci(stat, n, block, n_boot)
                rows.append((name, str(horizon), metric, stat(np.arange(n)), lo, hi))
            ref = stats.get(reference) if reference else None
            if ref is None or metric not in ("log_loss", "qlike"):
                continue
            for name, stat in stats.items():
                if name == reference or stat is None:
                    continue

                def diff(idx: IntArray, a=ref, b=stat) -> float:  # type: ignore[no-untyped-def]
                    return a(idx) - b(idx)

                lo, hi = block_bootstrap_ci(diff, n, block, n_boot)
                rows.append((f"{reference} - {name}", str(horizon), metric,
                             diff(np.arange(n)), lo, hi))  # fmt: skip
    return pd.DataFrame(
        rows, columns=["model", "horizon", "metric", "value", "ci_lo", "ci_hi"]
    )


def reliability_curve(
    proba: FloatArray, labels: IntArray, cls: int, bins: int = 10
) -> tuple[FloatArray, FloatArray, IntArray]:
    """Mean predicted vs observed frequency of class ``cls`` per probability bin.

    Pools every origin and horizon with a known label. Returns (mean predicted,
    observed frequency, count) per non-empty bin.
    """
    ok = labels >= 0
    p = proba[..., cls][ok]
    y = (labels[ok] == cls).astype("float64")
    which = np.minimum((p * bins).astype("int64"), bins - 1)
    count = np.bincount(which, minlength=bins)
    keep = count > 0
    mean_p = np.bincount(which, weights=p, minlength=bins)[keep] / count[keep]
    freq = np.bincount(which, weights=y, minlength=bins)[keep] / count[keep]
    return mean_p, freq, count[keep]

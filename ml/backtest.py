"""Walk-forward backtest of the structural model: one row per (origin, horizon).

Same protocol as :func:`ml.evaluation.walk_forward` (expanding window, refit every
``refit_every`` days from ``start``, targets used only once known). A forecast for
origin t depends only on candles up to t and on the refit day, which depends only on
``start`` and ``refit_every``: appending candles never changes an earlier row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ml._typing import FloatArray, IntArray
from ml.errors import DataValidationError
from ml.evaluation import PROB_COLUMNS, WalkForwardResult
from ml.labels import REGIMES
from ml.panel import Panel
from ml.scoring import realized_variance_forward
from ml.structural import StructuralForecaster, StructuralSpec

__all__ = [
    "BACKTEST_COLUMNS",
    "BacktestResult",
    "backtest_frame",
    "first_start_index",
    "run_backtest",
]

BACKTEST_COLUMNS = (
    "origin_date", "horizon", *PROB_COLUMNS, "vol_forecast", "vol_lo", "vol_hi",
    "var_forecast", "target_date", "realized_v30", "realized_regime", "realized_vol",
)  # fmt: skip
"""Columns of the backtest CSV (realised values empty when not yet known)."""


@dataclass(frozen=True)
class BacktestResult:
    """Regime probabilities and level forecasts of every origin x horizon."""

    regimes: WalkForwardResult
    level: FloatArray
    """(n, H, 4): E[vol], q10, q90, E[variance], annualised (see level_forecast)."""


def first_start_index(spec: StructuralSpec | None = None) -> int:
    """Index of the first daily candle a backtest can start on: the features' history
    (:data:`ml.features.MIN_HISTORY`) plus the first refit's ``min_train_days``."""
    from ml.features import MIN_HISTORY

    return MIN_HISTORY - 1 + (spec or StructuralSpec()).min_train_days


def run_backtest(
    panel: Panel,
    start: str,
    refit_every: int = 30,
    spec: StructuralSpec | None = None,
    last_origin: int | None = None,
) -> BacktestResult:
    """Walk-forward predictions of the structural model from ``start`` on."""
    from ml.data import parse_day

    spec = spec or StructuralSpec()
    if refit_every < 1:
        raise DataValidationError(
            "refit_every", refit_every, "expected a whole number >= 1"
        )
    day = parse_day(start, "start") if isinstance(start, str) else pd.Timestamp(start)
    end = len(panel.days) - 1 if last_origin is None else last_origin
    earliest = first_start_index(spec)
    if earliest > end:
        raise DataValidationError(
            "data", f"{len(panel.days)} daily rows",
            f"expected at least {earliest + 1} rows: features need "
            f"{panel.first_usable} days of history and the first refit "
            f"{spec.min_train_days} usable days after that",
        )  # fmt: skip
    first = panel.day_index(day)
    if first > end:
        raise DataValidationError(
            "start",
            start,
            f"expected {panel.days[end].date()} (the data's last day) or earlier",
        )
    if first < earliest:
        raise DataValidationError(
            "start", start,
            f"expected {panel.days[earliest].date()} or later: the first refit needs "
            f"{spec.min_train_days} days of usable history, and this data is usable from "
            f"{panel.days[panel.first_usable].date()}",
        )  # fmt: skip
    probs, levels = [], []
    for cutoff in range(first, end + 1, refit_every):
        origins = np.arange(cutoff, min(cutoff + refit_every, end + 1))
        model = StructuralForecaster(spec)
        model.fit(panel, cutoff)
        probs.append(model.predict_proba(panel, origins))
        levels.append(model.predict_level(panel, origins))
    origins = np.arange(first, end + 1)
    result = WalkForwardResult(
        name=StructuralForecaster.name, origins=origins, proba=np.concatenate(probs),
        labels=panel.labels[origins], days=panel.days[origins],
    )  # fmt: skip
    return BacktestResult(regimes=result, level=np.concatenate(levels))


def _future(values: FloatArray, origins: IntArray, max_h: int) -> FloatArray:
    n = len(values)
    idx = origins[:, None] + np.arange(1, max_h + 1)[None, :]
    out = np.full(idx.shape, np.nan)
    ok = idx < n
    out[ok] = values[idx[ok]]
    return out


def backtest_frame(panel: Panel, result: BacktestResult) -> pd.DataFrame:
    """Long table with :data:`BACKTEST_COLUMNS`, one row per (origin, horizon)."""
    reg = result.regimes
    n, hh, _ = reg.proba.shape
    hs = np.arange(1, hh + 1)
    days = np.repeat(reg.days.values, hh)
    rv = realized_variance_forward(panel.returns, hh)[reg.origins]
    labels = reg.labels.reshape(-1)
    frame = pd.DataFrame(
        {
            "origin_date": pd.DatetimeIndex(days).date,
            "horizon": np.tile(hs, n),
            **{c: reg.proba[:, :, k].reshape(-1) for k, c in enumerate(PROB_COLUMNS)},
            "vol_forecast": result.level[:, :, 0].reshape(-1),
            "vol_lo": result.level[:, :, 1].reshape(-1),
            "vol_hi": result.level[:, :, 2].reshape(-1),
            "var_forecast": result.level[:, :, 3].reshape(-1),
            "target_date": (
                pd.DatetimeIndex(days) + pd.to_timedelta(np.tile(hs, n), "D")
            ).date,
            "realized_v30": _future(panel.v30, reg.origins, hh).reshape(-1),
            "realized_regime": [REGIMES[k] if k >= 0 else "" for k in labels],
            "realized_vol": np.sqrt(rv).reshape(-1),
        }
    )
    return frame.loc[:, list(BACKTEST_COLUMNS)]

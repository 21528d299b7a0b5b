"""Backtest views: "what the model said then vs what happened" and reliability.

Both read the walk-forward predictions table the evaluate step logs to MLflow
(``walk_forward/walk_forward_predictions.csv``): one row per model x origin x horizon
with ``p_low, p_normal, p_high`` and the realised regime code (-1 = not yet known).
Pure functions over DataFrames; the figures are plotly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from ml.errors import DataValidationError
from ml.evaluation import PROB_COLUMNS
from ml.labels import REGIMES
from ui.charts import REGIME_COLORS

__all__ = [
    "PREDICTION_COLUMNS",
    "normalize_predictions",
    "reliability_figure",
    "reliability_table",
    "said_vs_happened",
    "said_vs_happened_figure",
    "summarize_said_vs_happened",
]

ORIGIN, HORIZON, MODEL, REGIME = "origin_date", "horizon", "model", "regime"
PREDICTION_COLUMNS = (ORIGIN, HORIZON, *PROB_COLUMNS, REGIME, MODEL)
"""Columns of ``walk_forward_predictions.csv``."""


def normalize_predictions(frame: pd.DataFrame) -> pd.DataFrame:
    """Check the columns and parse types of a predictions table.

    Raises:
        DataValidationError: A required column is missing.
    """
    missing = [c for c in PREDICTION_COLUMNS if c not in frame]
    if missing:
        raise DataValidationError(
            "walk_forward_predictions.csv",
            missing,
            f"expected columns {list(PREDICTION_COLUMNS)}",
        )
    out = frame.loc[:, list(PREDICTION_COLUMNS)].copy()
    out[ORIGIN] = pd.to_datetime(out[ORIGIN]).dt.normalize()
    out[HORIZON] = out[HORIZON].astype("int64")
    out[REGIME] = out[REGIME].astype("int64")
    out[MODEL] = out[MODEL].astype(str)
    return out


def _model_rows(preds: pd.DataFrame, model: str) -> pd.DataFrame:
    rows = preds[preds[MODEL] == model]
    if rows.empty:
        raise DataValidationError(
            "model", model, f"expected one of {sorted(preds[MODEL].unique())}"
        )
    return rows


def said_vs_happened(
    preds: pd.DataFrame, model: str, horizon: int, start: str | None, end: str | None
) -> pd.DataFrame:
    """Forecasts made ``horizon`` days before each target day in [start, end], and the outcome.

    Args:
        preds: Normalised predictions table.
        model: Model name (``xgboost`` or a baseline).
        horizon: Days between the forecast and the target day.
        start: First target day (ISO); None for the first available.
        end: Last target day (ISO, inclusive); None for the last available.

    Returns:
        One row per target day: ``target_date, origin_date, p_low, p_normal, p_high,
        said`` (most likely regime), ``happened`` (realised regime, "" while unknown)
        and ``hit`` (said == happened; NaN while unknown).

    Raises:
        DataValidationError: Unknown model or horizon, bad dates, or an empty range.
    """
    rows = _model_rows(preds, model)
    hs = sorted(rows[HORIZON].unique())
    if horizon not in hs:
        raise DataValidationError(
            "horizon", horizon, f"expected an integer in {hs[0]}..{hs[-1]}"
        )
    rows = rows[rows[HORIZON] == horizon].copy()
    rows["target_date"] = rows[ORIGIN] + pd.to_timedelta(horizon, unit="D")
    first, last = rows["target_date"].min(), rows["target_date"].max()
    lo, hi = (
        _day(v, f, name) for v, f, name in ((start, first, "start"), (end, last, "end"))
    )
    if lo > last or hi < first:
        raise DataValidationError(
            "range", f"{lo.date()}..{hi.date()}",
            f"expected target days between {first.date()} and {last.date()} (backtest coverage)",
        )  # fmt: skip
    if lo > hi:
        raise DataValidationError(
            "start", str(lo.date()), f"expected a day before end {hi.date()}"
        )
    rows = rows[(rows["target_date"] >= lo) & (rows["target_date"] <= hi)]
    if rows.empty:
        raise DataValidationError(
            "range", f"{lo.date()}..{hi.date()}",
            f"expected target days between {first.date()} and {last.date()} (backtest coverage)",
        )  # fmt: skip
    p = rows.loc[:, list(PROB_COLUMNS)].to_numpy(dtype="float64")
    codes = rows[REGIME].to_numpy()
    out = rows.loc[:, ["target_date", ORIGIN, *PROB_COLUMNS]].reset_index(drop=True)
    out["said"] = [REGIMES[i] for i in p.argmax(axis=1)]
    out["happened"] = [REGIMES[c] if c >= 0 else "" for c in codes]
    out["hit"] = np.where(
        codes >= 0, (p.argmax(axis=1) == codes).astype("float64"), np.nan
    )
    return out


def _day(value: str | None, default: pd.Timestamp, name: str) -> pd.Timestamp:
    from ml.data import parse_day

    if value is None or not str(value).strip():
        return pd.Timestamp(default)
    return parse_day(str(value).strip(), name)


def summarize_said_vs_happened(frame: pd.DataFrame) -> dict[str, float]:
    """Scored days, hit rate and mean probability given to what happened."""
    known = frame[frame["happened"] != ""]
    if known.empty:
        return {
            "days": float(len(frame)),
            "scored": 0.0,
            "hit_rate": float("nan"),
            "p_happened": float("nan"),
        }
    p = known.loc[:, list(PROB_COLUMNS)].to_numpy(dtype="float64")
    idx = np.array([REGIMES.index(r) for r in known["happened"]])
    return {
        "days": float(len(frame)),
        "scored": float(len(known)),
        "hit_rate": float(known["hit"].mean()),
        "p_happened": float(p[np.arange(len(known)), idx].mean()),
    }


def said_vs_happened_figure(frame: pd.DataFrame, horizon: int, model: str) -> go.Figure:
    """Stacked probabilities said ``horizon`` days before each day, with the realised regime."""
    from plotly.subplots import make_subplots

    fig = make_subplots(
        rows=2, cols=1, shared_xaxes=True, row_heights=[0.8, 0.2], vertical_spacing=0.04
    )
    x = frame["target_date"]
    for regime, col in zip(REGIMES, PROB_COLUMNS, strict=True):
        fig.add_trace(
            go.Scatter(
                x=x, y=frame[col], stackgroup="said", name=f"said {regime}", line_width=0,
                fillcolor=REGIME_COLORS[regime], hovertemplate="%{x|%Y-%m-%d}: %{y:.0%}",
            ), 1, 1,
        )  # fmt: skip
    for regime in REGIMES:
        sel = frame["happened"] == regime
        fig.add_trace(
            go.Scatter(
                x=x[sel], y=np.ones(int(sel.sum())), mode="markers", name=f"happened {regime}",
                marker={"color": REGIME_COLORS[regime], "symbol": "square", "size": 6},
            ), 2, 1,
        )  # fmt: skip
    fig.update_yaxes(range=[0, 1], tickformat=".0%", title_text="said", row=1, col=1)
    fig.update_yaxes(visible=False, row=2, col=1)
    fig.update_layout(
        title=f"{model}: said {horizon} day(s) before vs what happened", height=440,
        margin={"l": 40, "r": 10, "t": 50, "b": 30}, legend_orientation="h",
    )  # fmt: skip
    return fig


def reliability_table(
    preds: pd.DataFrame, model: str, n_bins: int = 10
) -> pd.DataFrame:
    """One-vs-rest calibration per regime over every scored (origin, horizon).

    Returns:
        One row per regime and non-empty bin: ``regime, bin_lo, bin_hi, predicted``
        (mean predicted probability), ``observed`` (share of rows where the regime
        happened) and ``count``.

    Notes:
        Bins are equal-width on [0, 1], closed on the left except the last ([0.9, 1.0]).
    """
    rows = _model_rows(preds, model)
    rows = rows[rows[REGIME] >= 0]
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    out = []
    for k, (regime, col) in enumerate(zip(REGIMES, PROB_COLUMNS, strict=True)):
        p = rows[col].to_numpy(dtype="float64")
        hit = (rows[REGIME].to_numpy() == k).astype("float64")
        b = np.clip(np.digitize(p, edges[1:-1], right=False), 0, n_bins - 1)
        for i in np.unique(b):
            sel = b == i
            out.append(
                {"regime": regime, "bin_lo": edges[i], "bin_hi": edges[i + 1],
                 "predicted": p[sel].mean(), "observed": hit[sel].mean(), "count": int(sel.sum())}
            )  # fmt: skip
    return pd.DataFrame(
        out, columns=["regime", "bin_lo", "bin_hi", "predicted", "observed", "count"]
    )


def reliability_figure(table: pd.DataFrame, model: str) -> go.Figure:
    """Reliability diagram: observed frequency against predicted probability per regime."""
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=[0, 1],
            y=[0, 1],
            mode="lines",
            name="perfect",
            line={"dash": "dot", "color": "#9e9e9e"},
        )
    )
    for regime in REGIMES:
        t = table[table["regime"] == regime]
        fig.add_trace(
            go.Scatter(
                x=t["predicted"], y=t["observed"], mode="lines+markers", name=regime.capitalize(),
                line_color=REGIME_COLORS[regime], customdata=t["count"],
                hovertemplate="predicted %{x:.0%}, observed %{y:.0%} (n=%{customdata})",
            )
        )  # fmt: skip
    fig.update_layout(
        title=f"Reliability of {model} (walk-forward, all horizons)", xaxis_title="predicted probability",
        yaxis_title="observed frequency", xaxis_range=[0, 1], yaxis_range=[0, 1], height=420,
        margin={"l": 40, "r": 10, "t": 50, "b": 40}, legend_orientation="h",
    )  # fmt: skip
    return fig

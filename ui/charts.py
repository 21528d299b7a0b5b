"""Data shaping and figures behind the Forecast and History charts (pure, unit-tested)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from ml.data import CLOSE, OPEN_TIME
from ml.evaluation import PROB_COLUMNS
from ml.labels import REGIMES, compute_v30

__all__ = [
    "REGIME_COLORS",
    "VOL_COLUMNS",
    "forecast_view",
    "has_vol_level",
    "history_figure",
    "history_frame",
    "term_structure_figure",
    "vol_level_figure",
]

REGIME_COLORS = {"low": "#2e7d32", "normal": "#f9a825", "high": "#c62828"}
VOL_COLUMNS = ("vol_forecast", "vol_lo", "vol_hi")
"""Optional per-horizon volatility-level forecast (annualised) and its interval."""


def has_vol_level(table: pd.DataFrame) -> bool:
    """True when the forecast carries a volatility level with a finite value."""
    return VOL_COLUMNS[0] in table and bool(table[VOL_COLUMNS[0]].notna().any())


def forecast_view(table: pd.DataFrame) -> pd.DataFrame:
    """The forecast table as shown: horizon, target date, regime, rounded numbers.

    Volatility columns (``vol_forecast``, ``vol_lo``, ``vol_hi``) are kept when present.
    """
    cols = ["horizon", "target_date", "regime", *PROB_COLUMNS]
    cols += [c for c in VOL_COLUMNS if c in table]
    view = table.loc[:, cols].copy()
    num = [c for c in cols if c not in ("horizon", "target_date", "regime")]
    view[num] = view[num].astype("float64").round(3)
    view["target_date"] = view["target_date"].astype(str)
    return view.reset_index(drop=True)


def term_structure_figure(table: pd.DataFrame, title: str) -> go.Figure:
    """Stacked regime probabilities per horizon (the forecast's term structure)."""
    fig = go.Figure()
    for regime, col in zip(REGIMES, PROB_COLUMNS, strict=True):
        fig.add_trace(
            go.Bar(
                x=table["horizon"], y=table[col], name=regime.capitalize(),
                marker_color=REGIME_COLORS[regime],
                hovertemplate="h=%{x}d: %{y:.1%}<extra>" + regime + "</extra>",
            )
        )  # fmt: skip
    fig.update_layout(
        barmode="stack", title=title, xaxis_title="horizon (days ahead)",
        yaxis_title="probability", yaxis_range=[0, 1], height=380,
        margin={"l": 40, "r": 10, "t": 50, "b": 40}, legend_orientation="h",
    )  # fmt: skip
    return fig


def vol_level_figure(table: pd.DataFrame, thresholds: tuple[float, float]) -> go.Figure:
    """Expected realised volatility over (t, t+h] per horizon, its 80% interval, and
    the regime cut points (comparable with V30 at h = 30, whose window is then all
    future days)."""
    h = table["horizon"]
    fig = go.Figure()
    if {"vol_lo", "vol_hi"} <= set(table):
        fig.add_trace(
            go.Scatter(
                x=h, y=table["vol_hi"], line_width=0, showlegend=False, hoverinfo="skip"
            )
        )
        fig.add_trace(
            go.Scatter(
                x=h, y=table["vol_lo"], fill="tonexty", line_width=0, name="80% interval",
                fillcolor="rgba(21,101,192,0.2)",
            )
        )  # fmt: skip
    fig.add_trace(
        go.Scatter(
            x=h,
            y=table["vol_forecast"],
            name="expected realised vol",
            line_color="#1565c0",
        )
    )
    for regime, cut in zip(("low", "normal"), thresholds, strict=True):
        fig.add_hline(
            y=cut, line_dash="dash", line_color=REGIME_COLORS[regime], opacity=0.7
        )
    fig.update_layout(
        title="Realised volatility over the next h days (annualised)", xaxis_title="horizon (days ahead)",
        yaxis_tickformat=".0%", height=320, margin={"l": 40, "r": 10, "t": 50, "b": 40},
        legend_orientation="h",
    )  # fmt: skip
    return fig


def history_frame(
    daily: pd.DataFrame, thresholds: tuple[float, float], days: int
) -> pd.DataFrame:
    """Close, V30 and its regime for the last ``days`` days ("" while V30 is unknown)."""
    close = daily[CLOSE].reset_index(drop=True)
    frame = pd.DataFrame(
        {
            "day": daily[OPEN_TIME].dt.normalize().to_numpy(),
            "close": close,
            "v30": compute_v30(close),
        }
    )
    low, high = thresholds
    frame["regime"] = np.select(
        [frame["v30"] <= low, frame["v30"] <= high], ["low", "normal"], default="high"
    )
    frame.loc[frame["v30"].isna(), "regime"] = ""
    return frame.tail(days).reset_index(drop=True)


def history_figure(frame: pd.DataFrame, thresholds: tuple[float, float]) -> go.Figure:
    """Price (log scale) and V30 with the regime bands."""
    from plotly.subplots import make_subplots

    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        row_heights=[0.55, 0.45],
        vertical_spacing=0.06,
    )
    fig.add_trace(
        go.Scatter(
            x=frame["day"], y=frame["close"], name="BTCUSDT close", line_color="#37474f"
        ),
        1,
        1,
    )
    fig.add_trace(
        go.Scatter(x=frame["day"], y=frame["v30"], name="V30", line_color="#1565c0"),
        2,
        1,
    )
    top = max(float(frame["v30"].max(skipna=True) or 1.0), thresholds[1]) * 1.1
    bands = (
        ("low", 0.0, thresholds[0]),
        ("normal", thresholds[0], thresholds[1]),
        ("high", thresholds[1], top),
    )
    for regime, lo, hi in bands:
        fig.add_hrect(
            y0=lo,
            y1=hi,
            fillcolor=REGIME_COLORS[regime],
            opacity=0.12,
            line_width=0,
            row=2,
            col=1,
        )
    fig.update_yaxes(type="log", title_text="price (USDT)", row=1, col=1)
    fig.update_yaxes(title_text="V30 (annualised)", tickformat=".0%", row=2, col=1)
    fig.update_layout(
        height=520, margin={"l": 40, "r": 10, "t": 30, "b": 30}, legend_orientation="h"
    )
    return fig

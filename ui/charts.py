"""Data shaping and figures behind each chart (pure functions, unit-tested)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from ml.data import CLOSE, OPEN_TIME
from ml.evaluation import PROB_COLUMNS
from ml.labels import REGIMES, compute_v30

__all__ = ["REGIME_COLORS", "history_frame", "history_figure", "term_structure_figure"]

REGIME_COLORS = {"low": "#2e7d32", "normal": "#f9a825", "high": "#c62828"}


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


def history_frame(daily: pd.DataFrame, thresholds: tuple[float, float], days: int) -> pd.DataFrame:
    """Close, V30 and its regime for the last ``days`` days."""
    close = daily[CLOSE].reset_index(drop=True)
    frame = pd.DataFrame(
        {"day": daily[OPEN_TIME].dt.normalize().to_numpy(), "close": close, "v30": compute_v30(close)}
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

    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.55, 0.45], vertical_spacing=0.06)
    fig.add_trace(go.Scatter(x=frame["day"], y=frame["close"], name="BTCUSDT close", line_color="#37474f"), 1, 1)
    fig.add_trace(go.Scatter(x=frame["day"], y=frame["v30"], name="V30", line_color="#1565c0"), 2, 1)
    top = max(float(frame["v30"].max(skipna=True) or 1.0), thresholds[1]) * 1.1
    bands = (("low", 0.0, thresholds[0]), ("normal", thresholds[0], thresholds[1]), ("high", thresholds[1], top))
    for regime, lo, hi in bands:
        fig.add_hrect(y0=lo, y1=hi, fillcolor=REGIME_COLORS[regime], opacity=0.12, line_width=0, row=2, col=1)
    fig.update_yaxes(type="log", title_text="price (USDT)", row=1, col=1)
    fig.update_yaxes(title_text="V30 (annualised)", tickformat=".0%", row=2, col=1)
    fig.update_layout(height=520, margin={"l": 40, "r": 10, "t": 30, "b": 30}, legend_orientation="h")
    return fig

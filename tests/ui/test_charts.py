"""Data shaping behind the Forecast and History charts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from ml.inference import forecast_frame
from ui.charts import (
    forecast_view,
    has_vol_level,
    history_figure,
    history_frame,
    term_structure_figure,
    vol_level_figure,
)

ASOF = pd.Timestamp("2025-05-27")
HORIZONS = list(range(1, 31))


@pytest.fixture
def table() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    p = rng.dirichlet([2, 3, 1], size=30)
    return forecast_frame(ASOF, HORIZONS, p)


def _daily(closes: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "open_time": pd.date_range(
                "2024-01-01", periods=len(closes), freq="D", tz="UTC"
            ),
            "close": closes,
        }
    )


def test_term_structure_has_three_stacked_traces_over_30_horizons(table):
    fig = term_structure_figure(table, "t")
    assert [t.name for t in fig.data] == ["Low", "Normal", "High"]
    assert fig.layout.barmode == "stack"
    for trace, col in zip(fig.data, ("p_low", "p_normal", "p_high"), strict=True):
        assert list(trace.x) == HORIZONS
        assert_allclose(trace.y, table[col])
    assert_allclose(np.sum([t.y for t in fig.data], axis=0), 1.0)


def test_forecast_view_rounds_and_keeps_order_without_vol(table):
    view = forecast_view(table)
    assert list(view.columns) == [
        "horizon",
        "target_date",
        "regime",
        "p_low",
        "p_normal",
        "p_high",
    ]
    assert (
        view["target_date"].iloc[0] == "2025-05-28"
        and view["target_date"].iloc[-1] == "2025-06-26"
    )
    assert_allclose(view["p_low"], table["p_low"].round(3))
    assert not has_vol_level(table)


def test_forecast_view_and_figure_show_vol_level_when_present(table):
    table = table.assign(
        vol_forecast=np.linspace(0.3, 0.5, 30),
        vol_lo=0.2,
        vol_hi=np.linspace(0.5, 0.9, 30),
    )
    assert has_vol_level(table)
    assert list(forecast_view(table).columns)[-3:] == [
        "vol_forecast",
        "vol_lo",
        "vol_hi",
    ]
    fig = vol_level_figure(table, (0.4, 0.65))
    level = next(t for t in fig.data if t.name == "expected realised vol")
    assert_allclose(level.y, table["vol_forecast"])
    band = next(t for t in fig.data if t.name == "80% interval")
    assert band.fill == "tonexty"
    assert_allclose(band.y, 0.2)
    assert sorted(s.y0 for s in fig.layout.shapes) == [0.4, 0.65]


def test_vol_level_all_missing_counts_as_absent(table):
    assert not has_vol_level(table.assign(vol_forecast=np.nan))


def test_history_frame_v30_and_regimes_match_independent_computation():
    rng = np.random.default_rng(1)
    closes = 100 * np.exp(np.cumsum(rng.normal(0, 0.03, 120)))
    frame = history_frame(_daily(closes), (0.40, 0.65), days=60)
    assert len(frame) == 60
    r = np.diff(np.log(closes))
    expected = np.array(
        [np.std(r[i - 30 : i], ddof=1) for i in range(60, 120)]
    ) * np.sqrt(365)
    assert_allclose(frame["v30"], expected)
    want = np.where(
        expected <= 0.40, "low", np.where(expected <= 0.65, "normal", "high")
    )
    assert list(frame["regime"]) == list(want)


def test_history_frame_marks_warm_up_days_unknown():
    frame = history_frame(_daily(np.linspace(100, 130, 40)), (0.4, 0.65), days=40)
    assert (frame["regime"].iloc[:30] == "").all()
    assert frame["v30"].iloc[:30].isna().all() and frame["v30"].iloc[30:].notna().all()


def test_history_figure_has_price_v30_and_three_bands():
    rng = np.random.default_rng(2)
    closes = 100 * np.exp(np.cumsum(rng.normal(0, 0.04, 100)))
    fig = history_figure(history_frame(_daily(closes), (0.4, 0.65), 90), (0.4, 0.65))
    assert [t.name for t in fig.data] == ["BTCUSDT close", "V30"]
    bands = sorted((s.y0, s.y1) for s in fig.layout.shapes)
    assert bands[0] == (0.0, 0.4) and bands[1] == (0.4, 0.65) and bands[2][0] == 0.65

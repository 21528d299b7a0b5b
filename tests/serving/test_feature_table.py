"""The serving feature table equals per-request features, and request parsing is strict."""

from __future__ import annotations

import pandas as pd
import pytest
from numpy.testing import assert_allclose

from ml.data import bundled_path, read_candles
from ml.errors import DataValidationError, InsufficientHistoryError
from ml.inference import (
    build_feature_table,
    forecast_frame,
    forecast_records,
    inference_matrix,
)
from serving.transformer_schema import RequestError, candles_frame, parse_request


@pytest.fixture(scope="module")
def candles():
    return read_candles(bundled_path("1d")), read_candles(bundled_path("4h"))


@pytest.mark.parametrize(
    "day", ["2018-04-01", "2020-03-12", "2022-11-09", "2025-05-27"]
)
def test_table_rows_equal_inference_matrix(candles, day):
    daily, h4 = candles
    table = build_feature_table(daily, h4)
    hs = [1, 2, 15, 29, 30]
    asof = pd.Timestamp(day)
    assert_allclose(
        table.matrix(asof, hs),
        inference_matrix(daily, h4, asof, hs),
        rtol=1e-10,
        atol=1e-12,
    )


def test_table_refuses_short_history(candles):
    table = build_feature_table(*candles)
    first_ok = str(table.daily.index[90].date())
    with pytest.raises(
        InsufficientHistoryError,
        match=f"got 60, expected at least 91 rows of history; the earliest as-of day "
        f"with enough is {first_ok}",
    ):
        table.matrix(pd.Timestamp("2018-03-01"), [1])
    with pytest.raises(DataValidationError, match="asof"):
        table.matrix(pd.Timestamp("2031-01-01"), [1])


def test_forecast_frame_is_built_from_records():
    import numpy as np

    p = np.array([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]])
    recs = forecast_records(pd.Timestamp("2024-02-28"), [1, 2], p)
    assert [r["regime"] for r in recs] == ["high", "low"]
    assert str(recs[1]["target_date"]) == "2024-03-01"
    assert (
        forecast_frame(pd.Timestamp("2024-02-28"), [1, 2], p).to_dict("records") == recs
    )


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"asof": 5}, "asof"),
        ({"horizons": [1.5]}, "horizons[0]"),
        ({"thresholds": [0.4, float("inf")]}, "thresholds[1]"),
        ({"candles": [{"Open time": 1, "Open": 1}]}, "candles[0].High"),
        ({"candles": [[1, "1", "2", "0.5", "1", True]]}, "candles[0].Volume"),
        ({"candles": [[1, "1", "2", "0.5", "nan", "1"]]}, "candles[0].Close"),
    ],
    ids=[
        "asof_int",
        "horizon_float",
        "threshold_inf",
        "missing_high",
        "bool_volume",
        "nan_string",
    ],
)
def test_request_errors_name_the_field(raw, field):
    with pytest.raises(RequestError) as err:
        req = parse_request(raw)
        candles_frame(req.candles or [], "candles")
    assert err.value.field == field

"""V30 and regime labels against an independent computation."""

import math
import statistics

import numpy as np
import pandas as pd
import pytest

from ml.data import bundled_path, read_candles
from ml.errors import DataValidationError
from ml.labels import (
    compute_v30,
    future_regime_labels,
    label_regimes,
    realized_vol_forward,
)


@pytest.fixture(scope="module")
def close():
    return read_candles(bundled_path("1d"))["close"].iloc[:200].reset_index(drop=True)


def test_v30_matches_statistics_stdev(close):
    v30 = compute_v30(close)
    c = close.tolist()
    for t in (30, 31, 100, 199):
        rets = [math.log(c[i] / c[i - 1]) for i in range(t - 29, t + 1)]
        assert v30[t] == pytest.approx(
            statistics.stdev(rets) * math.sqrt(365), rel=1e-12
        )
    assert v30[:30].isna().all() and v30[30:].notna().all()


def test_regime_boundaries_are_closed_on_the_left():
    v = np.array([0.10, 0.40, 0.4000001, 0.65, 0.66, np.nan])
    assert label_regimes(v, (0.40, 0.65)).tolist() == [0, 0, 1, 1, 2, -1]


def test_future_labels_are_v30_shifted(close):
    labels = future_regime_labels(close, [1, 30], (0.4, 0.65))
    codes = label_regimes(compute_v30(close), (0.4, 0.65))
    assert labels["regime_h01"].iloc[50] == codes[51]
    assert labels["regime_h30"].iloc[100] == codes[130]
    assert (labels["regime_h30"].iloc[-30:] == -1).all()


def test_forward_realized_vol(close):
    rv = realized_vol_forward(close, 7)
    c = close.to_numpy()
    r = np.diff(np.log(c))
    expected = math.sqrt(365 / 7 * float(np.sum(r[50:57] ** 2)))
    assert rv[50] == pytest.approx(expected)
    assert rv.iloc[-7:].isna().all()


@pytest.mark.parametrize("bad", [(0.65, 0.40), (0.0, 0.5), (0.4,), (0.4, float("nan"))])
def test_bad_thresholds(bad):
    with pytest.raises(
        DataValidationError,
        match="thresholds: got .* expected two numbers 0 < low < high",
    ):
        label_regimes(pd.Series([0.5]), bad)

"""Each data contract raises a typed error naming time, column, value and rule."""

import numpy as np
import pandas as pd
import pytest

from ml.data import bundled_path, read_candles
from ml.errors import DataValidationError
from ml.validation import find_gaps, validate_candles


@pytest.fixture(scope="module")
def daily():
    return read_candles(bundled_path("1d")).iloc[:60].reset_index(drop=True)


def _broken(frame, mutate):
    out = frame.copy()
    mutate(out)
    return out


CASES = [
    (
        "duplicate",
        lambda f: f.__setitem__(
            "open_time", f["open_time"].where(f.index != 10, f["open_time"][9])
        ),
        r"open_time at row 11: got '2018-01-10T00:00Z', expected unique timestamps",
    ),
    (
        "unsorted",
        lambda f: f.__setitem__(
            "open_time", f["open_time"].where(f.index != 10, pd.Timestamp("2017-12-01"))
        ),
        r"open_time at row 11: got '2017-12-01T00:00Z', expected increasing timestamps",
    ),
    (
        "nan-price",
        lambda f: f.loc.__setitem__((20, "close"), np.nan),
        r"close at 2018-01-21T00:00Z: got nan, expected a finite price > 0",
    ),
    (
        "negative-price",
        lambda f: f.loc.__setitem__((21, "open"), -1.0),
        r"open at 2018-01-22T00:00Z: got -1.0, expected a finite price > 0",
    ),
    (
        "high-below-body",
        lambda f: f.loc.__setitem__((30, "high"), f.loc[30, "low"]),
        r"high at 2018-01-31T00:00Z: got .*, expected >= max\(open, close\)",
    ),
    (
        "low-above-body",
        lambda f: f.loc.__setitem__((31, "low"), f.loc[31, "high"]),
        r"low at 2018-02-01T00:00Z: got .*, expected <= min\(open, close\)",
    ),
    (
        "negative-volume",
        lambda f: f.loc.__setitem__((40, "volume"), -5.0),
        r"volume at 2018-02-10T00:00Z: got -5.0, expected a finite volume >= 0",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "match"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_each_rule(daily, mutate, match):
    with pytest.raises(DataValidationError, match=match):
        validate_candles(_broken(daily, mutate), "1d")


def test_missing_days_raise_or_are_reported(daily):
    gappy = daily.drop(index=[15, 16, 17]).reset_index(drop=True)
    with pytest.raises(
        DataValidationError,
        match=r"open_time at 2018-01-15T00:00Z: got '2018-01-19T00:00Z'.*\(3 missing; "
        r"BVP_DATA__GAP_POLICY_1D=report accepts gaps\)",
    ):
        validate_candles(gappy, "1d", "raise")
    with pytest.raises(DataValidationError, match=r"\(3 missing; use --gaps\)"):
        validate_candles(gappy, "1d", "raise", "use --gaps")
    report = validate_candles(gappy, "1d", "report")
    assert report.gaps == [("2018-01-15T00:00Z", "2018-01-19T00:00Z", 3)]
    assert report.missing == 3 and "1 (3 missing candles)" in report.as_text()


def test_bundled_data_passes_with_known_4h_gaps():
    assert validate_candles(read_candles(bundled_path("1d")), "1d", "raise").gaps == []
    gaps = find_gaps(read_candles(bundled_path("4h")), "4h")
    assert len(gaps) == 8 and sum(g[2] for g in gaps) == 16


def test_bad_interval_and_policy(daily):
    with pytest.raises(
        DataValidationError, match=r"interval: got '1m', expected one of 1d, 4h"
    ):
        validate_candles(daily, "1m")
    with pytest.raises(DataValidationError, match=r"gap_policy: got 'fill'"):
        validate_candles(daily, "1d", "fill")


def test_a_file_of_the_other_interval_is_refused_naming_the_spacing(daily):
    """A 4-hour file checked as daily used to pass with no gaps; a daily one as 4-hour
    passed as data with 5 missing candles a day under the 'report' policy."""
    h4 = read_candles(bundled_path("4h")).iloc[:60].reset_index(drop=True)
    with pytest.raises(
        DataValidationError,
        match=r"open_time: got 'candles 4 hours apart \(median\)', expected 1d "
        r"candles, 1 day apart",
    ):
        validate_candles(h4, "1d", "report")
    with pytest.raises(
        DataValidationError,
        match=r"got 'candles 1 day apart \(median\)', expected 4h candles, 4 hours",
    ):
        validate_candles(daily, "4h", "report")


def test_a_candle_off_the_interval_grid_is_refused(daily):
    shifted = daily.copy()
    shifted.loc[20, "open_time"] += pd.Timedelta(hours=12)
    with pytest.raises(
        DataValidationError,
        match=r"open_time at row 21: got '2018-01-21T12:00Z', expected 1d candles to "
        r"open at 00:00 UTC \(Binance's grid\); are the times in another time zone\?",
    ) as info:
        validate_candles(shifted, "1d", "report")
    assert info.value.row == 20


@pytest.mark.parametrize(
    ("interval", "shift", "match"),
    [
        ("1d", pd.Timedelta(hours=12), r"row 1: got '2018-01-01T12:00Z', expected 1d "
         r"candles to open at 00:00 UTC .* \(60 rows break this rule\)"),
        ("4h", pd.Timedelta(hours=1), r"row 1: got '2018-01-01T01:00Z', expected 4h "
         r"candles to open at 00:00, 04:00, ... 20:00 UTC .* \(60 rows break"),
    ],
    ids=["daily-at-noon", "4h-at-01"],
)  # fmt: skip
def test_evenly_spaced_candles_off_the_utc_grid_are_refused(interval, shift, match):
    """Daily candles all at 12:00 used to pass: their spacing is right, but their days
    are not the calendar days the 4-hour candles and the labels are counted in."""
    candles = read_candles(bundled_path(interval)).iloc[:60].reset_index(drop=True)
    candles["open_time"] += shift
    with pytest.raises(DataValidationError, match=match):
        validate_candles(candles, interval, "report")
    with pytest.raises(DataValidationError, match=match.split(" .*")[0]):
        validate_candles(candles.iloc[:1], interval, "report")

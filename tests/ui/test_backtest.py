"""Data shaping behind "said vs happened" and the reliability diagram."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from ml.errors import DataValidationError
from ui.backtest import (
    normalize_predictions,
    reliability_figure,
    reliability_table,
    said_vs_happened,
    said_vs_happened_figure,
    summarize_said_vs_happened,
)


def _preds(n_origins: int = 20, horizons: int = 3, seed: int = 0) -> pd.DataFrame:
    """Long predictions table like the evaluate step writes (as read back from CSV)."""
    rng = np.random.default_rng(seed)
    days = pd.date_range("2024-01-01", periods=n_origins, freq="D")
    rows = []
    for model in ("xgboost", "climatology"):
        for i, d in enumerate(days):
            for h in range(1, horizons + 1):
                p = rng.dirichlet([1, 1, 1])
                known = i + h < n_origins
                rows.append({"origin_date": str(d.date()), "horizon": h, "p_low": p[0], "p_normal": p[1],
                             "p_high": p[2], "regime": int(rng.integers(0, 3)) if known else -1, "model": model})  # fmt: skip
    return normalize_predictions(pd.DataFrame(rows))


def test_normalize_names_missing_columns():
    with pytest.raises(
        DataValidationError, match=r"walk_forward_predictions.csv: got \['model'\]"
    ):
        normalize_predictions(_preds().drop(columns="model"))


def test_said_vs_happened_aligns_target_day_and_outcome():
    preds = _preds()
    out = said_vs_happened(preds, "xgboost", 2, None, None)
    src = preds[(preds["model"] == "xgboost") & (preds["horizon"] == 2)].reset_index(
        drop=True
    )
    assert len(out) == len(src) == 20
    assert (out["target_date"] == src["origin_date"] + pd.Timedelta(days=2)).all()
    said = np.array(["low", "normal", "high"])[
        src[["p_low", "p_normal", "p_high"]].to_numpy().argmax(axis=1)
    ]
    assert list(out["said"]) == list(said)
    known = src["regime"] >= 0
    assert list(out.loc[~known, "happened"]) == ["", ""]
    assert out.loc[~known, "hit"].isna().all()
    happened = np.array(["low", "normal", "high"])[src.loc[known, "regime"]]
    assert_allclose(out.loc[known, "hit"], (said[known] == happened).astype(float))


def test_said_vs_happened_filters_target_days_inclusive():
    out = said_vs_happened(_preds(), "climatology", 1, "2024-01-05", "2024-01-09")
    assert [d.day for d in out["target_date"]] == [5, 6, 7, 8, 9]


@pytest.mark.parametrize(
    ("model", "horizon", "start", "end", "match"),
    [
        (
            "prophet",
            1,
            None,
            None,
            r"model: got 'prophet', expected one of \['climatology', 'xgboost'\]",
        ),
        ("xgboost", 31, None, None, r"horizon: got 31, expected an integer in 1..3"),
        (
            "xgboost",
            1,
            "2030-01-01",
            None,
            r"range: got '2030-01-01..2024-01-21', expected target days between 2024-01-02",
        ),
        (
            "xgboost",
            1,
            "2024-01-10",
            "2024-01-05",
            r"start: got '2024-01-10', expected a day before end 2024-01-05",
        ),
        (
            "xgboost",
            1,
            "yesterday-ish",
            None,
            r"start: got 'yesterday-ish', expected a date YYYY-MM-DD",
        ),
    ],
    ids=[
        "unknown-model",
        "horizon-too-long",
        "range-after-coverage",
        "start-after-end",
        "bad-date",
    ],
)
def test_said_vs_happened_rejects_bad_choices(model, horizon, start, end, match):
    with pytest.raises(DataValidationError, match=match):
        said_vs_happened(_preds(), model, horizon, start, end)


def test_summary_counts_only_known_days():
    out = said_vs_happened(_preds(), "xgboost", 3, None, None)
    s = summarize_said_vs_happened(out)
    known = out[out["happened"] != ""]
    assert s["days"] == 20 and s["scored"] == len(known) == 17
    assert_allclose(s["hit_rate"], (known["said"] == known["happened"]).mean())
    col = "p_" + known["happened"]
    assert_allclose(
        s["p_happened"], np.mean([known[c].iloc[i] for i, c in enumerate(col)])
    )


def test_said_vs_happened_figure_stacks_said_and_marks_happened():
    out = said_vs_happened(_preds(), "xgboost", 1, None, None)
    fig = said_vs_happened_figure(out, 1, "xgboost")
    said = [t for t in fig.data if t.name.startswith("said")]
    assert [t.stackgroup for t in said] == ["said"] * 3
    marks = sum(len(t.x) for t in fig.data if t.name.startswith("happened"))
    assert marks == int((out["happened"] != "").sum())


def test_reliability_table_matches_manual_binning():
    preds = _preds(n_origins=60)
    table = reliability_table(preds, "xgboost", n_bins=5)
    rows = preds[(preds["model"] == "xgboost") & (preds["regime"] >= 0)]
    assert table.groupby("regime")["count"].sum().to_dict() == {
        r: len(rows) for r in ("high", "low", "normal")
    }
    p, hit = rows["p_normal"].to_numpy(), (rows["regime"] == 1).to_numpy()
    sel = (p >= 0.2) & (p < 0.4)
    got = table[(table["regime"] == "normal") & (table["bin_lo"] == 0.2)].iloc[0]
    assert got["count"] == sel.sum()
    assert_allclose(
        [got["predicted"], got["observed"]], [p[sel].mean(), hit[sel].mean()]
    )


def test_reliability_of_a_perfectly_calibrated_constant_forecast_lies_on_the_diagonal():
    preds = _preds(n_origins=40)
    freq = (
        np.bincount(preds["regime"][preds["regime"] >= 0], minlength=3)
        / (preds["regime"] >= 0).sum()
    )
    preds[["p_low", "p_normal", "p_high"]] = freq
    table = reliability_table(preds, "xgboost")
    assert len(table) == 3
    assert_allclose(table["predicted"], table["observed"], atol=0.1)


def test_reliability_figure_has_diagonal_and_three_regimes():
    fig = reliability_figure(reliability_table(_preds(), "xgboost"), "xgboost")
    assert [t.name for t in fig.data] == ["perfect", "Low", "Normal", "High"]

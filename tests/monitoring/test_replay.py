"""The replay on a short slice of the bundled data: shape, policies and the report."""

from __future__ import annotations

import numpy as np
import pytest

from ml.data import bundled_path, read_candles
from ml.panel import build_panel
from ml.replay import POLICIES, ReplayConfig, replay, summarize_replay, with_overrides


@pytest.fixture(scope="module")
def panel():
    daily = read_candles(bundled_path("1d"))
    daily = daily[daily["open_time"] < "2022-06-01"].reset_index(drop=True)
    return build_panel(daily, None, (0.4, 0.65))


@pytest.fixture(scope="module")
def frame(panel):
    cfg = with_overrides(ReplayConfig(start="2022-01-01", every_days=14, gate_days=42,
                                      rule="always"), n_estimators=10, stride=4)  # fmt: skip
    return replay(panel, cfg, end="2022-04-30")


@pytest.mark.slow
def test_replay_rows_and_policies(frame):
    assert frame["date"].iloc[0] == "2022-01-01" and len(frame) == 9
    for name in POLICIES:
        assert np.isfinite(frame[f"ll_{name}"]).all()
    # rule=always: every decision after the first retrains; the gate decides promotion
    assert frame["retrain"].iloc[1:].all()
    assert (
        frame.loc[frame["promoted"], "monitored_model"]
        == frame.loc[frame["promoted"], "date"]
    ).all()
    # never-retrain serves the first model throughout, weekly the latest
    assert frame["ll_weekly"].iloc[0] == frame["ll_never"].iloc[0]


@pytest.mark.slow
def test_summary_and_report_files(frame, tmp_path):
    from pipelines.replay_report import plot_replay

    s = summarize_replay(frame)
    assert s["decisions"] == 8 and s["retrains"] == 8
    assert set(s) >= {f"mean_log_loss_{p}" for p in POLICIES} | {
        "seed_rule_false_alarm_rate"
    }
    plot_replay(frame, tmp_path / "replay.png")
    assert (tmp_path / "replay.png").read_bytes()[:4] == b"\x89PNG"

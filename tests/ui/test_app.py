"""UI callbacks: messages instead of tracebacks, and the real champion's views."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ml.errors import DataValidationError, InsufficientHistoryError
from ml.inference import forecast_frame
from ml.settings import MlflowSettings, MonitoringSettings, Settings
from serving.v2 import PredictorUnavailableError
from ui.app import SERVER_DOWN, run_backtest, run_forecast, run_model, run_monitoring
from ui.client import Forecast

ASOF = pd.Timestamp("2025-05-27")


class FakeClient:
    def __init__(self, result=None, error: Exception | None = None):
        self.result, self.error, self.calls = result, error, []

    def forecast(self, asof, horizons, thresholds=None, source="classifier"):
        self.calls.append((asof, horizons))
        self.thresholds, self.source = thresholds, source
        if self.error is not None:
            raise self.error
        return self.result


def _forecast(**extra) -> Forecast:
    p = np.tile([0.2, 0.5, 0.3], (30, 1))
    return Forecast(
        ASOF,
        forecast_frame(ASOF, list(range(1, 31)), p).assign(**extra),
        "7",
        "http://x",
    )


def test_forecast_status_names_version_and_30_horizons():
    client = FakeClient(_forecast())
    status, fig, vol, table = run_forecast(client, " 2025-05-27 ")
    assert client.calls == [("2025-05-27", list(range(1, 31)))]
    assert "model version **7**" in status and "30 horizons" in status
    assert "normal 50%" in status and "regimes only" in status
    assert len(table) == 30 and len(fig.data) == 3
    assert vol["visible"] is False


def test_empty_asof_means_latest():
    client = FakeClient(_forecast())
    run_forecast(client, "")
    assert client.calls[0][0] is None


def test_forecast_shows_vol_level_when_the_model_gives_one():
    status, _, vol, table = run_forecast(
        FakeClient(_forecast(vol_forecast=0.5, vol_lo=0.4, vol_hi=0.7)), ""
    )
    assert vol["visible"] is True and vol["value"] is not None
    assert "next 30 days ≈ 50% (80%: 40% .. 70%)" in status and "vol_hi" in table


def test_thresholds_are_sent_and_a_structural_answer_is_named():
    client = FakeClient(
        dataclasses.replace(_forecast(), probabilities_from="classifier+structural")
    )
    status, *_ = run_forecast(client, "", (0.3, 0.6))
    assert client.thresholds == (0.3, 0.6)
    assert "Thresholds 30% / 60%: the classifier's probabilities carried" in status


def test_structural_source_is_sent_and_named():
    client = FakeClient(
        dataclasses.replace(_forecast(), probabilities_from="structural")
    )
    status, *_ = run_forecast(client, "", (0.3, 0.6), "Structural volatility model")
    assert (client.thresholds, client.source) == ((0.3, 0.6), "structural")
    assert "probabilities from the structural volatility model" in status
    run_forecast(client, "", (0.4, 0.65), "classifier")
    assert client.source == "classifier"


def test_unknown_source_is_a_message_not_a_call():
    client = FakeClient(_forecast())
    status, *_ = run_forecast(client, "", (0.4, 0.65), "garch")
    assert status.startswith("**Cannot forecast:** probabilities_from: got 'garch'")
    assert client.calls == []


def test_crossed_thresholds_are_a_message_not_a_call():
    client = FakeClient(_forecast())
    status, fig, _, table = run_forecast(client, "", (0.7, 0.5))
    assert status.startswith("**Cannot forecast:** thresholds: got [0.7, 0.5]")
    assert client.calls == [] and fig is None and table.empty


@pytest.mark.parametrize(
    ("low", "message"),
    [
        ("abc", "thresholds.low: got 'abc', expected a number"),
        (None, "thresholds.low: got None, expected a number"),
        (float("nan"), "thresholds.low: got nan, expected a finite number"),
    ],
    ids=["text", "null", "nan"],
)
def test_a_threshold_that_is_not_a_number_is_named(low, message):
    """The Gradio API passes values unprocessed (preprocess=False): any JSON arrives."""
    client = FakeClient(_forecast())
    status, *_ = run_forecast(client, "", (low, 0.65))
    assert status == f"**Cannot forecast:** {message}"
    assert client.calls == []


def test_an_unreadable_date_is_invalid_not_out_of_range():
    error = DataValidationError("asof", "yesterday", "expected a date YYYY-MM-DD")
    status, *_ = run_forecast(FakeClient(error=error), "yesterday")
    assert status.startswith("**Invalid date:** asof: got 'yesterday'")


@pytest.mark.parametrize("horizon", [7.5, 0, 31, "x"])
def test_backtest_horizon_must_be_a_whole_number_of_days(horizon):
    text, fig, _ = run_backtest(Settings(), "xgboost", horizon, "", "")
    assert text.startswith(
        f"**Cannot compare with the backtest:** horizon: got {horizon!r}"
    )
    assert "expected a whole number from 1 to 30" in text or "expected a number" in text
    assert fig is None


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            PredictorUnavailableError("http://127.0.0.1:1", "ConnectError"),
            f"**{SERVER_DOWN}.**",
        ),
        (
            InsufficientHistoryError("close", 90, 12, at="2018-01-12"),
            "**Not enough data to forecast:**",
        ),
        (
            DataValidationError(
                "asof", "2031-01-01", "expected a day between 2018-01-01 and 2025-05-27"
            ),
            "**Date out of range:**",
        ),
        (KeyError("boom"), "**Unexpected error while trying to forecast** (KeyError)"),
    ],
    ids=["server-down", "insufficient-data", "date-out-of-range", "unexpected"],
)
def test_forecast_failures_become_messages(error, expected):
    status, fig, vol, table = run_forecast(FakeClient(error=error), "2025-05-27")
    assert status.startswith(expected)
    assert "Traceback" not in status
    assert fig is None and table.empty and vol["visible"] is False


@pytest.mark.slow
def test_model_tab_without_champion_says_so(champion):
    s = Settings(
        home=champion.home,
        mlflow=MlflowSettings(
            tracking_uri=champion.tracking_uri, model_name="no-such-model"
        ),
    )
    text, table, fig = run_model(s)
    assert (
        text.startswith("**No champion model yet:** model 'no-such-model'")
        and table.empty
        and fig is None
    )
    assert run_backtest(s, "xgboost", 7, "", "")[0].startswith(
        "**No champion model yet:**"
    )


@pytest.mark.slow
def test_model_tab_describes_the_champion(champion):
    text, table, fig = run_model(champion.settings())
    assert f"btc-volatility v{champion.version} (@champion)" in text
    assert "trained on origins**: 2018-04-01 .. 2024-06-01" in text
    assert "data (1d)**: 2018-01-01 .. 2025-05-27" in text
    assert set(table["model"]) == {"xgboost", "climatology"}
    assert set(table["horizon"]) == {"h1", "h7", "h14", "h30", "mean 1-30"}
    assert [t.name for t in fig.data] == ["perfect", "Low", "Normal", "High"]


@pytest.mark.slow
def test_backtest_view_on_the_champion(champion):
    text, fig, dropdown = run_backtest(
        champion.settings(), "climatology", 7, "2025-01-01", "2025-01-31"
    )
    assert text.startswith("**climatology**") and "31 of 31 days scored" in text
    assert (
        dropdown["choices"] == ["xgboost", "climatology"]
        and dropdown["value"] == "climatology"
    )
    bad, fig, _ = run_backtest(champion.settings(), "xgboost", 7, "2031-01-01", "")
    assert bad.startswith("**Date out of range:**") and fig is None


@pytest.mark.slow
def test_monitoring_without_runs_is_a_normal_state(champion, tmp_path):
    s = Settings(
        home=tmp_path, mlflow=MlflowSettings(tracking_uri=champion.tracking_uri),
        monitoring=MonitoringSettings(experiment="no-such-experiment"),
    )  # fmt: skip
    text, table, report, replay = run_monitoring(s)
    assert text.startswith("No monitoring runs yet") and "No replay plot yet" in text
    assert table.empty and report is None and replay is None


@pytest.mark.slow
def test_monitoring_shows_latest_run_report_and_replay(monitored):
    text, table, report, replay = run_monitoring(monitored.settings())
    assert "monitor-0.6" in text and "window_days**: 180" in text
    assert dict(zip(table["metric"], table["value"], strict=True)) == {
        "drift_share": 0.6,
        "macro_f1_recent": 0.5,
    }
    assert (
        report.endswith("drift_report.html")
        and Path(report).read_text() == "<html>drift</html>"
    )
    assert replay == str(monitored.home / "reports" / "replay.png")


def test_history_days_that_are_not_a_whole_number_are_named():
    import gradio as gr

    from ui.app import run_history

    class Candles:
        daily = pd.DataFrame({"close": np.ones(200)})

    with pytest.raises(gr.Error, match=r"days: got 'abc', expected a number"):
        run_history(Candles(), (0.4, 0.65), "abc")  # type: ignore[arg-type]
    with pytest.raises(gr.Error, match=r"days: got 500, expected a whole number "
                       r"from 1 to 200"):  # fmt: skip
        run_history(Candles(), (0.4, 0.65), 500)  # type: ignore[arg-type]

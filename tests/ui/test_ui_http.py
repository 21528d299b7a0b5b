"""The UI process answers over HTTP with forecasts from the served champion."""

import re

import pytest

from ml.settings import Settings
from tests.conftest import free_port

pytestmark = [pytest.mark.slow, pytest.mark.integration]


@pytest.fixture(scope="module")
def stack(trained_home):
    from bvp.stack import start_mlserver, start_transformer, start_ui, stop_all

    mp = pytest.MonkeyPatch()
    env = {**trained_home, "BVP_SERVING__HTTP_PORT": str(free_port()), "BVP_SERVING__GRPC_PORT": str(free_port()),
           "BVP_SERVING__METRICS_PORT": str(free_port()), "BVP_UI__PORT": str(free_port()),
           "BVP_TRANSFORMER__HTTP_PORT": str(free_port())}  # fmt: skip
    for k, v in env.items():
        mp.setenv(k, v)
    settings = Settings()
    start_mlserver(settings)
    start_transformer(settings)
    ui_url = start_ui(settings)
    yield settings, ui_url
    stop_all(settings)
    mp.undo()


def test_page_and_forecast_for_30_horizons(stack):
    import httpx
    from gradio_client import Client

    settings, ui_url = stack
    assert "BTC Volatility Predictor" in httpx.get(ui_url, timeout=10).text
    client = Client(ui_url, verbose=False)
    status, _, _, table_html = client.predict(
        "2019-12-31", 0.4, 0.65, api_name="/forecast"
    )
    assert "2019-12-31" in status and "30 horizons" in status
    header = re.findall(r"<th>(.*?)</th>", table_html)
    body = re.findall(r"<tr>(.*?)</tr>", table_html, re.S)
    rows = [
        dict(zip(header, re.findall(r"<td>(.*?)</td>", r), strict=True)) for r in body
    ]
    assert [int(r["horizon"]) for r in rows] == list(range(1, 31))
    for r in rows:
        total = sum(float(r[k]) for k in ("p_low", "p_normal", "p_high"))
        assert total == pytest.approx(1.0, abs=2e-3)


def test_out_of_range_date_is_a_message_not_a_traceback(stack):
    from gradio_client import Client

    _, ui_url = stack
    client = Client(ui_url, verbose=False)
    status, *_ = client.predict("2031-01-01", 0.4, 0.65, api_name="/forecast")
    assert status.startswith("**Date out of range:** asof: got '2031-01-01'")
    status, *_ = client.predict("2018-02-01", 0.4, 0.65, api_name="/forecast")
    assert status.startswith("**Not enough data to forecast:**") and "91" in status


def test_api_values_of_the_wrong_type_are_named(stack):
    """Through gradio_client, as a script would call it: no opaque upstream error."""
    from gradio_client import Client

    _, ui_url = stack
    client = Client(ui_url, verbose=False)
    status, *_ = client.predict("2025-05-27", "abc", 0.65, api_name="/forecast")
    assert status == "**Cannot forecast:** thresholds.low: got 'abc', expected a number"
    text, *_ = client.predict("xgboost", 7.5, "", "", api_name="/backtest")
    assert "horizon: got 7.5, expected a whole number from 1 to 30" in text


def test_other_thresholds_come_from_the_structural_model_with_levels(stack):
    from gradio_client import Client

    _, ui_url = stack
    client = Client(ui_url, verbose=False)
    status, _, _, table_html = client.predict(
        "2019-12-31", 0.3, 0.6, api_name="/forecast"
    )
    assert "Thresholds 30% / 60%: the classifier's probabilities carried" in status
    assert "Realised volatility over the next 30 days" in status
    header = re.findall(r"<th>(.*?)</th>", table_html)
    assert header[-3:] == ["vol_forecast", "vol_lo", "vol_hi"]


def test_structural_probabilities_can_be_chosen(stack):
    from gradio_client import Client

    _, ui_url = stack
    client = Client(ui_url, verbose=False)
    out = {
        src: client.predict("2019-12-31", 0.4, 0.65, src, api_name="/forecast")
        for src in ("XGBoost classifier (MLServer)", "Structural volatility model")
    }
    assert (
        "probabilities from the structural volatility model"
        in (out["Structural volatility model"][0])
    )
    assert "structural" not in out["XGBoost classifier (MLServer)"][0].lower()
    cells = {src: re.findall(r"<td>(.*?)</td>", o[3]) for src, o in out.items()}
    assert (
        cells["XGBoost classifier (MLServer)"] != cells["Structural volatility model"]
    )

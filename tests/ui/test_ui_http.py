"""The UI process answers over HTTP with forecasts from the served champion."""

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
    status, _, _, table_html = client.predict("2019-12-31", api_name="/forecast")
    assert "2019-12-31" in status and "30 horizons" in status
    from io import StringIO

    import pandas as pd

    table = pd.read_html(StringIO(table_html))[0]
    assert table.iloc[:, 0].tolist() == list(range(1, 31))
    probs = table.filter(regex="(?i)low|normal|high").select_dtypes("number")
    assert probs.shape[1] == 3
    assert ((probs.sum(axis=1) - 1).abs() < 2e-3).all() or (
        (probs.sum(axis=1) - 100).abs() < 0.2
    ).all()


def test_out_of_range_date_is_a_message_not_a_traceback(stack):
    from gradio_client import Client

    _, ui_url = stack
    status, *_ = Client(ui_url, verbose=False).predict(
        "2031-01-01", api_name="/forecast"
    )
    assert "2031-01-01" in status and "Traceback" not in status

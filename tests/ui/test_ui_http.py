"""The UI process answers over HTTP with forecasts from the served champion."""

import pytest

from ml.settings import Settings
from tests.conftest import free_port

pytestmark = [pytest.mark.slow, pytest.mark.integration]


@pytest.fixture(scope="module")
def stack(trained_home):
    from bvp.stack import start_mlserver, start_ui, stop_all

    mp = pytest.MonkeyPatch()
    env = {**trained_home, "BVP_SERVING__HTTP_PORT": str(free_port()), "BVP_SERVING__GRPC_PORT": str(free_port()),
           "BVP_SERVING__METRICS_PORT": str(free_port()), "BVP_UI__PORT": str(free_port())}  # fmt: skip
    for k, v in env.items():
        mp.setenv(k, v)
    settings = Settings()
    start_mlserver(settings)
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
    status, _, table = client.predict("2019-12-31", api_name="/forecast")
    assert "As of 2019-12-31" in status
    rows = table["data"]
    assert [r[0] for r in rows] == list(range(1, 31))
    for r in rows:
        assert sum(r[2:5]) == pytest.approx(1.0, abs=2e-3)


def test_out_of_range_date_is_a_message_not_a_traceback(stack):
    from gradio_client import Client

    _, ui_url = stack
    status, _, _ = Client(ui_url, verbose=False).predict("2031-01-01", api_name="/forecast")
    assert status.startswith("**Cannot forecast:** asof: got '2031-01-01'")

"""The champion served by a real MLServer process answers V2 with probabilities."""

import numpy as np
import pytest

from ml.data import bundled_path, read_candles
from ml.features import FEATURE_NAMES
from ml.inference import inference_matrix
from ml.settings import Settings
from serving.v2 import infer_proba
from tests.conftest import free_port

pytestmark = [pytest.mark.slow, pytest.mark.integration]


@pytest.fixture(scope="module")
def mlserver(trained_home):
    from bvp.stack import start_mlserver, stop_all

    mp = pytest.MonkeyPatch()
    env = {**trained_home, "BVP_SERVING__HTTP_PORT": str(free_port()),
           "BVP_SERVING__GRPC_PORT": str(free_port()), "BVP_SERVING__METRICS_PORT": str(free_port())}  # fmt: skip
    for k, v in env.items():
        mp.setenv(k, v)
    settings = Settings()
    url, version = start_mlserver(settings)
    yield settings, url, version, env
    stop_all(settings)
    mp.undo()


def test_v2_returns_three_probabilities_per_row(mlserver):
    settings, url, version, _ = mlserver
    daily, h4 = read_candles(bundled_path("1d")), read_candles(bundled_path("4h"))
    x = inference_matrix(daily, h4, daily["open_time"].iloc[700], list(range(1, 31)))
    proba, body = infer_proba(url, "btc-volatility", x)
    assert proba.shape == (30, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    assert body["model_version"] == version


def test_single_row_curl_style_request(mlserver):
    import httpx

    _, url, _, _ = mlserver
    row = [7.0] + [0.5] * (len(FEATURE_NAMES) - 1)
    body = {"inputs": [{"name": "features", "shape": [1, len(FEATURE_NAMES)], "datatype": "FP32", "data": row}],
            "outputs": [{"name": "predict_proba"}]}  # fmt: skip
    resp = httpx.post(f"{url}/v2/models/btc-volatility/infer", json=body, timeout=10)
    assert resp.status_code == 200
    out = resp.json()["outputs"][0]
    assert out["shape"] == [1, 3] and sum(out["data"]) == pytest.approx(1.0, abs=1e-5)


def test_health_and_metrics_endpoints(mlserver):
    import httpx

    settings, url, _, _ = mlserver
    assert httpx.get(f"{url}/v2/health/ready", timeout=5).status_code == 200
    metrics = httpx.get(
        f"http://127.0.0.1:{settings.serving.metrics_port}/metrics", timeout=5
    )
    assert (
        metrics.status_code == 200
        and "model_infer_request" in metrics.text
        or "rest_server" in metrics.text
    )

"""The SageMaker container contract: in-process first, then a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from numpy.testing import assert_allclose

from ml.errors import ConfigError
from ml.features import FEATURE_NAMES
from ml.models import BOOSTER_FILE
from serving.deployment import META_FILE, model_meta, smoke_request
from serving.promote import smoke_matrix
from serving.sagemaker_app import SageMakerPredictor, create_app
from tests.aws.conftest import free_port, tiny_classifier

K = len(FEATURE_NAMES)
ROW = [1.0] + [0.1] * (K - 1)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("opt-ml-model")
    tiny_classifier(seed=5).save_model(str(d / BOOSTER_FILE))
    (d / META_FILE).write_text(json.dumps(model_meta("btc-volatility", "7", "run-1")))
    return d


@pytest.fixture(scope="module")
def client(model_dir) -> TestClient:
    return TestClient(create_app(SageMakerPredictor.load(model_dir)))


BAD = {
    "not-json": (b"{instances:", 400, "body"),
    "nan-literal": (b'{"instances": [[NaN]]}', 400, "body"),
    "array-body": (b"[1, 2]", 400, "body"),
    "no-known-key": (b'{"rows": []}', 400, "body"),
    "both-kinds": (
        json.dumps({"instances": [ROW], "asof": "2025-01-01"}).encode(),
        400,
        "instances",
    ),
    "short-row": (json.dumps({"instances": [ROW[:-1]]}).encode(), 400, "instances[0]"),
    "string-feature": (
        json.dumps({"instances": [[1, "x"] + ROW[2:]]}).encode(),
        422,
        "instances[0][1]",
    ),
    "horizon-31": (
        json.dumps({"instances": [[31.0] + ROW[1:]]}).encode(),
        400,
        "instances[0][0] (horizon)",
    ),
    "huge-number": (
        b'{"instances": [[1' + b", 1e999" * (K - 1) + b"]]}",
        400,
        f"instances[0][1] ({FEATURE_NAMES[1]})",
    ),
    "empty-instances": (b'{"instances": []}', 422, "instances"),
    "bad-asof": (b'{"asof": "yesterday"}', 422, "asof"),
    "asof-out-of-range": (b'{"asof": "2030-01-01"}', 422, "asof"),
    "horizon-0": (b'{"asof": "2025-01-01", "horizons": [0, 5]}', 422, "horizons"),
    "horizon-string": (b'{"horizons": ["5"]}', 422, "horizons[0]"),
}


@pytest.mark.parametrize("body,status,field", BAD.values(), ids=list(BAD))
def test_bad_payloads_are_4xx_with_field(client, body, status, field):
    resp = client.post(
        "/invocations", content=body, headers={"Content-Type": "application/json"}
    )
    assert resp.status_code == status, resp.text
    doc = resp.json()
    assert doc["field"] == field and doc["error"] and "value" in doc


def test_instances_match_local_booster(client, model_dir):
    x = smoke_matrix()
    resp = client.post("/invocations", content=smoke_request(x))
    assert resp.status_code == 200, resp.text
    doc = resp.json()
    assert doc["model_version"] == "7" and doc["asof"] is None
    got = np.array(
        [[p["p_low"], p["p_normal"], p["p_high"]] for p in doc["predictions"]]
    )
    want = tiny_classifier(seed=5).predict_proba(x)
    assert_allclose(got, want, atol=1e-6)
    assert [p["horizon"] for p in doc["predictions"]] == [1, 7, 30]
    assert [p["regime"] for p in doc["predictions"]] == [
        ("low", "normal", "high")[i] for i in want.argmax(axis=1)
    ]


def test_asof_uses_bundled_candles(client):
    resp = client.post("/invocations", json={"asof": "2025-05-01", "horizons": [1, 30]})
    assert resp.status_code == 200, resp.text
    doc = resp.json()
    assert doc["asof"] == "2025-05-01"
    assert [p["horizon"] for p in doc["predictions"]] == [1, 30]
    sums = [p["p_low"] + p["p_normal"] + p["p_high"] for p in doc["predictions"]]
    assert_allclose(sums, 1.0, atol=1e-6)


def test_wrong_content_type_is_415(client):
    resp = client.post(
        "/invocations", content=b"1,2,3", headers={"Content-Type": "text/csv"}
    )
    assert resp.status_code == 415 and resp.json()["field"] == "ContentType"


def test_feature_mismatch_refuses_to_start(tmp_path, model_dir):
    (tmp_path / BOOSTER_FILE).write_bytes((model_dir / BOOSTER_FILE).read_bytes())
    (tmp_path / META_FILE).write_text(json.dumps({"feature_names": ["horizon", "x"]}))
    with pytest.raises(ConfigError, match="feature_names"):
        SageMakerPredictor.load(tmp_path)


@pytest.mark.slow
@pytest.mark.integration
def test_real_process_ping_and_invocations(model_dir):
    port = free_port()
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "BVP_SAGEMAKER_MODEL_DIR": str(model_dir),
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "serving.sagemaker_app",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            if proc.poll() is not None:
                pytest.fail(f"server exited: {proc.stdout.read().decode()}")
            try:
                if httpx.get(f"{base}/ping", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            pytest.fail("no /ping answer")
        good = httpx.post(
            f"{base}/invocations",
            content=smoke_request(smoke_matrix()),
            headers={"Content-Type": "application/json"},
            timeout=10,
        )
        assert good.status_code == 200 and good.json()["model_version"] == "7"
        assert len(good.json()["predictions"]) == 3
        for body, status, field in (
            BAD["short-row"],
            BAD["nan-literal"],
            BAD["horizon-0"],
        ):
            bad = httpx.post(
                f"{base}/invocations",
                content=body,
                headers={"Content-Type": "application/json"},
                timeout=10,
            )
            assert bad.status_code == status and bad.json()["field"] == field
            assert "Traceback" not in bad.text
    finally:
        proc.terminate()
        proc.wait(timeout=10)

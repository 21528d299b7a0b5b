"""AWS path fixtures: moto server on 127.0.0.1, a tiny registry, settings for both."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
import xgboost as xgb

from ml.features import FEATURE_NAMES

MODEL_NAME = "btc-volatility"
BUCKET = "bvp-test-artifacts"
ROLE = "arn:aws:iam::123456789012:role/bvp-sagemaker-execution"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/btc-volatility-sagemaker:0.1.0"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tiny_classifier(seed: int) -> xgb.XGBClassifier:
    """A real 3-class classifier over len(FEATURE_NAMES) features (horizon first)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(300, len(FEATURE_NAMES)))
    x[:, 0] = rng.integers(1, 31, size=300)
    y = (x[:, 1] > 0.5).astype(int) + (x[:, 1] > -0.5).astype(int)
    model = xgb.XGBClassifier(n_estimators=4, max_depth=2, n_jobs=1, random_state=seed)
    model.fit(x, y)
    return model


@dataclass
class Registry:
    """A sqlite MLflow registry; ``register`` logs a model and moves the champion."""

    tracking_uri: str
    artifact_root: str

    def register(self, seed: int) -> str:
        import mlflow

        mlflow.set_tracking_uri(self.tracking_uri)
        exp = mlflow.get_experiment_by_name("aws-tests")
        exp_id = (
            exp.experiment_id
            if exp
            else mlflow.create_experiment("aws-tests", self.artifact_root)
        )
        with mlflow.start_run(experiment_id=exp_id):
            info = mlflow.xgboost.log_model(
                tiny_classifier(seed),
                name="model",
                model_format="ubj",
                pip_requirements=["xgboost"],
            )
        mv = mlflow.register_model(info.model_uri, MODEL_NAME)
        mlflow.MlflowClient().set_registered_model_alias(
            MODEL_NAME, "champion", mv.version
        )
        return str(mv.version)

    def tags(self, version: str) -> dict[str, str]:
        import mlflow

        mlflow.set_tracking_uri(self.tracking_uri)
        return dict(mlflow.MlflowClient().get_model_version(MODEL_NAME, version).tags)


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def aws_env(moto_url, monkeypatch, tmp_path) -> str:
    """Fake credentials through the standard chain (env), no real config files."""
    for k, v in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
    }.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    httpx.post(f"{moto_url}/moto-api/reset").raise_for_status()
    return moto_url


@pytest.fixture
def registry(tmp_path_factory) -> Registry:
    root = tmp_path_factory.mktemp("mlflow")
    return Registry(f"sqlite:///{root / 'mlflow.db'}", (root / "artifacts").as_uri())


@pytest.fixture
def bvp_env(aws_env, registry, monkeypatch, tmp_path) -> Path:
    """BVP_* settings pointing at moto and the temporary registry; returns BVP_HOME."""
    home = tmp_path / "bvp"
    for k, v in {
        "BVP_HOME": str(home),
        "BVP_MLFLOW__TRACKING_URI": registry.tracking_uri,
        "BVP_AWS__ENDPOINT_URL": aws_env,
        "BVP_AWS__BUCKET": BUCKET,
        "BVP_AWS__ROLE_ARN": ROLE,
        "BVP_AWS__IMAGE_URI": IMAGE,
        "BVP_AWS__WAIT_DELAY_S": "1",
        "BVP_AWS__WAIT_MAX_ATTEMPTS": "5",
        "BVP_AWS__TERMINATION_WAIT_S": "120",
    }.items():
        monkeypatch.setenv(k, v)
    return home


def queue_invoke_results(moto_url: str, *bodies: bytes | str) -> None:
    """Queue what moto's InvokeEndpoint answers, one body per new request."""
    results = [
        {
            "Body": b.decode() if isinstance(b, bytes) else b,
            "ContentType": "application/json",
        }
        for b in bodies
    ]
    r = httpx.post(
        f"{moto_url}/moto-api/static/sagemaker/endpoint-results",
        json={"results": results},
    )
    r.raise_for_status()

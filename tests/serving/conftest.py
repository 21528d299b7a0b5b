"""A real local serving stack per module: registry with two versions, MLServer, transformer.

Both models are real ``XGBClassifier``s fitted on real features of the bundled candles
(2018-2019 and 2018-2020 slices, 30 trees). Version 1 is champion at start.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bench.servers import (
    LocalServer,
    kserve_python,
    mlserver_cmd,
    server_env,
    start,
    train_small_model,
    transformer_cmd,
)
from ml.settings import Settings
from tests.conftest import free_port

MODEL = "btc-volatility"
MAX_BATCH = 4
MAX_CANDLE_INSTANCES = 2
MAX_BODY = 300_000


@dataclass
class Stack:
    """The running stack and how to reach it."""

    settings: Settings
    home: Path
    boosters: dict[str, Path]
    mlserver: LocalServer
    transformer: LocalServer
    run_ids: dict[str, str] = field(default_factory=dict)

    @property
    def predict_url(self) -> str:
        return f"{self.transformer.url}/v1/models/{MODEL}:predict"

    def start_mlserver(self) -> LocalServer:
        repo = self.home / "serving" / "repo"
        self.mlserver = start(
            mlserver_cmd(repo), server_env(self.home), self.home / "mlserver.log",
            self.settings.predictor_url, f"/v2/models/{MODEL}/ready",
        )  # fmt: skip
        return self.mlserver


def _register(settings: Settings, model_dir: Path, tag: str) -> tuple[str, str]:
    from pipelines.tracking import log_training_run, register_version

    run_id, uri = log_training_run(
        settings.tracking_uri,
        "serving-tests",
        settings.artifact_root,
        model_dir,
        {"tag": tag},
        {},
    )
    version, _ = register_version(
        settings.tracking_uri, MODEL, uri, run_id, f"fp-{tag}", ""
    )
    return version, run_id


def set_champion(settings: Settings, version: str) -> None:
    """Move the champion alias."""
    import mlflow

    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.MlflowClient().set_registered_model_alias(
        MODEL, settings.mlflow.champion_alias, version
    )


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if not kserve_python().exists():
        pytest.skip(
            f"kserve environment missing at {kserve_python()} (run `make setup`)"
        )
    from serving.champion import fetch_champion
    from serving.model_repo import prepare_repository

    home = tmp_path_factory.mktemp("serving-home")
    ports = {k: free_port() for k in ("http", "grpc", "metrics", "t_http")}
    settings = Settings(
        home=home,
        serving={"http_port": ports["http"], "grpc_port": ports["grpc"],
                 "metrics_port": ports["metrics"], "parallel_workers": 1},
        transformer={"http_port": ports["t_http"]},
    )  # fmt: skip
    boosters = {
        "1": train_small_model(home / "m1", end="2019-12-31"),
        "2": train_small_model(home / "m2", end="2020-12-31", seed=11),
    }
    run_ids = {}
    for want, booster in boosters.items():
        version, run_ids[want] = _register(settings, booster.parent, want)
        assert version == want
    set_champion(settings, "1")
    booster, info = fetch_champion(settings)
    prepare_repository(settings, booster, info["version"], {"run_id": info["run_id"]})
    env = server_env(
        home,
        BVP_SERVING__HTTP_PORT=str(ports["http"]),
        BVP_TRANSFORMER__MAX_BATCH=str(MAX_BATCH),
        BVP_TRANSFORMER__MAX_CANDLE_INSTANCES=str(MAX_CANDLE_INSTANCES),
        BVP_TRANSFORMER__MAX_BODY_BYTES=str(MAX_BODY),
        BVP_TRANSFORMER__PREDICTOR_TIMEOUT_S="3",
    )
    s = Stack(settings, home, boosters, None, None, run_ids)  # type: ignore[arg-type]
    s.start_mlserver()
    cmd = transformer_cmd(MODEL) + ["--http_port", str(ports["t_http"])]
    try:
        s.transformer = start(
            cmd, env, home / "transformer.log", f"http://127.0.0.1:{ports['t_http']}",
            "/v2/health/ready",
        )  # fmt: skip
    except Exception:
        s.mlserver.stop()
        raise
    yield s
    s.transformer.stop()
    s.mlserver.stop()

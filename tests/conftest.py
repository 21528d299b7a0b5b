"""Shared pytest set-up: markers, --skip-slow, and environment hygiene."""

from __future__ import annotations

import os
import socket

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--skip-slow", action="store_true", default=False, help="skip tests marked slow"
    )


def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> None:
    if not config.getoption("--skip-slow"):
        return
    skip = pytest.mark.skip(reason="--skip-slow given")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _isolated_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """No test reads the developer's BVP_* environment or writes into the checkout's .bvp."""
    for key in list(os.environ):
        if key.startswith("BVP_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("BVP_HOME", str(tmp_path_factory.mktemp("bvp-home")))


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


SLICE_ENV = {
    # A small real slice: two years of bundled candles, walk-forward over its last quarter.
    "BVP_TRAIN__TRAIN_START": "2018-01-01",
    "BVP_TRAIN__TRAIN_END": "2019-12-31",
    "BVP_TRAIN__FIRST_TEST_ORIGIN": "2019-10-01",
    "BVP_TRAIN__N_ESTIMATORS": "40",
    "BVP_TRAIN__BASELINES": "persistence,climatology",
}


@pytest.fixture(scope="session")
def trained_home(tmp_path_factory: pytest.TempPathFactory):
    """A BVP home whose MLflow registry holds a champion trained by a kfp.local run.

    Yields the environment (dict) that points a process at it.
    """
    from ml.settings import Settings
    from pipelines.runner import pipeline_arguments, run_local

    home = tmp_path_factory.mktemp("trained-home")
    env = {"BVP_HOME": str(home), **SLICE_ENV}
    mp = pytest.MonkeyPatch()
    for key in list(os.environ):
        if key.startswith("BVP_"):
            mp.delenv(key)
    for k, v in env.items():
        mp.setenv(k, v)
    settings = Settings()
    version = run_local(
        "training", pipeline_arguments(settings, "training"), home / "pipeline-root"
    )
    mp.undo()
    env["BVP_TEST_VERSION"] = str(version)
    return env

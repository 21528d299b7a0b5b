"""Pipeline test fixtures: a sqlite MLflow under the isolated BVP_HOME."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ml.settings import Settings


@pytest.fixture
def settings() -> Settings:
    return Settings()


@pytest.fixture
def tracking_uri(settings: Settings) -> str:
    settings.home.mkdir(parents=True, exist_ok=True)
    return settings.tracking_uri


@pytest.fixture
def home(settings: Settings) -> Path:
    return settings.home


@pytest.fixture(autouse=True)
def _repo_root_cwd(monkeypatch: pytest.MonkeyPatch) -> None:
    """kfp.local subprocesses import the project from the repo root."""
    monkeypatch.chdir(Path(__file__).resolve().parents[2])
    monkeypatch.setenv("OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS", "1"))

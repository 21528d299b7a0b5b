"""Kaggle download through the real ``kaggle`` client against a local fake endpoint."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator

import pandas as pd
import pytest

from ml.data import OPEN_TIME, bundled_path
from ml.errors import SourceError
from ml.settings import Settings
from pipelines.ingest.store import CandleStore
from pipelines.ingest.update import kaggle_has_new_data, update_from_kaggle
from tests.ingest.fake_servers import DAY_MS, FakeKaggle, ms, synthetic_klines

DATASET = "novandraanugrah/bitcoin-historical-datasets-2018-2024"
CSV_1D = "btc_1d_data_2018_to_2025.csv"
LAST_BUNDLED = "2025-05-27"
NEW_DAYS = 10


def now_after(new_days: int) -> pd.Timestamp:
    """A clock 6 h into the candle after ``new_days`` closed new days (still open)."""
    return pd.Timestamp(LAST_BUNDLED) + pd.Timedelta(days=new_days + 1, hours=6)


NOW = now_after(NEW_DAYS)


def kaggle_csv(new_days: int) -> bytes:
    """Bundled rows since 2025-01-01 in the dataset's own layout, plus ``new_days``
    closed days and the open candle of :func:`now_after`."""
    lines = gzip.decompress(bundled_path("1d").read_bytes()).decode().splitlines()
    keep = [lines[0]] + [ln for ln in lines[1:] if ln >= "2025-01-01"]
    last_close = float(keep[-1].split(",")[4])
    for r in synthetic_klines(
        ms(LAST_BUNDLED) + DAY_MS, new_days + 1, DAY_MS, last_close
    ):
        t = pd.Timestamp(r[0], unit="ms").strftime("%Y-%m-%d %H:%M:%S.%f UTC")
        c = pd.Timestamp(r[6], unit="ms").strftime("%Y-%m-%d %H:%M:%S.%f UTC")
        keep.append(",".join([t, *r[1:6], c, *map(str, r[7:])]))
    return ("\n".join(keep) + "\n").encode()


@pytest.fixture
def kaggle_env(tmp_path, monkeypatch) -> None:
    """No real credentials or config leak in; the client talks only to the fake."""
    for var in (
        "KAGGLE_API_TOKEN",
        "KAGGLE_API_ENVIRONMENT",
        "KAGGLE_USERNAME",
        "KAGGLE_KEY",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(tmp_path / "kaggle-config"))


def _serve(monkeypatch, files: dict[str, bytes], dataset: str = DATASET) -> FakeKaggle:
    from kagglesdk import kaggle_env

    fake = FakeKaggle(dataset, files, username="bvp-user", key="secret-key")
    # kaggle 2.2 builds its URL from this table at call time: PROD -> {url}/v1/...
    for env in (kaggle_env.KaggleEnv.PROD, kaggle_env.KaggleEnv.LOCAL):
        monkeypatch.setitem(kaggle_env._env_to_endpoint, env, fake.url)
    return fake


@pytest.fixture
def with_creds(monkeypatch, kaggle_env) -> None:
    monkeypatch.setenv("KAGGLE_USERNAME", "bvp-user")
    monkeypatch.setenv("KAGGLE_KEY", "secret-key")


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(home=tmp_path / "bvp")


@pytest.fixture
def newer(monkeypatch, with_creds) -> Iterator[FakeKaggle]:
    with _serve(
        monkeypatch,
        {CSV_1D: kaggle_csv(NEW_DAYS), "btc_4h_data_2018_to_2025.csv": b"x"},
    ) as fake:
        yield fake


def test_dataset_with_newer_rows_is_detected_and_merged(newer, settings):
    store = CandleStore.from_settings(settings)
    assert kaggle_has_new_data(settings, "1d", store=store, now=NOW)

    result = update_from_kaggle(settings, "1d", store=store, now=NOW)

    assert result.newer == NEW_DAYS and result.store.added == NEW_DAYS
    assert (
        result.store.report.last == "2025-06-06T00:00Z"
    )  # the open 2025-06-07 is dropped
    stored = store.load("1d")
    assert stored[OPEN_TIME].is_unique and stored[OPEN_TIME].is_monotonic_increasing
    assert not kaggle_has_new_data(settings, "1d", store=store, now=NOW)
    post = newer.requests[0]
    assert post["path"] == "/v1/datasets.DatasetApiService/DownloadDataset"
    assert post["body"] == {
        "ownerSlug": "novandraanugrah",
        "datasetSlug": "bitcoin-historical-datasets-2018-2024",
    }
    assert post["auth"].startswith("Basic ")
    assert any(
        r["method"] == "GET" and r["path"].endswith(".zip") for r in newer.requests
    )


def test_dataset_without_newer_rows_changes_nothing(monkeypatch, with_creds, settings):
    store = CandleStore.from_settings(settings)
    before = store.version("1d")
    with _serve(monkeypatch, {CSV_1D: kaggle_csv(0)}):
        assert not kaggle_has_new_data(settings, "1d", store=store, now=now_after(0))
        result = update_from_kaggle(settings, "1d", store=store, now=now_after(0))
    assert (result.newer, result.store.added, result.store.written) == (0, 0, False)
    assert result.store.duplicates > 100
    assert store.version("1d") == before


def test_mounted_kaggle_json_is_used(monkeypatch, kaggle_env, tmp_path, settings):
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "kaggle.json").write_text(
        json.dumps({"username": "bvp-user", "key": "secret-key"})
    )
    (secret / "kaggle.json").chmod(0o600)
    settings.data.kaggle_config_dir = secret
    with _serve(monkeypatch, {CSV_1D: kaggle_csv(2)}) as fake:
        result = update_from_kaggle(settings, "1d", now=now_after(2))
    assert result.store.added == 2
    assert fake.requests[0]["auth"].startswith("Basic ")


def test_missing_credentials_say_what_to_set(monkeypatch, kaggle_env, settings):
    with _serve(monkeypatch, {CSV_1D: kaggle_csv(2)}) as fake:
        with pytest.raises(
            SourceError,
            match=r"no usable Kaggle credentials.*KAGGLE_USERNAME and KAGGLE_KEY",
        ):
            update_from_kaggle(settings, "1d", now=NOW)
        assert fake.requests == []


def test_missing_mounted_secret_is_named(kaggle_env, settings, tmp_path):
    settings.data.kaggle_config_dir = tmp_path / "nowhere"
    with pytest.raises(
        SourceError, match=r"no kaggle\.json in BVP_DATA__KAGGLE_CONFIG_DIR="
    ):
        update_from_kaggle(settings, "1d", now=NOW)


@pytest.mark.parametrize(
    ("dataset", "key", "match"),
    [
        pytest.param(
            "someone/else",
            "secret-key",
            r"HTTP 404.*BVP_DATA__KAGGLE_DATASET",
            id="unknown-dataset",
        ),
        pytest.param(DATASET, "wrong", r"HTTP 401.*KAGGLE_USERNAME", id="refused-key"),
    ],
)
def test_http_errors_are_source_errors(
    monkeypatch, with_creds, settings, dataset, key, match
):
    monkeypatch.setenv("KAGGLE_KEY", key)
    settings.data.kaggle_dataset = dataset
    with (
        _serve(monkeypatch, {CSV_1D: kaggle_csv(2)}),
        pytest.raises(SourceError, match=match),
    ):
        update_from_kaggle(settings, "1d", now=NOW)


def test_missing_file_in_archive_lists_what_was_there(
    monkeypatch, with_creds, settings
):
    with (
        _serve(monkeypatch, {"other.csv": b"a,b\n"}),
        pytest.raises(
            SourceError,
            match=r"no file matching 'btc_1d_data_\*\.csv' in \['other\.csv'\]",
        ),
    ):
        update_from_kaggle(settings, "1d", now=NOW)

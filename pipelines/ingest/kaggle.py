"""Kaggle dataset download mapped to the canonical candle frame.

Uses the ``kaggle`` package (2.2, over ``kagglesdk``), imported lazily: importing it
authenticates at once (and checks ``KAGGLE_API_TOKEN`` online). Credentials come from
``KAGGLE_USERNAME``/``KAGGLE_KEY``, a ``kaggle.json`` in ``data.kaggle_config_dir``
(a mounted secret) or ``~/.kaggle/kaggle.json``.

Wire format used by ``KaggleApi.dataset_download_files``: ``POST
{endpoint}/v1/datasets.DatasetApiService/DownloadDataset`` with JSON
``{"ownerSlug": ..., "datasetSlug": ...}`` and HTTP basic auth (username, key); the
answer redirects to the archive, a zip of the dataset's files.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from ml._typing import Interval
from ml.data import read_candles
from ml.errors import SourceError
from ml.ingest import closed_candles
from ml.settings import DataSettings

__all__ = ["download_kaggle_candles", "kaggle_credentials_hint"]

log = logging.getLogger(__name__)

SOURCE = "kaggle"
CONFIG_FILE = "kaggle.json"


def kaggle_credentials_hint() -> str:
    """What to set when Kaggle credentials are missing or refused."""
    return (
        "Set KAGGLE_USERNAME and KAGGLE_KEY, or mount kaggle.json and point "
        "BVP_DATA__KAGGLE_CONFIG_DIR at its directory."
    )


def download_kaggle_candles(
    data: DataSettings,
    interval: Interval,
    now: pd.Timestamp,
    workdir: Path | None = None,
) -> pd.DataFrame:
    """Download ``data.kaggle_dataset`` and read the candle file of ``interval``.

    Args:
        data: The ``data`` settings group (dataset slug, file globs, config dir).
        interval: ``1d`` or ``4h``; selects the file via ``data.kaggle_files``.
        now: Current naive-UTC time; candles still open at ``now`` are dropped.
        workdir: Where to download (a temp dir, removed afterwards, if None).

    Returns:
        Canonical candle frame of closed candles, in file order.

    Raises:
        SourceError: Missing or refused credentials, HTTP failure, or no file
            matching the interval's glob in the archive.
    """
    dataset = data.kaggle_dataset
    pattern = data.kaggle_files.get(interval)
    if pattern is None:
        raise SourceError(
            SOURCE, dataset, f"no file glob for interval {interval!r}",
            "Set BVP_DATA__KAGGLE_FILES to a JSON map like "
            '{"1d": "btc_1d_data_*.csv", "4h": "btc_4h_data_*.csv"}.',
        )  # fmt: skip
    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        api = _authenticated_api(data.kaggle_config_dir, dataset)
        _download(api, dataset, workdir)
        matches = sorted(workdir.rglob(pattern))
        if not matches:
            found = sorted(p.name for p in workdir.rglob("*") if p.is_file())
            raise SourceError(
                SOURCE, dataset, f"no file matching {pattern!r} in {found}",
                "Set BVP_DATA__KAGGLE_FILES to the dataset's file names.",
            )  # fmt: skip
        frame = read_candles(matches[-1])
    log.info("kaggle %s: %d candles in %s", dataset, len(frame), matches[-1].name)
    return closed_candles(frame, interval, now)


def _authenticated_api(config_dir: Path | None, dataset: str) -> Any:
    has_env = bool(os.environ.get("KAGGLE_USERNAME") and os.environ.get("KAGGLE_KEY"))
    has_token = bool(os.environ.get("KAGGLE_API_TOKEN"))
    if config_dir is not None and not (Path(config_dir) / CONFIG_FILE).is_file():
        raise SourceError(
            SOURCE, dataset,
            f"no {CONFIG_FILE} in BVP_DATA__KAGGLE_CONFIG_DIR={config_dir}",
            kaggle_credentials_hint(),
        )  # fmt: skip
    # Imported here: the import authenticates, and only `--source kaggle` needs it.
    with contextlib.redirect_stdout(io.StringIO()):
        from kaggle.api.kaggle_api_extended import KaggleApi

    api = KaggleApi()
    if config_dir is not None:
        api.config_dir = str(config_dir)
        api.config = str(Path(config_dir) / CONFIG_FILE)
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            api.authenticate()
    except SystemExit:
        where = "environment" if not (has_env or has_token) else "credentials given"
        raise SourceError(
            SOURCE, dataset, f"no usable Kaggle credentials ({where})",
            kaggle_credentials_hint(),
        ) from None  # fmt: skip
    return api


def _download(api: Any, dataset: str, workdir: Path) -> None:
    import requests  # the kaggle client's HTTP library

    try:
        with contextlib.redirect_stdout(io.StringIO()):
            api.dataset_download_files(
                dataset, path=str(workdir), unzip=True, quiet=True
            )
    except requests.HTTPError as exc:
        status = exc.response.status_code if exc.response is not None else None
        hint = kaggle_credentials_hint() if status in (401, 403) else ""
        if status == 404:
            hint = "Check BVP_DATA__KAGGLE_DATASET (owner/name)."
        raise SourceError(SOURCE, dataset, f"got HTTP {status}: {exc}", hint) from exc
    except requests.RequestException as exc:
        raise SourceError(
            SOURCE, dataset, f"download failed: {type(exc).__name__}: {exc}"
        ) from exc

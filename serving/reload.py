"""Hot reload: when the champion alias moves, swap the repository and ask MLServer to load.

MLServer's repository API (``POST /v2/repository/models/{name}/load``) re-reads the
model folder, loads the new version and unloads the old one, in one running server. The
repository folder is swapped atomically first (``prepare_repository``). MLServer makes
the new version the default as soon as it starts loading, so a request can meet a
not-ready model for a few milliseconds; the transformer retries those answers
(``BVP_TRANSFORMER__PREDICTOR_RETRIES``), which is what keeps the swap free of failed
requests for its clients.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

import httpx

from ml.errors import BVPError
from ml.settings import Settings
from serving.champion import fetch_champion
from serving.model_repo import prepare_repository
from serving.v2 import PredictorUnavailableError

__all__ = ["reload_champion", "served_version", "watch"]

log = logging.getLogger(__name__)


def served_version(settings: Settings) -> str | None:
    """Version written in the served repository (None if there is none)."""
    name = settings.mlflow.model_name
    path = Path(settings.home) / "serving" / "repo" / name / "model-settings.json"
    if not path.exists():
        return None
    return str(json.loads(path.read_text())["parameters"].get("version") or "") or None


def reload_champion(settings: Settings, timeout_s: float = 60.0) -> tuple[str, bool]:
    """Serve ``<model>@<champion>`` if it differs from what MLServer serves.

    Returns:
        (champion version, whether a reload happened).

    Raises:
        ModelNotFoundError: No champion alias.
        PredictorUnavailableError: MLServer refused or failed the load.
    """
    booster, info = fetch_champion(settings)
    version = str(info["version"])
    if served_version(settings) == version:
        return version, False
    prepare_repository(settings, booster, version, {"run_id": info.get("run_id") or ""})
    name, base = settings.mlflow.model_name, settings.predictor_url
    try:
        resp = httpx.post(f"{base}/v2/repository/models/{name}/load", timeout=timeout_s)
    except httpx.HTTPError as exc:
        raise PredictorUnavailableError(base, f"{type(exc).__name__}: {exc}") from exc
    if resp.status_code != 200:
        raise PredictorUnavailableError(
            base,
            f"load of {name} v{version} answered HTTP {resp.status_code}: {resp.text[:200]}",
        )
    log.info("MLServer now serves %s v%s", name, version)
    return version, True


def watch(
    settings: Settings, interval_s: float = 10.0, stop: threading.Event | None = None
) -> None:
    """Poll the alias every ``interval_s`` seconds and reload on change (until ``stop``)."""
    stop = stop or threading.Event()
    while not stop.is_set():
        try:
            version, moved = reload_champion(settings)
            if moved:
                log.info("champion moved to v%s: reloaded", version)
        except BVPError as exc:
            log.warning("reload skipped: %s", exc)
        stop.wait(interval_s)

"""Retrain branch of the monitoring pipeline: new data, challenger, gate.

The challenger is fitted twice with the same spec: once on labels known
``gate_days`` before now (the *held-out* fit, scored against the champion on the
gate window it has not seen) and once on everything (the version registered as
``challenger`` and promoted if the held-out fit wins). Validating the procedure and
deploying the refit keeps the most recent data in the served model.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd

from ml.assessment import gate_losses, predictor
from ml.data import OPEN_TIME
from ml.errors import ConfigError
from ml.models import (
    BOOSTER_FILE,
    RegimeModelSpec,
    fit_regime_model,
    load_regime_model,
    training_rows,
)
from ml.monitoring import gate
from ml.panel import Panel

log = logging.getLogger(__name__)

__all__ = [
    "HOLDOUT_META",
    "evaluate_gate",
    "new_candles",
    "retrain_challenger",
    "update_store",
]

HOLDOUT_META = "holdout-meta.json"


def update_store(source: str, settings_overrides: dict[str, Any] | None = None) -> str:
    """Poll ``source`` (none, binance, kaggle) for candles and merge them into the store.

    Returns:
        A one-line account of what was added.
    """
    if source == "none":
        return "new_data_source none: using the configured candle files"
    if source not in ("binance", "kaggle"):
        raise ConfigError("new_data_source", source, "one of none, binance, kaggle",
                          "(BVP_MONITORING__NEW_DATA_SOURCE)")  # fmt: skip
    from ml.settings import Settings
    from pipelines.ingest.update import update_from_binance, update_from_kaggle

    settings = Settings(**(settings_overrides or {}))
    fn = update_from_binance if source == "binance" else update_from_kaggle
    added = {iv: fn(settings, iv).store.added for iv in ("1d", "4h")}  # type: ignore[operator]
    return f"{source}: added {added['1d']} daily and {added['4h']} 4-hour candles"


def new_candles(daily_path: str | Path, last_trained_day: str) -> int:
    """Daily candles after the day the champion's training data ended."""
    daily = pd.read_parquet(daily_path)
    return int((daily[OPEN_TIME] > pd.Timestamp(last_trained_day)).sum())


def _save(model: Any, out: Path, meta: dict[str, Any], meta_file: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    model.save_model(str(out / BOOSTER_FILE))
    (out / meta_file).write_text(json.dumps(meta, indent=2))


def retrain_challenger(
    panel: Panel,
    spec: RegimeModelSpec,
    gate_days: int,
    holdout_dir: Path,
    full_dir: Path,
) -> dict[str, Any]:
    """Fit the held-out and the full challenger; save both (``model.ubj`` + meta).

    Returns:
        Metadata: cutoffs (ISO days), training rows, spec.
    """
    from pipelines.steps import MODEL_META_FILE

    asof = len(panel.days) - 1
    hold = asof - gate_days
    meta: dict[str, Any] = {"spec": asdict(spec), "gate_days": gate_days}
    for cutoff, out, name in (
        (hold, holdout_dir, HOLDOUT_META),
        (asof, full_dir, MODEL_META_FILE),
    ):
        x, y = training_rows(panel, cutoff)
        _save(fit_regime_model(x, y, spec), out, {**meta, "cutoff": str(panel.days[cutoff].date()),
              "train_rows": len(y)}, name)  # fmt: skip
    mask = panel.label_known(asof)
    first = panel.days[mask.any(axis=1)]
    return {**meta, "holdout_cutoff": str(panel.days[hold].date()),
            "cutoff": str(panel.days[asof].date()),
            "train_first_origin": str(first.min().date()), "train_last_origin": str(first.max().date())}  # fmt: skip


def evaluate_gate(
    panel: Panel,
    champion_booster: Path,
    holdout_booster: Path,
    gate_days: int,
    test: str,
    alpha: float,
) -> dict[str, Any]:
    """Gate the held-out challenger against the champion on the last ``gate_days``."""
    asof = len(panel.days) - 1
    champ = predictor(panel, load_regime_model(champion_booster))
    chall = predictor(panel, load_regime_model(holdout_booster))
    lc, lh = gate_losses(panel, champ, chall, asof, gate_days)
    g = gate(lc, lh, test=test, alpha=alpha)
    out = asdict(g)
    out.update(champion_mean_log_loss=float(pd.Series(lc).mean()),
               challenger_mean_log_loss=float(pd.Series(lh).mean()),
               window=f"{panel.days[asof - gate_days].date()}..{panel.days[asof].date()}")  # fmt: skip
    return out

"""The work of each training-pipeline step as plain functions over file paths.

KFP components (``pipelines/components/``) and ``bvp train`` call these, so the same
code runs on a cluster, under ``kfp.local`` and in-process. Writes are atomic.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ml.data import OPEN_TIME, bundled_path, data_version, read_candles
from ml.errors import ConfigError
from ml.evaluation import WalkForwardResult
from ml.features import FEATURE_NAMES
from ml.models import (
    BOOSTER_FILE,
    RegimeModelSpec,
    XGBForecaster,
    fit_regime_model,
)
from ml.panel import Panel, build_panel
from ml.validation import validate_candles
from pipelines.ingest.store import atomic_write_bytes as _atomic_write_chunks

log = logging.getLogger(__name__)

__all__ = [
    "SOURCES",
    "MODEL_META_FILE",
    "atomic_write_bytes",
    "build_training_table",
    "evaluate_walk_forward",
    "fetch_candles",
    "load_panel",
    "train_model",
    "validate_files",
]

SOURCES = ("bundled", "file", "store")
MODEL_META_FILE = "model-meta.json"
EVAL_METRICS_FILE = "walk_forward_metrics.csv"
EVAL_PREDICTIONS_FILE = "walk_forward_predictions.csv"
EVAL_CONFUSION_FILE = "confusion_matrices.json"
EVAL_COMPARISON_FILE = "forecast_comparison.csv"


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (the store's temp + fsync + rename writer)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write_chunks(path, [data])


def _write_parquet(frame: pd.DataFrame, path: str | Path) -> None:
    import io

    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    atomic_write_bytes(path, buf.getvalue())


def _slice(frame: pd.DataFrame, start: str | None, end: str | None) -> pd.DataFrame:
    t = frame[OPEN_TIME]
    keep = pd.Series(True, index=frame.index)
    if start:
        keep &= t >= pd.Timestamp(start)
    if end:
        keep &= t < pd.Timestamp(end) + pd.Timedelta(days=1)
    return frame.loc[keep].reset_index(drop=True)


def fetch_candles(
    source: str,
    daily_out: str | Path,
    h4_out: str | Path,
    daily_file: str = "",
    h4_file: str = "",
    start: str = "",
    end: str = "",
) -> dict[str, Any]:
    """Copy candles from the source into parquet artifacts.

    Args:
        source: ``bundled`` (the embedded Binance files), ``file`` (``daily_file`` and
            ``h4_file``) or ``store`` (same as file; the local store's paths).
        daily_out: Output path of the daily candles (parquet).
        h4_out: Output path of the 4-hour candles (parquet; empty frame if none).
        daily_file: Daily file for ``file``/``store``.
        h4_file: 4-hour file for ``file``/``store`` (empty: no intraday data).
        start: Keep candles from this day (ISO, optional).
        end: Keep candles up to this day (ISO, optional).

    Returns:
        Data versions of both frames (``daily`` and ``h4`` keys).
    """
    if source not in SOURCES:
        raise ConfigError(
            "source", source, f"one of {', '.join(SOURCES)}", "(--source)"
        )
    if source == "bundled":
        d_path, h_path = bundled_path("1d"), bundled_path("4h")
    else:
        if not daily_file:
            raise ConfigError("daily_file", daily_file, "a path for source=file/store")
        d_path, h_path = Path(daily_file), Path(h4_file) if h4_file else None
    daily = _slice(read_candles(d_path), start or None, end or None)
    h4 = (
        _slice(read_candles(h_path), start or None, end or None)
        if h_path is not None
        else pd.DataFrame(columns=daily.columns)
    )
    _write_parquet(daily, daily_out)
    _write_parquet(h4, h4_out)
    versions = {"daily": data_version(daily).as_dict()}
    if len(h4):
        versions["h4"] = data_version(h4).as_dict()
    return versions


def validate_files(
    daily_path: str | Path, h4_path: str | Path, gap_policy_1d: str, gap_policy_4h: str
) -> dict[str, Any]:
    """Validate both candle artifacts; raise on the first broken contract."""
    daily = pd.read_parquet(daily_path)
    report = {"daily": asdict(validate_candles(daily, "1d", gap_policy_1d))}  # type: ignore[arg-type]
    h4 = pd.read_parquet(h4_path)
    if len(h4):
        report["h4"] = asdict(validate_candles(h4, "4h", gap_policy_4h))  # type: ignore[arg-type]
    return report


def load_panel(
    daily_path: str | Path, h4_path: str | Path, thresholds: tuple[float, float]
) -> Panel:
    """Panel from the parquet candle artifacts."""
    daily = pd.read_parquet(daily_path)
    h4 = pd.read_parquet(h4_path)
    return build_panel(daily, h4 if len(h4) else None, thresholds)


def build_training_table(panel: Panel, out: str | Path) -> dict[str, Any]:
    """Write every (origin, horizon) row with a known label: features + label."""
    mask = panel.label_known(len(panel.days) - 1)
    i, hh = np.nonzero(mask)
    table = pd.DataFrame(panel.x[mask], columns=list(FEATURE_NAMES))
    table.insert(0, "origin_date", panel.days[i])
    table["label"] = panel.labels[mask]
    _write_parquet(table, out)
    counts = np.bincount(table["label"], minlength=3).tolist()
    return {
        "rows": len(table),
        "class_counts": counts,
        "last_origin": str(panel.days[i.max()].date()),
    }


def train_model(
    table_path: str | Path, spec: RegimeModelSpec, out_dir: str | Path
) -> dict[str, Any]:
    """Fit the final model on every known row and save ``model.ubj`` + metadata."""
    table = pd.read_parquet(table_path)
    x = table.loc[:, list(FEATURE_NAMES)].to_numpy(dtype="float64")
    y = table["label"].to_numpy(dtype="int64")
    model = fit_regime_model(x, y, spec)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_model(str(out / BOOSTER_FILE))
    meta = {
        "feature_names": list(FEATURE_NAMES),
        "spec": asdict(spec),
        "train_rows": len(table),
        "train_first_origin": str(table["origin_date"].min().date()),
        "train_last_origin": str(table["origin_date"].max().date()),
    }
    atomic_write_bytes(out / MODEL_META_FILE, json.dumps(meta, indent=2).encode())
    return meta


def train_structural(panel: Panel, out_dir: str | Path) -> dict[str, Any]:
    """Fit the structural model on every known target; write ``structural.json``.

    It sits beside ``model.ubj`` in the registered model folder, so one registry
    version carries both: the classifier MLServer serves and the variance model the
    transformer uses for the volatility level and for thresholds other than the
    trained ones.
    """
    from ml.structural import STRUCTURAL_FILE, fit_structural, structural_to_dict

    data = structural_to_dict(fit_structural(panel))
    data["last_day"] = str(panel.days[-1].date())
    data["thresholds"] = list(panel.thresholds)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / STRUCTURAL_FILE, json.dumps(data).encode())
    return {"structural_last_day": data["last_day"]}


def evaluate_walk_forward(
    panel: Panel,
    spec: RegimeModelSpec,
    first_origin: str,
    refit_every: int,
    baselines: list[str],
    out_dir: str | Path,
    progress: Callable[[str, int, int], None] | None = None,
    n_boot: int = 100,
) -> pd.DataFrame:
    """Walk-forward evaluation of the classifier, the structural model and baselines.

    Writes the per-horizon metrics table (regime metrics for every model, QLIKE and
    80%-interval coverage for the level forecasters), the long predictions table,
    the confusion matrices and the bench's comparison table with block-bootstrap
    intervals (``forecast_comparison.csv``) to ``out_dir``; returns the metrics table.
    """
    from ml.comparison import compare_forecasts, run_forecasters
    from ml.scoring import interval_coverage, qlike, realized_variance_forward
    from ml.structural import StructuralForecaster

    makers: dict[str, Callable[[], Any]] = {
        "xgboost": lambda: XGBForecaster(spec),
        StructuralForecaster.name: StructuralForecaster,
    }
    if baselines:
        from ml.baselines import BASELINES

        unknown = [b for b in baselines if b not in BASELINES]
        if unknown:
            raise ConfigError("baselines", unknown, f"names from {sorted(BASELINES)}")
        makers.update({b: BASELINES[b] for b in baselines})
    origins, records = run_forecasters(
        panel, makers, first_origin, refit_every, progress or _log_progress
    )
    rv = realized_variance_forward(panel.returns, len(panel.horizons))[origins]
    results, tables = [], []
    for name, rec in records.items():
        res = WalkForwardResult(
            name=name, origins=origins, proba=rec.proba, labels=panel.labels[origins],
            days=panel.days[origins],
        )  # fmt: skip
        table = res.metrics()
        if rec.level is not None:
            lv, ok = rec.level, np.isfinite(rv)
            table["qlike"] = [qlike(rv[ok[:, h - 1], h - 1], lv[ok[:, h - 1], h - 1, 3])
                              for h in table["horizon"]]  # fmt: skip
            table["coverage_80"] = [
                interval_coverage(np.sqrt(rv[ok[:, h - 1], h - 1]),
                                  lv[ok[:, h - 1], h - 1, 1], lv[ok[:, h - 1], h - 1, 2])
                for h in table["horizon"]
            ]  # fmt: skip
        results.append(res)
        tables.append(table)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    metrics = pd.concat(tables, ignore_index=True)
    atomic_write_bytes(out / EVAL_METRICS_FILE, metrics.to_csv(index=False).encode())
    preds = pd.concat([r.to_frame().assign(model=r.name) for r in results])
    atomic_write_bytes(out / EVAL_PREDICTIONS_FILE, preds.to_csv(index=False).encode())
    confusions = {
        r.name: {f"h{h:02d}": r.confusion(h).tolist() for h in panel.horizons}
        for r in results
    }
    atomic_write_bytes(out / EVAL_CONFUSION_FILE, json.dumps(confusions).encode())
    comparison = compare_forecasts(
        panel, origins, records, n_boot=n_boot, reference=StructuralForecaster.name
    )
    atomic_write_bytes(
        out / EVAL_COMPARISON_FILE, comparison.to_csv(index=False).encode()
    )
    return metrics


def _log_progress(name: str, k: int, n: int) -> None:
    if k == 1 or k == n or k % 10 == 0:
        log.info("walk-forward %s: refit %d/%d", name, k, n)


def spec_from_params(params: dict[str, Any]) -> RegimeModelSpec:
    """Build the model spec from a flat dict (pipeline parameters, settings)."""
    fields = RegimeModelSpec.__dataclass_fields__
    return RegimeModelSpec(**{k: v for k, v in params.items() if k in fields})

"""Compile and run pipelines: locally with ``kfp.local`` or on a KFP host."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ml import errors
from ml.errors import BVPError, ConfigError
from ml.settings import Settings

log = logging.getLogger(__name__)

__all__ = [
    "ANSI_COLOUR",
    "COMPILED_DIR",
    "PIPELINES",
    "PipelineStepError",
    "compile_pipeline",
    "monitoring_arguments",
    "pipeline_arguments",
    "run_local",
    "kfp_client",
    "run_on_host",
]

COMPILED_DIR = Path(__file__).parent / "compiled"


def _pipelines() -> dict[str, Callable[..., Any]]:
    from pipelines.training import training_pipeline

    found: dict[str, Callable[..., Any]] = {"training": training_pipeline}
    try:
        from pipelines.monitoring import monitoring_pipeline
    except ImportError:
        return found
    found["monitoring"] = monitoring_pipeline
    return found


PIPELINES = ("training", "monitoring")


def _get(name: str) -> Callable[..., Any]:
    found = _pipelines()
    if name not in found:
        raise ConfigError("pipeline", name, f"one of {sorted(found)}")
    return found[name]


def compile_pipeline(name: str, out_dir: Path = COMPILED_DIR) -> Path:
    """Compile the named pipeline to ``<out_dir>/<name>.yaml``."""
    from kfp import compiler

    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.yaml"
    compiler.Compiler().compile(_get(name), str(path))
    return path


def _spec(settings: Settings) -> dict[str, Any]:
    t = settings.train
    return {
        k: getattr(t, k)
        for k in ("n_estimators", "max_depth", "learning_rate", "subsample",
                  "colsample_bytree", "min_child_weight", "seed", "n_jobs")
    }  # fmt: skip


def _source_args(settings: Settings) -> dict[str, str]:
    """Where the fetch step reads candles: the bundled files unless a path is set."""
    d = settings.data
    if d.daily_path is None:
        return {}
    return {
        "source": "file",
        "daily_file": str(d.daily_path),
        "h4_file": str(d.h4_path or ""),
    }


def monitoring_arguments(settings: Settings, **overrides: Any) -> dict[str, Any]:
    """Parameters of the ``monitoring`` pipeline from settings (``monitoring`` group)."""
    m = settings.monitoring
    args: dict[str, Any] = {
        "tracking_uri": settings.tracking_uri,
        "artifact_root": settings.artifact_root,
        "experiment": settings.mlflow.experiment,
        "monitoring_experiment": m.experiment,
        "model_name": settings.mlflow.model_name,
        "champion_alias": settings.mlflow.champion_alias,
        "challenger_alias": m.challenger_alias,
        "previous_alias": m.previous_alias,
        "thresholds": ",".join(str(x) for x in settings.target.thresholds),
        "spec_json": json.dumps(_spec(settings), sort_keys=True),
        "monitor_settings_json": json.dumps(
            {
                k: getattr(m, k)
                for k in ("window_days", "drift_threshold", "drift_share", "min_rows")
            }
        ),
        "decide_settings_json": json.dumps(
            {
                k: getattr(m, k)
                for k in ("rule", "min_skill", "severe_skill", "min_label_days")
            }
        ),
        "gate_days": m.gate_days,
        "gate_test": m.gate_test,
        "alpha": m.alpha,
        "new_data_source": m.new_data_source,
        "deploy_target": m.deploy_target,
    }
    args.update(_source_args(settings))
    args.update(overrides)
    return args


def pipeline_arguments(
    settings: Settings, name: str, **overrides: Any
) -> dict[str, Any]:
    """Pipeline parameters from settings, with explicit overrides on top."""
    if name == "monitoring":
        return monitoring_arguments(settings, **overrides)
    if name != "training":
        return {"tracking_uri": settings.tracking_uri, **overrides}
    t, d = settings.train, settings.data
    spec = _spec(settings)
    args: dict[str, Any] = {
        "tracking_uri": settings.tracking_uri,
        "artifact_root": settings.artifact_root,
        "experiment": settings.mlflow.experiment,
        "model_name": settings.mlflow.model_name,
        "alias": settings.mlflow.champion_alias,
        "previous_alias": settings.monitoring.previous_alias,
        "thresholds": ",".join(str(x) for x in settings.target.thresholds),
        "spec_json": json.dumps(spec, sort_keys=True),
        "first_origin": t.first_test_origin,
        "refit_every": t.refit_every,
        "baselines": t.baselines,
        "start": t.train_start or "",
        "end": t.train_end or "",
        "gap_policy_1d": d.gap_policy_1d,
        "gap_policy_4h": d.gap_policy_4h,
    }
    args.update(_source_args(settings))
    args.update(overrides)
    return args


class PipelineStepError(BVPError):
    """A step of a ``kfp.local`` run failed; the message names it and its error."""

    status_code = 500


_ERROR_LINE = re.compile(r"^\s*(?:[\w.]+\.)?(\w*(?:Error|Exception)): (.+)$")
ANSI_COLOUR = re.compile(r"\x1b\[[0-9;]*m")
"""Terminal colour codes kfp.local puts in its log lines."""


_OURS = {
    c.__name__ for c in vars(errors).values()
    if isinstance(c, type) and issubclass(c, BVPError)
}  # fmt: skip
"""Errors whose message already names the field and value: shown without the class."""


class _LastError(io.TextIOBase):
    """Stdout that passes everything through and keeps the last ``XError: message``
    line: kfp.local prints each step's output, traceback included, with ``print``."""

    def __init__(self, out: Any) -> None:
        self.out, self.last = out, ""

    def write(self, text: str) -> int:
        self.out.write(text)
        for line in text.splitlines():
            m = _ERROR_LINE.match(ANSI_COLOUR.sub("", line))
            if m:
                self.last = m.group(2) if m.group(1) in _OURS else m.group(0).strip()
        return len(text)

    def flush(self) -> None:
        self.out.flush()


def run_local(name: str, arguments: dict[str, Any], pipeline_root: Path) -> Any:
    """Run the pipeline with ``kfp.local`` (subprocesses, no Docker) and return its output.

    Raises:
        PipelineStepError: A step failed: one line naming the step and the last error
            its output shows (the full output, traceback included, is printed above).
    """
    import warnings

    from kfp import local

    # Locally the project venv *is* the component image's environment; say so once.
    warnings.filterwarnings(
        "ignore", message="You may be attemping to run a task that uses custom"
    )
    pipeline_root.mkdir(parents=True, exist_ok=True)
    local.init(
        runner=local.SubprocessRunner(use_venv=False),
        pipeline_root=str(pipeline_root),
        raise_on_error=True,
    )
    tee = _LastError(sys.stdout)
    try:
        with contextlib.redirect_stdout(tee):
            task = _get(name)(**arguments)
    except RuntimeError as exc:
        failed = re.search(
            r"Inner task failed: '([^']+)'", ANSI_COLOUR.sub("", str(exc))
        )
        if failed is None:
            raise
        raise PipelineStepError(
            f"pipeline {name}: step {failed.group(1)!r} failed: "
            f"{tee.last or 'see its output above'}"
        ) from None
    return task.output


def kfp_client(host: str) -> Any:
    """A ``kfp.Client`` for ``host``, made without kfp's version FutureWarning and
    urllib3's retry warnings: an unreachable host is reported once, by the caller."""
    import warnings

    import kfp

    pool = logging.getLogger("urllib3.connectionpool")
    level = pool.level
    pool.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=FutureWarning, module="kfp")
            return kfp.Client(host=host)
    finally:
        pool.setLevel(level)


def run_on_host(
    name: str, arguments: dict[str, Any], host: str, experiment: str
) -> str:
    """Submit a run to a KFP API server; returns the run id."""
    client = kfp_client(host)
    run = client.create_run_from_pipeline_func(
        _get(name), arguments=arguments, experiment_name=experiment
    )
    return str(run.run_id)

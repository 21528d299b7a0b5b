"""The monitoring pipeline under kfp.local: the retrain branch runs exactly when it should.

kfp.local condition handling has had bugs (branches silently skipped or run), so each
test asserts on the branch's own outputs: task output folders and registry aliases.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.runner import PipelineStepError, monitoring_arguments, run_local
from pipelines.tracking import resolve_alias
from tests.fixtures import register_champion, synthetic_candles, write_candles

pytestmark = pytest.mark.slow

SEED = 5
CHAMPION_END = 699
"""The champion is trained on days 0..699; the pipeline sees 900 days."""
BRANCH_TASKS = ("fetch-new-data", "check-new-data", "retrain", "evaluate-challenger")


def _run(
    settings,
    tmp_path: Path,
    shift_last: int,
    spec: dict,
    rule: str = "drift",
    **overrides: str,
) -> dict:
    candles = synthetic_candles(900, SEED, shift_last=shift_last)
    daily = write_candles(candles, tmp_path / "daily.csv.gz")
    register_champion(
        settings.tracking_uri, candles, CHAMPION_END, tmp_path, settings.artifact_root
    )
    args = monitoring_arguments(
        settings, source="file", daily_file=str(daily), h4_file="",
        spec_json=json.dumps({"n_estimators": 20, "n_jobs": 1, **spec}),
        # 610-day synthetic reference: a 0.3 normalised-Wasserstein threshold keeps the
        # stationary series below the drift share and the 3x volatility shift above it.
        monitor_settings_json=json.dumps({"window_days": 180, "drift_threshold": 0.3,
                                          "drift_share": 0.5, "min_rows": 30}),
        decide_settings_json=json.dumps({"rule": rule, "min_skill": 0.0,
                                         "severe_skill": -0.25, "min_label_days": 30}),
        **overrides,
    )  # fmt: skip
    root = settings.home / "pipeline-root"
    summary = json.loads(run_local("monitoring", args, root))
    ran = {p.name for p in root.glob("*/*") if p.is_dir()}
    return {"summary": summary, "ran": ran}


def _alias(settings, alias: str) -> str | None:
    from ml.errors import ModelNotFoundError

    try:
        return resolve_alias(settings.tracking_uri, settings.mlflow.model_name, alias)[
            "version"
        ]
    except ModelNotFoundError:
        return None


def test_no_drift_skips_the_retrain_branch(settings, tmp_path):
    out = _run(settings, tmp_path, shift_last=0, spec={})
    assert not out["summary"]["drift"]["dataset_drift"]
    assert "monitor" in out["ran"] and "decide" in out["ran"]
    assert not (set(BRANCH_TASKS) & out["ran"]), out["ran"]
    assert _alias(settings, "challenger") is None
    assert _alias(settings, "champion") == "1"
    assert "retrain=False" in _decision_tag(settings, out["summary"]["mlflow_run_id"])


def test_forced_drift_runs_the_branch_and_keeps_champion_over_worse_challenger(
    settings, tmp_path
):
    # One boosting round of depth 1 with a tiny learning rate: near-uniform probabilities.
    worse = {"n_estimators": 1, "max_depth": 1, "learning_rate": 0.01}
    out = _run(settings, tmp_path, shift_last=200, spec=worse)
    assert out["summary"]["drift"]["dataset_drift"]
    assert set(BRANCH_TASKS) <= out["ran"], out["ran"]
    assert "promote" not in out["ran"] and "deploy" not in out["ran"]
    assert _alias(settings, "challenger") == "2"
    assert _alias(settings, "champion") == "1"
    assert _alias(settings, "previous") is None
    assert "retrain=True" in _decision_tag(settings, out["summary"]["mlflow_run_id"])
    reason = _version_tag(settings, "2", "bvp.gate_reason")
    assert "keep the champion" in reason


def _decision_tag(settings, run_id: str) -> str:
    import mlflow

    mlflow.set_tracking_uri(settings.tracking_uri)
    return mlflow.get_run(run_id).data.tags["bvp.decision"]


def _version_tag(settings, version: str, key: str) -> str:
    import mlflow

    mlflow.set_tracking_uri(settings.tracking_uri)
    mv = mlflow.MlflowClient().get_model_version(settings.mlflow.model_name, version)
    return mv.tags[key]


def test_a_champion_of_other_thresholds_is_not_judged(settings, tmp_path):
    """Settings at 0.35/0.7 and a champion trained for 0.4/0.65: its classes would be
    scored against another target's labels, and a challenger could not be compared."""
    with pytest.raises(PipelineStepError) as info:
        _run(settings, tmp_path, shift_last=0, spec={}, thresholds="0.35,0.7")
    assert str(info.value) == (
        "pipeline monitoring: step 'monitor' failed: thresholds: got [0.35, 0.7], "
        "expected the champion's [0.4, 0.65] (v1 was trained for them): monitor it "
        "with BVP_TARGET__THRESHOLDS='[0.4,0.65]', or train a champion for these "
        "thresholds with bvp train"
    )
    assert _alias(settings, "challenger") is None

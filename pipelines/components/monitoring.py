"""KFP v2 components of the monitoring pipeline.

Thin bodies: parse inputs, call :mod:`pipelines.monitor`, :mod:`pipelines.retrain` or
:mod:`pipelines.promotion`, record artifacts. Candles are fetched with the training
pipeline's ``fetch`` component.
"""

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Metrics, Model, Output

from pipelines.images import pipeline_image

PIPELINE_IMAGE = pipeline_image()

__all__ = [
    "check_new_data",
    "decide",
    "deploy",
    "evaluate_challenger",
    "fetch_new_data",
    "monitor",
    "promote",
    "retrain",
]


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def monitor(
    daily: Input[Dataset],
    candles_4h: Input[Dataset],
    thresholds: str,
    tracking_uri: str,
    artifact_root: str,
    experiment: str,
    model_name: str,
    champion_alias: str,
    settings_json: str,
    report: Output[Artifact],
    metrics: Output[Metrics],
) -> str:
    """Drift (Evidently report) and champion performance on matured labels."""
    import json
    from pathlib import Path

    from ml.labels import check_thresholds
    from pipelines.monitor import REPORT_FILE, run_monitor
    from pipelines.steps import load_panel

    panel = load_panel(
        daily.path, candles_4h.path, check_thresholds(thresholds.split(","))
    )
    summary = run_monitor(panel, tracking_uri, artifact_root, experiment, model_name,
                          champion_alias, json.loads(settings_json), Path(report.path))  # fmt: skip
    report.metadata.update(
        {"html": f"{report.path}/{REPORT_FILE}", "asof": summary["asof"]}
    )
    metrics.log_metric("drift_share", summary["drift"]["share"])
    for key in ("skill", "log_loss", "macro_f1", "n_days"):
        value = summary["performance"][key]
        if value == value:  # not NaN
            metrics.log_metric(f"champion_{key}", float(value))
    return json.dumps(summary, default=float)


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def decide(summary: str, settings_json: str, tracking_uri: str) -> bool:
    """Apply the retrain rule; the reason is tagged on the monitoring run.

    A single bool output: kfp.local 2.17 cannot resolve a NamedTuple field in a
    ``dsl.If`` condition ("Could not resolve CEL parameter"), so the branch would
    silently never run.
    """
    import json

    import mlflow

    from ml.monitoring import DriftSummary, PerformanceSummary
    from ml.monitoring import decide as decide_rule

    s, cfg = json.loads(summary), json.loads(settings_json)
    d = {k: v for k, v in s["drift"].items() if k != "dataset_drift"}
    d["drifted"], d["scores"] = tuple(d["drifted"]), dict(d["scores"])
    p = {k: v for k, v in s["performance"].items() if k != "skill"}
    decision = decide_rule(DriftSummary(**d), PerformanceSummary(**p), cfg["rule"],
                           cfg["min_skill"], cfg["severe_skill"], cfg["min_label_days"])  # fmt: skip
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.MlflowClient().set_tag(s["mlflow_run_id"], "bvp.decision",
                                  f"retrain={decision.retrain}: {decision.reason}"[:4000])  # fmt: skip
    print(f"decision: retrain={decision.retrain}: {decision.reason}")
    return decision.retrain


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def fetch_new_data(
    new_data_source: str,
    source: str,
    daily_file: str,
    h4_file: str,
    daily: Output[Dataset],
    candles_4h: Output[Dataset],
) -> str:
    """Poll the source for new candles (binance/kaggle update the store), then fetch."""
    import json

    from pipelines.retrain import update_store
    from pipelines.steps import fetch_candles

    note = update_store(new_data_source)
    if new_data_source != "none":
        from ml.settings import Settings
        from pipelines.ingest.store import CandleStore

        store = CandleStore.from_settings(Settings())
        source, daily_file, h4_file = (
            "store",
            str(store.path("1d")),
            str(store.path("4h")),
        )
    versions = fetch_candles(source, daily.path, candles_4h.path, daily_file, h4_file)
    daily.metadata.update(versions["daily"])
    return json.dumps({"note": note, "versions": versions}, sort_keys=True)


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def check_new_data(daily: Input[Dataset], summary: str) -> bool:
    """True when there are candles after the champion's training cutoff."""
    import json

    from pipelines.retrain import new_candles

    n = new_candles(daily.path, json.loads(summary)["champion_cutoff"])
    print(f"{n} daily candles after the champion's training data")
    return n > 0


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def retrain(
    daily: Input[Dataset],
    candles_4h: Input[Dataset],
    data_versions: str,
    thresholds: str,
    spec_json: str,
    gate_days: int,
    tracking_uri: str,
    artifact_root: str,
    experiment: str,
    model_name: str,
    challenger_alias: str,
    holdout: Output[Model],
    model: Output[Model],
) -> str:
    """Fit the held-out and full challenger; register the full one as ``challenger``.

    Returns the registered version (a single output, see ``decide``).
    """
    import json
    from dataclasses import asdict
    from pathlib import Path

    from ml.labels import check_thresholds
    from pipelines.retrain import retrain_challenger
    from pipelines.steps import load_panel, spec_from_params
    from pipelines.tracking import (
        compute_fingerprint,
        log_training_run,
        register_version,
    )

    th = check_thresholds(thresholds.split(","))
    panel = load_panel(daily.path, candles_4h.path, th)
    spec = spec_from_params(json.loads(spec_json or "{}"))
    meta = retrain_challenger(
        panel, spec, gate_days, Path(holdout.path), Path(model.path)
    )
    versions = json.loads(data_versions)["versions"]
    fp = compute_fingerprint(versions, asdict(spec), list(th))
    tags = {"bvp.fingerprint": fp, "bvp.origin": "monitoring-retrain",
            **{f"bvp.data.{k}.{f}": str(v) for k, d in versions.items() for f, v in d.items()}}  # fmt: skip
    run_id, uri = log_training_run(tracking_uri, experiment, artifact_root, model.path,
                                   {**asdict(spec), "thresholds": thresholds, **meta}, tags)  # fmt: skip
    version, _ = register_version(tracking_uri, model_name, uri, run_id, fp, challenger_alias,
                                  tags={"bvp.data.daily.last": versions["daily"]["last"]})  # fmt: skip
    model.metadata.update({"version": version, "run_id": run_id, **meta})
    holdout.metadata.update({"cutoff": meta["holdout_cutoff"]})
    return version


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def evaluate_challenger(
    daily: Input[Dataset],
    candles_4h: Input[Dataset],
    holdout: Input[Model],
    thresholds: str,
    gate_days: int,
    gate_test: str,
    alpha: float,
    tracking_uri: str,
    artifact_root: str,
    experiment: str,
    model_name: str,
    champion_alias: str,
    challenger_version: str,
) -> bool:
    """Paired test of held-out challenger vs champion on the same recent window.

    Returns the promote verdict; the reason goes to MLflow (gate run and a tag on the
    challenger version).
    """
    import json
    import tempfile
    from pathlib import Path

    import mlflow

    from ml.labels import check_thresholds
    from ml.models import BOOSTER_FILE
    from pipelines.promotion import download_version
    from pipelines.retrain import evaluate_gate
    from pipelines.steps import load_panel
    from pipelines.tracking import ensure_experiment

    panel = load_panel(
        daily.path, candles_4h.path, check_thresholds(thresholds.split(","))
    )
    with tempfile.TemporaryDirectory() as tmp:
        booster, info = download_version(
            tracking_uri, model_name, champion_alias, Path(tmp)
        )
        result = evaluate_gate(panel, booster, Path(holdout.path) / BOOSTER_FILE,
                               gate_days, gate_test, alpha)  # fmt: skip
    exp_id = ensure_experiment(tracking_uri, experiment, artifact_root)
    with mlflow.start_run(experiment_id=exp_id, run_name="gate"):
        mlflow.set_tags({"bvp.stage": "gate", "bvp.champion_version": info["version"],
                         "bvp.challenger_version": challenger_version, "bvp.gate_reason": result["reason"]})  # fmt: skip
        nums = {
            k: float(v)
            for k, v in result.items()
            if isinstance(v, int | float) and v == v
        }
        mlflow.log_metrics(nums)
        mlflow.log_dict(result, "gate.json")
        mlflow.MlflowClient().set_model_version_tag(
            model_name, challenger_version, "bvp.gate_reason", result["reason"][:4000]
        )
    print(json.dumps(result, default=float))
    return bool(result["promote"])


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def promote(
    tracking_uri: str,
    model_name: str,
    version: str,
    champion_alias: str,
    previous_alias: str,
) -> str:
    """champion -> previous, challenger version -> champion."""
    import json

    from pipelines.promotion import promote_challenger

    moved = promote_challenger(tracking_uri, model_name, version, champion_alias,
                               previous_alias, "passed the champion/challenger gate")  # fmt: skip
    return json.dumps(moved)


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def deploy(
    deploy_target: str,
    tracking_uri: str,
    model_name: str,
    champion_alias: str,
    promoted: str,
) -> str:
    """Deploy the new champion to KServe or SageMaker (or nothing, locally)."""
    from pipelines.promotion import deploy_champion

    print(f"promotion: {promoted}")
    return deploy_champion(deploy_target, tracking_uri, model_name, champion_alias)

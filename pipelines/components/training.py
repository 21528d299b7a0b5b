"""KFP v2 components of the training pipeline.

Each body parses its inputs, calls one function of :mod:`pipelines.steps` or
:mod:`pipelines.tracking` and records artifact metadata. The image has the project
installed, so the bodies only import it.
"""

from typing import NamedTuple

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Metrics, Model, Output

from pipelines.images import pipeline_image

PIPELINE_IMAGE = pipeline_image()

__all__ = ["evaluate", "features", "fetch", "register", "train", "validate"]


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def fetch(
    source: str,
    daily_file: str,
    h4_file: str,
    start: str,
    end: str,
    daily: Output[Dataset],
    candles_4h: Output[Dataset],
) -> str:
    """Copy candles from the source (bundled by default) into parquet datasets."""
    import json

    from pipelines.steps import fetch_candles

    versions = fetch_candles(
        source, daily.path, candles_4h.path, daily_file, h4_file, start, end
    )
    daily.metadata.update(versions["daily"])
    candles_4h.metadata.update(versions.get("h4", {"rows": 0}))
    return json.dumps(versions, sort_keys=True)


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def validate(
    daily: Input[Dataset],
    candles_4h: Input[Dataset],
    gap_policy_1d: str,
    gap_policy_4h: str,
    report: Output[Artifact],
) -> str:
    """Run the data contracts; fail the run on the first broken rule."""
    import json

    from pipelines.steps import validate_files

    result = validate_files(daily.path, candles_4h.path, gap_policy_1d, gap_policy_4h)
    with open(report.path, "w") as fh:
        json.dump(result, fh, indent=2)
    report.metadata["gaps_4h"] = len(result.get("h4", {}).get("gaps", []))
    return json.dumps(result)


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def features(
    daily: Input[Dataset],
    candles_4h: Input[Dataset],
    thresholds: str,
    table: Output[Dataset],
) -> str:
    """Build the (origin, horizon) training table with regime labels."""
    import json

    from ml.labels import check_thresholds
    from pipelines.steps import build_training_table, load_panel

    panel = load_panel(
        daily.path, candles_4h.path, check_thresholds(thresholds.split(","))
    )
    info = build_training_table(panel, table.path)
    table.metadata.update(info)
    return json.dumps(info)


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def train(
    table: Input[Dataset],
    daily: Input[Dataset],
    candles_4h: Input[Dataset],
    data_versions: str,
    thresholds: str,
    spec_json: str,
    tracking_uri: str,
    artifact_root: str,
    experiment: str,
    model: Output[Model],
) -> NamedTuple(
    "TrainOutputs", [("run_id", str), ("model_uri", str), ("fingerprint", str)]
):  # noqa: F821
    """Fit the final classifier and structural model on all known rows; log to MLflow."""
    import json
    from collections import namedtuple
    from dataclasses import asdict

    from ml.labels import check_thresholds
    from pipelines.steps import (
        load_panel,
        spec_from_params,
        train_model,
        train_structural,
    )
    from pipelines.tracking import compute_fingerprint, log_training_run

    spec = spec_from_params(json.loads(spec_json or "{}"))
    meta = train_model(table.path, spec, model.path)
    panel = load_panel(
        daily.path, candles_4h.path, check_thresholds(thresholds.split(","))
    )
    train_structural(panel, model.path)
    versions = json.loads(data_versions)
    fp = compute_fingerprint(
        versions, asdict(spec), [float(x) for x in thresholds.split(",")]
    )
    tags = {"bvp.fingerprint": fp, "bvp.data_versions": data_versions}
    tags.update(
        {f"bvp.data.{k}.{f}": str(v) for k, d in versions.items() for f, v in d.items()}
    )
    run_id, model_uri = log_training_run(
        tracking_uri, experiment, artifact_root, model.path,
        {**asdict(spec), "thresholds": thresholds, **{k: meta[k] for k in ("train_rows", "train_first_origin", "train_last_origin")}},
        tags,
    )  # fmt: skip
    model.metadata.update({"run_id": run_id, "model_uri": model_uri, "fingerprint": fp})
    out = namedtuple("TrainOutputs", ["run_id", "model_uri", "fingerprint"])
    return out(run_id, model_uri, fp)


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def evaluate(
    daily: Input[Dataset],
    candles_4h: Input[Dataset],
    thresholds: str,
    spec_json: str,
    first_origin: str,
    refit_every: int,
    baselines: str,
    tracking_uri: str,
    run_id: str,
    metrics: Output[Metrics],
    tables: Output[Artifact],
) -> str:
    """Walk-forward evaluation of the model and baselines; metrics to KFP and MLflow."""
    import json
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")

    from ml.labels import check_thresholds
    from pipelines.steps import evaluate_walk_forward, load_panel, spec_from_params
    from pipelines.tracking import log_evaluation

    panel = load_panel(
        daily.path, candles_4h.path, check_thresholds(thresholds.split(","))
    )
    spec = spec_from_params(json.loads(spec_json or "{}"))
    names = [b for b in baselines.split(",") if b]
    table = evaluate_walk_forward(
        panel, spec, first_origin, refit_every, names, tables.path
    )
    flat = log_evaluation(tracking_uri, run_id, table, tables.path)
    for key, value in flat.items():
        if "_mean_" in key or key.startswith("wf_xgboost_h"):
            metrics.log_metric(key, value)
    summary = table.groupby("model")[["macro_f1", "log_loss"]].mean().round(4)
    return json.dumps(summary.to_dict(orient="index"))


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def register(
    tracking_uri: str,
    model_name: str,
    model_uri: str,
    run_id: str,
    fingerprint: str,
    alias: str,
    evaluation: str,
    previous_alias: str = "previous",
) -> NamedTuple("RegisterOutputs", [("version", str), ("created", bool)]):  # noqa: F821
    """Register the model version (reused when the fingerprint matches) and move the
    alias; the version it leaves becomes ``previous_alias`` (what rollback restores)."""
    from collections import namedtuple

    from pipelines.tracking import register_version

    version, created = register_version(
        tracking_uri, model_name, model_uri, run_id, fingerprint, alias,
        tags={"bvp.walk_forward": evaluation[:4000]}, previous=previous_alias,
    )  # fmt: skip
    out = namedtuple("RegisterOutputs", ["version", "created"])
    return out(version, created)

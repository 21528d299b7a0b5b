"""The ``training`` pipeline: fetch -> validate -> features -> train -> evaluate -> register."""

from kfp import dsl

from pipelines.components.training import (
    evaluate,
    features,
    fetch,
    register,
    train,
    validate,
)

__all__ = ["DEFAULT_BASELINES", "training_pipeline"]

DEFAULT_BASELINES = "climatology,persistence,seed_logistic,har_rv,garch_t"


@dsl.pipeline(
    name="training",
    description="Train, evaluate walk-forward and register the BTC volatility regime model.",
)
def training_pipeline(
    tracking_uri: str,
    source: str = "bundled",
    daily_file: str = "",
    h4_file: str = "",
    start: str = "",
    end: str = "",
    gap_policy_1d: str = "raise",
    gap_policy_4h: str = "report",
    thresholds: str = "0.4,0.65",
    spec_json: str = "{}",
    first_origin: str = "2021-01-01",
    refit_every: int = 30,
    baselines: str = DEFAULT_BASELINES,
    artifact_root: str = "",
    experiment: str = "volatility_prediction",
    model_name: str = "btc-volatility",
    alias: str = "champion",
    previous_alias: str = "previous",
) -> str:
    fetched = fetch(
        source=source, daily_file=daily_file, h4_file=h4_file, start=start, end=end
    )
    fetched.set_caching_options(False)
    checked = validate(
        daily=fetched.outputs["daily"],
        candles_4h=fetched.outputs["candles_4h"],
        gap_policy_1d=gap_policy_1d,
        gap_policy_4h=gap_policy_4h,
    )
    table = features(
        daily=fetched.outputs["daily"],
        candles_4h=fetched.outputs["candles_4h"],
        thresholds=thresholds,
    ).after(checked)
    trained = train(
        table=table.outputs["table"],
        daily=fetched.outputs["daily"],
        candles_4h=fetched.outputs["candles_4h"],
        data_versions=fetched.outputs["Output"],
        thresholds=thresholds,
        spec_json=spec_json,
        tracking_uri=tracking_uri,
        artifact_root=artifact_root,
        experiment=experiment,
    )
    evaluated = evaluate(
        daily=fetched.outputs["daily"],
        candles_4h=fetched.outputs["candles_4h"],
        thresholds=thresholds,
        spec_json=spec_json,
        first_origin=first_origin,
        refit_every=refit_every,
        baselines=baselines,
        tracking_uri=tracking_uri,
        run_id=trained.outputs["run_id"],
    )
    registered = register(
        tracking_uri=tracking_uri,
        model_name=model_name,
        model_uri=trained.outputs["model_uri"],
        run_id=trained.outputs["run_id"],
        fingerprint=trained.outputs["fingerprint"],
        alias=alias,
        evaluation=evaluated.outputs["Output"],
        previous_alias=previous_alias,
    )
    for task in (trained, evaluated, registered):
        task.set_caching_options(False)
    return registered.outputs["version"]

"""The ``monitoring`` pipeline.

fetch -> monitor -> decide -> [retrain?] fetch new data -> check new data ->
[new data?] retrain -> evaluate challenger vs champion -> [better?] promote -> deploy.
"""

from kfp import dsl

from pipelines.components.monitoring import (
    check_new_data,
    decide,
    deploy,
    evaluate_challenger,
    fetch_new_data,
    monitor,
    promote,
    retrain,
)
from pipelines.components.training import fetch

__all__ = ["monitoring_pipeline"]


@dsl.pipeline(
    name="monitoring",
    description="Drift + matured-label monitoring of the champion; gated retraining.",
)
def monitoring_pipeline(
    tracking_uri: str,
    source: str = "bundled",
    daily_file: str = "",
    h4_file: str = "",
    thresholds: str = "0.4,0.65",
    spec_json: str = "{}",
    monitor_settings_json: str = "{}",
    decide_settings_json: str = "{}",
    gate_days: int = 91,
    gate_test: str = "dm_hac",
    alpha: float = 0.05,
    new_data_source: str = "none",
    deploy_target: str = "none",
    artifact_root: str = "",
    experiment: str = "volatility_prediction",
    monitoring_experiment: str = "volatility_monitoring",
    model_name: str = "btc-volatility",
    champion_alias: str = "champion",
    challenger_alias: str = "challenger",
    previous_alias: str = "previous",
) -> str:
    fetched = fetch(
        source=source, daily_file=daily_file, h4_file=h4_file, start="", end=""
    )
    monitored = monitor(
        daily=fetched.outputs["daily"],
        candles_4h=fetched.outputs["candles_4h"],
        thresholds=thresholds,
        tracking_uri=tracking_uri,
        artifact_root=artifact_root,
        experiment=monitoring_experiment,
        model_name=model_name,
        champion_alias=champion_alias,
        settings_json=monitor_settings_json,
    )
    decision = decide(
        summary=monitored.outputs["Output"],
        settings_json=decide_settings_json,
        tracking_uri=tracking_uri,
    )
    with dsl.If(decision.output == True, name="retrain-needed"):  # noqa: E712
        fresh = fetch_new_data(
            new_data_source=new_data_source, source=source,
            daily_file=daily_file, h4_file=h4_file,
        )  # fmt: skip
        has_new = check_new_data(
            daily=fresh.outputs["daily"], summary=monitored.outputs["Output"]
        )
        with dsl.If(has_new.output == True, name="new-data"):  # noqa: E712
            trained = retrain(
                daily=fresh.outputs["daily"], candles_4h=fresh.outputs["candles_4h"],
                data_versions=fresh.outputs["Output"], thresholds=thresholds,
                spec_json=spec_json, gate_days=gate_days, tracking_uri=tracking_uri,
                artifact_root=artifact_root, experiment=experiment,
                model_name=model_name, challenger_alias=challenger_alias,
            )  # fmt: skip
            gated = evaluate_challenger(
                daily=fresh.outputs["daily"], candles_4h=fresh.outputs["candles_4h"],
                holdout=trained.outputs["holdout"], thresholds=thresholds,
                gate_days=gate_days, gate_test=gate_test, alpha=alpha,
                tracking_uri=tracking_uri, artifact_root=artifact_root,
                experiment=monitoring_experiment, model_name=model_name,
                champion_alias=champion_alias, challenger_version=trained.outputs["Output"],
            )  # fmt: skip
            with dsl.If(gated.output == True, name="challenger-better"):  # noqa: E712
                promoted = promote(
                    tracking_uri=tracking_uri, model_name=model_name,
                    version=trained.outputs["Output"], champion_alias=champion_alias,
                    previous_alias=previous_alias,
                )  # fmt: skip
                deployed = deploy(
                    deploy_target=deploy_target, tracking_uri=tracking_uri,
                    model_name=model_name, champion_alias=champion_alias,
                    promoted=promoted.output,
                )  # fmt: skip
    for task in (
        fetched,
        monitored,
        decision,
        fresh,
        has_new,
        trained,
        gated,
        promoted,
        deployed,
    ):
        task.set_caching_options(False)
    return monitored.outputs["Output"]

"""Promote the champion to a SageMaker endpoint (boto3 only), report it, clean up.

``promote_to_sagemaker``: package -> S3 -> Model -> EndpointConfig -> create the
endpoint, or move the existing one to the new config with a blue/green UpdateEndpoint
-> wait -> smoke test with InvokeEndpoint. A failed smoke test moves the endpoint back
to the previous config (or deletes a just-created endpoint) and raises
``PromotionError`` saying why. Credentials come from the standard AWS chain only.
"""

from __future__ import annotations

import functools
import logging
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from ml.errors import ConfigError, PromotionError
from ml.models import load_regime_model
from ml.settings import AwsSettings, Settings
from serving.deployment import (
    DEPLOYMENT_FILE,
    PROJECT_TAG_KEY,
    SMOKE_HORIZONS,
    TAG_PREFIX,
    VERSION_TAG_KEY,
    DeploymentRecord,
    SmokeVerdict,
    build_model_archive,
    check_smoke_response,
    deployment_config,
    model_meta,
    resource_names,
    s3_key,
    smoke_request,
    write_deployment_info,
)

__all__ = [
    "AwsClients",
    "cleanup_resources",
    "endpoint_status",
    "make_clients",
    "promote_to_sagemaker",
    "smoke_matrix",
]

log = logging.getLogger(__name__)


@dataclass
class AwsClients:
    """The three boto3 clients the AWS path uses."""

    s3: Any
    sagemaker: Any
    runtime: Any


def make_clients(aws: AwsSettings) -> AwsClients:
    """boto3 clients for the configured region (and endpoint override, for moto)."""
    import boto3

    session = boto3.session.Session(region_name=aws.region)
    kw: dict[str, Any] = {"endpoint_url": aws.endpoint_url} if aws.endpoint_url else {}
    return AwsClients(
        s3=session.client("s3", **kw),
        sagemaker=session.client("sagemaker", **kw),
        runtime=session.client("sagemaker-runtime", **kw),
    )


def _require(aws: AwsSettings, *fields: str) -> None:
    for f in fields:
        if not getattr(aws, f):
            raise ConfigError(f"aws.{f}", None, "a value", f"Set BVP_AWS__{f.upper()}.")


def _tags(aws: AwsSettings, version: str) -> list[dict[str, str]]:
    return [
        {"Key": PROJECT_TAG_KEY, "Value": aws.project_tag},
        {"Key": VERSION_TAG_KEY, "Value": str(version)},
    ]


def _describe_endpoint(sm: Any, name: str) -> dict[str, Any] | None:
    from botocore.exceptions import ClientError

    try:
        return dict(sm.describe_endpoint(EndpointName=name))
    except ClientError as exc:
        if "Could not find endpoint" in str(exc):
            return None
        raise


def _is_ours(sm: Any, arn: str, aws: AwsSettings) -> bool:
    tags = sm.list_tags(ResourceArn=arn).get("Tags", [])
    return {"Key": PROJECT_TAG_KEY, "Value": aws.project_tag} in tags


def _wait(sm: Any, waiter: str, name: str, aws: AwsSettings) -> None:
    from botocore.exceptions import WaiterError

    try:
        sm.get_waiter(waiter).wait(
            EndpointName=name,
            WaiterConfig={
                "Delay": aws.wait_delay_s,
                "MaxAttempts": aws.wait_max_attempts,
            },
        )
    except WaiterError as exc:
        desc = _describe_endpoint(sm, name) or {}
        raise PromotionError(
            f"endpoint {name!r}: {waiter} not reached: status "
            f"{desc.get('EndpointStatus')!r}, reason {desc.get('FailureReason')!r} "
            f"({exc})"
        ) from exc


def smoke_matrix() -> np.ndarray:
    """Feature rows of the smoke request: the latest bundled day, SMOKE_HORIZONS."""
    return _smoke_matrix().copy()


@functools.lru_cache(maxsize=1)
def _smoke_matrix() -> np.ndarray:
    from ml.data import bundled_path, read_candles
    from ml.inference import inference_matrix, resolve_asof

    daily, h4 = read_candles(bundled_path("1d")), read_candles(bundled_path("4h"))
    return inference_matrix(daily, h4, resolve_asof(daily, None), list(SMOKE_HORIZONS))


def _smoke_test(
    clients: AwsClients, aws: AwsSettings, config: str, booster: Path, version: str
) -> SmokeVerdict:
    from botocore.exceptions import ClientError

    x = smoke_matrix()
    expected = load_regime_model(booster).predict_proba(x)
    try:
        resp = clients.runtime.invoke_endpoint(
            EndpointName=aws.endpoint_name,
            Body=smoke_request(x),
            ContentType="application/json",
            Accept="application/json",
            InferenceId=f"smoke-{config}"[:64],  # API limit: 64 characters
        )
        body = resp["Body"].read()
    except ClientError as exc:
        return SmokeVerdict(False, f"InvokeEndpoint failed: {exc}")
    return check_smoke_response(body, expected, version, aws.smoke_atol)


def _tag_version(settings: Settings, version: str, tags: dict[str, str]) -> None:
    import mlflow

    mlflow.set_tracking_uri(settings.tracking_uri)
    client = mlflow.MlflowClient()
    for k, v in tags.items():
        client.set_model_version_tag(settings.mlflow.model_name, version, k, v[:5000])


def _upload(
    clients: AwsClients, aws: AwsSettings, booster: Path, info: dict[str, Any]
) -> str:
    assert aws.bucket
    key = s3_key(aws.name_prefix, info["version"])
    meta = model_meta(info["name"], info["version"], info.get("run_id"))
    with tempfile.TemporaryDirectory(prefix="bvp-sm-") as tmp:
        archive = build_model_archive(booster, meta, Path(tmp))
        clients.s3.upload_file(
            str(archive),
            aws.bucket,
            key,
            ExtraArgs={"Tagging": f"{PROJECT_TAG_KEY}={aws.project_tag}"},
        )
    return f"s3://{aws.bucket}/{key}"


def promote_to_sagemaker(
    settings: Settings,
    clients: AwsClients | None = None,
    now: datetime | None = None,
) -> DeploymentRecord:
    """Deploy the champion to ``settings.aws.endpoint_name``; see the module docstring.

    Raises:
        ConfigError: bucket, role_arn or image_uri is not set.
        PromotionError: The endpoint is not the project's, is busy, did not reach
            InService, or failed the smoke test (after the rollback).
    """
    from serving.champion import fetch_champion

    aws = settings.aws
    _require(aws, "bucket", "role_arn", "image_uri")
    clients = clients or make_clients(aws)
    sm = clients.sagemaker
    now = now or datetime.now(UTC)

    current = _describe_endpoint(sm, aws.endpoint_name)
    if current is not None:
        if not _is_ours(sm, current["EndpointArn"], aws):
            raise PromotionError(
                f"endpoint {aws.endpoint_name!r} exists without tag "
                f"{PROJECT_TAG_KEY}={aws.project_tag}: refusing to touch it "
                "(set BVP_AWS__ENDPOINT_NAME to another name)"
            )
        if current["EndpointStatus"] != "InService":
            raise PromotionError(
                f"endpoint {aws.endpoint_name!r}: status "
                f"{current['EndpointStatus']!r}, expected 'InService' before an "
                "update; wait, then check `bvp aws status`"
            )

    booster, info = fetch_champion(settings)
    version = str(info["version"])
    names = resource_names(aws.name_prefix, version, now)
    data_url = _upload(clients, aws, booster, info)
    sm.create_model(
        ModelName=names.model,
        PrimaryContainer={
            "Image": aws.image_uri,
            "ModelDataUrl": data_url,
            "Environment": {"OMP_NUM_THREADS": "1"},
        },
        ExecutionRoleArn=aws.role_arn,
        Tags=_tags(aws, version),
    )
    sm.create_endpoint_config(
        EndpointConfigName=names.endpoint_config,
        ProductionVariants=[
            {
                "VariantName": aws.variant_name,
                "ModelName": names.model,
                "InitialInstanceCount": aws.instance_count,
                "InstanceType": aws.instance_type,
                "InitialVariantWeight": 1.0,
            }
        ],
        Tags=_tags(aws, version),
    )
    previous = current["EndpointConfigName"] if current else None
    if previous is None:
        log.info(
            "creating endpoint %s with %s", aws.endpoint_name, names.endpoint_config
        )
        sm.create_endpoint(
            EndpointName=aws.endpoint_name,
            EndpointConfigName=names.endpoint_config,
            Tags=[{"Key": PROJECT_TAG_KEY, "Value": aws.project_tag}],
        )
    else:
        log.info(
            "blue/green update of %s: %s -> %s",
            aws.endpoint_name,
            previous,
            names.endpoint_config,
        )
        _update(sm, aws, names.endpoint_config)
    _wait(sm, "endpoint_in_service", aws.endpoint_name, aws)
    live = _describe_endpoint(sm, aws.endpoint_name) or {}
    if live.get("EndpointConfigName") != names.endpoint_config:
        raise PromotionError(
            f"endpoint {aws.endpoint_name!r}: serves "
            f"{live.get('EndpointConfigName')!r} after the update, expected "
            f"{names.endpoint_config!r} (SageMaker rolled it back: "
            f"{live.get('FailureReason')!r})"
        )

    verdict = _smoke_test(clients, aws, names.endpoint_config, booster, version)
    if not verdict.ok:
        _roll_back(settings, clients, previous, version, verdict.reason)

    record = DeploymentRecord(
        endpoint=aws.endpoint_name,
        endpoint_config=names.endpoint_config,
        model_name=names.model,
        model_version=version,
        model_data_url=data_url,
        image_uri=str(aws.image_uri),
        region=aws.region,
        deployed_at=now.isoformat(timespec="seconds"),
        previous_config=previous,
        action="updated" if previous else "created",
    )
    _tag_version(settings, version, {**record.as_tags(), f"{TAG_PREFIX}status": "live"})
    write_deployment_info(settings.home / DEPLOYMENT_FILE, record)
    return record


def _update(sm: Any, aws: AwsSettings, config: str) -> None:
    sm.update_endpoint(
        EndpointName=aws.endpoint_name,
        EndpointConfigName=config,
        DeploymentConfig=deployment_config(aws.termination_wait_s, aws.rollback_alarms),
    )


def _roll_back(
    settings: Settings,
    clients: AwsClients,
    previous: str | None,
    version: str,
    reason: str,
) -> None:
    aws, sm = settings.aws, clients.sagemaker
    if previous is None:
        log.warning("smoke test failed on a new endpoint; deleting it: %s", reason)
        sm.delete_endpoint(EndpointName=aws.endpoint_name)
        _wait(sm, "endpoint_deleted", aws.endpoint_name, aws)
        outcome = "the endpoint was new, so it was deleted"
    else:
        log.warning("smoke test failed; rolling back to %s: %s", previous, reason)
        _update(sm, aws, previous)
        _wait(sm, "endpoint_in_service", aws.endpoint_name, aws)
        outcome = f"rolled back to endpoint config {previous!r}"
    _tag_version(
        settings,
        version,
        {f"{TAG_PREFIX}status": "rolled_back", f"{TAG_PREFIX}failure": reason},
    )
    raise PromotionError(
        f"smoke test of model v{version} on endpoint {aws.endpoint_name!r} failed: "
        f"{reason}; {outcome}"
    )


def endpoint_status(
    settings: Settings, clients: AwsClients | None = None
) -> dict[str, Any]:
    """Endpoint status, live config, model and registry version (None if absent)."""
    aws = settings.aws
    clients = clients or make_clients(aws)
    sm = clients.sagemaker
    out: dict[str, Any] = {
        "endpoint": aws.endpoint_name,
        "region": aws.region,
        "status": None,
    }
    desc = _describe_endpoint(sm, aws.endpoint_name)
    if desc is None:
        return out
    out.update(
        status=desc["EndpointStatus"],
        endpoint_config=desc["EndpointConfigName"],
        failure_reason=desc.get("FailureReason"),
        last_modified=str(desc.get("LastModifiedTime", "")),
    )
    cfg = sm.describe_endpoint_config(EndpointConfigName=desc["EndpointConfigName"])
    variant = cfg["ProductionVariants"][0]
    model = sm.describe_model(ModelName=variant["ModelName"])
    tags = {
        t["Key"]: t["Value"]
        for t in sm.list_tags(ResourceArn=model["ModelArn"])["Tags"]
    }
    out.update(
        model_name=variant["ModelName"],
        model_version=tags.get(VERSION_TAG_KEY),
        instance_type=variant.get("InstanceType"),
        model_data_url=model.get("PrimaryContainer", {}).get("ModelDataUrl"),
    )
    return out


def _owned(sm: Any, aws: AwsSettings, kind: str) -> list[tuple[str, str]]:
    """(name, arn) of the project's resources of one kind: name prefix and tag."""
    list_call, key, name_key, arn_key = {
        "endpoint": ("list_endpoints", "Endpoints", "EndpointName", "EndpointArn"),
        "endpoint_config": (
            "list_endpoint_configs",
            "EndpointConfigs",
            "EndpointConfigName",
            "EndpointConfigArn",
        ),
        "model": ("list_models", "Models", "ModelName", "ModelArn"),
    }[kind]
    found = []
    for page in sm.get_paginator(list_call).paginate(NameContains=aws.name_prefix):
        for item in page[key]:
            name, arn = item[name_key], item[arn_key]
            if name.startswith(aws.name_prefix) and _is_ours(sm, arn, aws):
                found.append((name, arn))
    return found


def cleanup_resources(
    settings: Settings,
    clients: AwsClients | None = None,
    keep_live: bool = False,
    dry_run: bool = False,
) -> dict[str, list[str]]:
    """Delete the project's endpoints, endpoint configs and models (name prefix + tag).

    Args:
        keep_live: Keep the endpoint named in settings and the config/model it serves;
            delete only older configs and models.
        dry_run: List what would be deleted, delete nothing.

    Returns:
        Deleted (or, with dry_run, deletable) names per kind.
    """
    aws = settings.aws
    clients = clients or make_clients(aws)
    sm = clients.sagemaker
    keep: set[str] = set()
    if keep_live and (desc := _describe_endpoint(sm, aws.endpoint_name)):
        keep.add(desc["EndpointName"])
        keep.add(desc["EndpointConfigName"])
        cfg = sm.describe_endpoint_config(EndpointConfigName=desc["EndpointConfigName"])
        keep.update(v["ModelName"] for v in cfg["ProductionVariants"])
    plan = {
        kind: [n for n, _ in _owned(sm, aws, kind) if n not in keep]
        for kind in ("endpoint", "endpoint_config", "model")
    }
    if dry_run:
        return plan
    for name in plan["endpoint"]:
        sm.delete_endpoint(EndpointName=name)
    for name in plan["endpoint"]:
        _wait(sm, "endpoint_deleted", name, aws)
    for name in plan["endpoint_config"]:
        sm.delete_endpoint_config(EndpointConfigName=name)
    for name in plan["model"]:
        sm.delete_model(ModelName=name)
    return plan

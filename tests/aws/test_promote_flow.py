"""The SageMaker path against moto: create -> update -> failed smoke test -> rollback
-> status -> cleanup, asserting the described resources after every step."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from bvp.cli import main
from ml.errors import ConfigError, PromotionError
from ml.models import BOOSTER_FILE
from ml.settings import Settings
from serving.champion import fetch_champion
from serving.deployment import META_FILE, build_model_archive, model_meta, smoke_request
from serving.promote import (
    cleanup_resources,
    endpoint_status,
    make_clients,
    promote_to_sagemaker,
    smoke_matrix,
)
from serving.sagemaker_app import SageMakerPredictor, create_app
from tests.aws.conftest import BUCKET, IMAGE, MODEL_NAME, ROLE, queue_invoke_results
from tests.aws.moto_shim import emulate_update_endpoint

T0 = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)
PROJECT = {"Key": "project", "Value": "btc-volatility"}


def adapter_answer(settings: Settings, tmp: Path) -> bytes:
    """What the real container answers to the smoke request for the current champion."""
    booster, info = fetch_champion(settings)
    archive = build_model_archive(
        booster, model_meta(MODEL_NAME, info["version"], info["run_id"]), tmp / "pkg"
    )
    with tarfile.open(archive) as tar:
        tar.extractall(tmp / "model", filter="data")
    client = TestClient(create_app(SageMakerPredictor.load(tmp / "model")))
    resp = client.post(
        "/invocations",
        content=smoke_request(smoke_matrix()),
        headers={"Content-Type": "application/json"},
    )
    assert resp.status_code == 200, resp.text
    shutil.rmtree(tmp)
    return resp.content


@pytest.fixture
def setup(bvp_env, registry, tmp_path):
    settings = Settings()
    clients = make_clients(settings.aws)
    clients.s3.create_bucket(Bucket=BUCKET)
    updates = emulate_update_endpoint(clients.sagemaker)
    return settings, clients, updates


def variant_model(sm, endpoint: str) -> tuple[str, str]:
    desc = sm.describe_endpoint(EndpointName=endpoint)
    cfg = sm.describe_endpoint_config(EndpointConfigName=desc["EndpointConfigName"])
    return desc["EndpointConfigName"], cfg["ProductionVariants"][0]["ModelName"]


@pytest.mark.slow
def test_create_update_rollback_cleanup(setup, registry, aws_env, bvp_env, tmp_path):
    settings, clients, updates = setup
    sm = clients.sagemaker

    # 1. create: new endpoint on v1
    v1 = registry.register(seed=1)
    queue_invoke_results(aws_env, adapter_answer(settings, tmp_path / "a1"))
    rec1 = promote_to_sagemaker(settings, clients, now=T0)
    assert rec1.action == "created" and rec1.previous_config is None
    assert rec1.endpoint_config == f"btc-volatility-v{v1}-20261201-120000"
    desc = sm.describe_endpoint(EndpointName="btc-volatility")
    assert desc["EndpointStatus"] == "InService"
    assert desc["EndpointConfigName"] == rec1.endpoint_config
    assert PROJECT in sm.list_tags(ResourceArn=desc["EndpointArn"])["Tags"]
    model = sm.describe_model(ModelName=rec1.model_name)
    assert model["ExecutionRoleArn"] == ROLE
    assert model["PrimaryContainer"]["Image"] == IMAGE
    assert model["PrimaryContainer"]["ModelDataUrl"] == (
        f"s3://{BUCKET}/btc-volatility/v{v1}/model.tar.gz"
    )
    cfg = sm.describe_endpoint_config(EndpointConfigName=rec1.endpoint_config)
    variant = cfg["ProductionVariants"][0]
    assert (variant["ModelName"], variant["InstanceType"]) == (
        rec1.model_name,
        "ml.t2.medium",
    )
    obj = clients.s3.get_object(Bucket=BUCKET, Key=f"btc-volatility/v{v1}/model.tar.gz")
    with tarfile.open(fileobj=io.BytesIO(obj["Body"].read())) as tar:
        assert sorted(tar.getnames()) == sorted([BOOSTER_FILE, META_FILE])
        meta = json.load(tar.extractfile(META_FILE))
        assert (
            tar.extractfile(BOOSTER_FILE).read()
            == fetch_champion(settings)[0].read_bytes()
        )
    assert meta["version"] == v1 and meta["name"] == MODEL_NAME
    info = json.loads((bvp_env / "deployment_info.json").read_text())
    assert (
        info["endpoint_config"] == rec1.endpoint_config and info["model_version"] == v1
    )
    tags = registry.tags(v1)
    assert tags["bvp.sagemaker.status"] == "live"
    assert tags["bvp.sagemaker.endpoint_config"] == rec1.endpoint_config
    assert updates == []

    # 2. update: blue/green to v2, previous config kept
    v2 = registry.register(seed=2)
    queue_invoke_results(aws_env, adapter_answer(settings, tmp_path / "a2"))
    rec2 = promote_to_sagemaker(settings, clients, now=T0 + timedelta(minutes=5))
    assert rec2.action == "updated" and rec2.previous_config == rec1.endpoint_config
    assert variant_model(sm, "btc-volatility") == (
        rec2.endpoint_config,
        rec2.model_name,
    )
    assert len(updates) == 1
    assert updates[0]["EndpointConfigName"] == rec2.endpoint_config
    policy = updates[0]["DeploymentConfig"]["BlueGreenUpdatePolicy"]
    assert policy["TrafficRoutingConfiguration"]["Type"] == "ALL_AT_ONCE"
    assert policy["TerminationWaitInSeconds"] == 120
    sm.describe_endpoint_config(EndpointConfigName=rec1.endpoint_config)  # still there

    # 3. update to v3 whose endpoint still answers like v2: smoke test fails, rollback
    v3 = registry.register(seed=3)
    stale = json.loads(adapter_answer(settings, tmp_path / "a3"))
    queue_invoke_results(aws_env, json.dumps({**stale, "model_version": v2}))
    with pytest.raises(
        PromotionError,
        match=(
            rf"smoke test of model v{v3} .* "
            rf"model_version: got '{v2}', expected '{v3}'; "
            rf"rolled back to endpoint config '{rec2.endpoint_config}'"
        ),
    ):
        promote_to_sagemaker(settings, clients, now=T0 + timedelta(minutes=10))
    assert [u["EndpointConfigName"] for u in updates[1:]] == [
        f"btc-volatility-v{v3}-20261201-121000",
        rec2.endpoint_config,
    ]
    assert variant_model(sm, "btc-volatility") == (
        rec2.endpoint_config,
        rec2.model_name,
    )
    assert registry.tags(v3)["bvp.sagemaker.status"] == "rolled_back"
    assert "model_version" in registry.tags(v3)["bvp.sagemaker.failure"]
    assert (
        json.loads((bvp_env / "deployment_info.json").read_text())["model_version"]
        == v2
    )

    # 4. status (library and CLI)
    status = endpoint_status(settings, clients)
    assert (status["status"], status["model_version"]) == ("InService", v2)
    assert status["endpoint_config"] == rec2.endpoint_config
    out = CliRunner().invoke(main, ["aws", "status"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["model_version"] == v2

    # 5. cleanup: foreign resources (no tag, or other prefix) survive
    sm.create_model(
        ModelName="btc-volatility-handmade",
        ExecutionRoleArn=ROLE,
        PrimaryContainer={"Image": IMAGE},
    )
    sm.create_model(
        ModelName="other-team-model",
        ExecutionRoleArn=ROLE,
        PrimaryContainer={"Image": IMAGE},
        Tags=[PROJECT],
    )
    pruned = cleanup_resources(settings, clients, keep_live=True)
    assert pruned["endpoint"] == []
    assert sorted(pruned["model"]) == sorted(
        [rec1.model_name, f"btc-volatility-v{v3}-20261201-121000"]
    )
    assert variant_model(sm, "btc-volatility") == (
        rec2.endpoint_config,
        rec2.model_name,
    )
    out = CliRunner().invoke(main, ["aws", "cleanup", "--yes"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["deleted"] == {
        "endpoint": ["btc-volatility"],
        "endpoint_config": [rec2.endpoint_config],
        "model": [rec2.model_name],
    }
    assert sm.list_endpoints()["Endpoints"] == []
    assert sm.list_endpoint_configs()["EndpointConfigs"] == []
    assert sorted(m["ModelName"] for m in sm.list_models()["Models"]) == [
        "btc-volatility-handmade",
        "other-team-model",
    ]


def test_failed_smoke_on_new_endpoint_deletes_it(setup, registry, aws_env):
    settings, clients, _ = setup
    registry.register(seed=1)
    queue_invoke_results(aws_env, "<html>502 Bad Gateway</html>")
    with pytest.raises(
        PromotionError,
        match=r"is not a predictions document.*was new, so it was deleted",
    ):
        promote_to_sagemaker(settings, clients, now=T0)
    assert clients.sagemaker.list_endpoints()["Endpoints"] == []


def test_foreign_endpoint_is_refused(setup, registry):
    settings, clients, _ = setup
    sm = clients.sagemaker
    sm.create_model(
        ModelName="theirs", ExecutionRoleArn=ROLE, PrimaryContainer={"Image": IMAGE}
    )
    sm.create_endpoint_config(
        EndpointConfigName="theirs",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": "theirs",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.t2.medium",
            }
        ],
    )
    sm.create_endpoint(EndpointName="btc-volatility", EndpointConfigName="theirs")
    with pytest.raises(
        PromotionError, match="exists without tag project=btc-volatility"
    ):
        promote_to_sagemaker(settings, clients, now=T0)
    assert (
        sm.describe_endpoint(EndpointName="btc-volatility")["EndpointConfigName"]
        == "theirs"
    )


def test_missing_bucket_names_the_setting(bvp_env, monkeypatch):
    monkeypatch.delenv("BVP_AWS__BUCKET")
    with pytest.raises(
        ConfigError, match=r"aws.bucket: got None .* Set BVP_AWS__BUCKET"
    ):
        promote_to_sagemaker(Settings())


def test_cli_without_credentials_fails_cleanly(bvp_env, monkeypatch):
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(k)
    out = CliRunner().invoke(main, ["aws", "status"])
    assert out.exit_code == 1
    assert (
        "Unable to locate credentials" in out.output and "Traceback" not in out.output
    )

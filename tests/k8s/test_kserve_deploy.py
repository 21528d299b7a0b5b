"""bvp deploy kserve: alias -> artifact URI, manifest, CLI errors."""

from __future__ import annotations

import dataclasses
import os

import boto3
import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from bvp.cli import main
from ml.errors import ConfigError, ModelNotFoundError
from serving import kserve_deploy as kd
from tests.k8s.conftest import STORAGE_URI, schema_errors

MODEL = "btc-volatility"


def _spec(**kw):
    return kd.InferenceServiceSpec(
        name=MODEL, namespace="bvp", storage_uri=STORAGE_URI, **kw
    )


def test_manifest_validates_and_keeps_contract():
    manifest = kd.build_inference_service(_spec())
    assert schema_errors(manifest) == []
    model = manifest["spec"]["predictor"]["model"]
    assert model["protocolVersion"] == "v2"
    assert model["modelFormat"] == {"name": "xgboost", "version": "2"}
    assert model["runtime"] == "bvp-mlserver"


def test_manifest_matches_chart(render):
    (chart,) = [d for d in render("kind-isvc") if d["kind"] == "InferenceService"]
    ours = kd.build_inference_service(_spec())
    assert ours["metadata"]["name"] == chart["metadata"]["name"]
    assert ours["metadata"]["annotations"] == chart["metadata"]["annotations"]
    for key in ("modelFormat", "protocolVersion", "runtime", "storageUri"):
        assert (
            ours["spec"]["predictor"]["model"][key]
            == chart["spec"]["predictor"]["model"][key]
        )
    assert (
        ours["spec"]["predictor"]["serviceAccountName"]
        == chart["spec"]["predictor"]["serviceAccountName"]
    )
    (oc,), (cc,) = (
        ours["spec"]["transformer"]["containers"],
        chart["spec"]["transformer"]["containers"],
    )
    assert oc["args"] == cc["args"] and oc["ports"] == cc["ports"]


@pytest.mark.parametrize(
    ("uri", "match"),
    [
        ("models:/btc-volatility@champion", "cannot resolve models:/"),
        ("file:///tmp/mlartifacts/1/models/m-1/artifacts", "s3:// or gs://"),
        ("runs:/abc/model", "s3:// or gs://"),
        ("s3://", "naming a bucket"),
        ("gs:///", "naming a bucket"),
    ],
    ids=["registry", "file", "runs", "no-bucket", "no-bucket-gs"],
)
def test_storage_uri_must_be_s3_or_gs(uri, match):
    with pytest.raises(ConfigError, match=match):
        kd.build_inference_service(dataclasses.replace(_spec(), storage_uri=uri))


@pytest.fixture(scope="module")
def s3_registry(tmp_path_factory):
    """sqlite MLflow with an s3:// artifact root on a moto server, one aliased model."""
    mlflow = pytest.importorskip("mlflow")
    from moto.server import ThreadedMotoServer
    from xgboost import XGBClassifier

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    env = {
        "MLFLOW_S3_ENDPOINT_URL": f"http://{host}:{port}",
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    mp = pytest.MonkeyPatch()
    for k, v in env.items():
        mp.setenv(k, v)
    boto3.client("s3", endpoint_url=env["MLFLOW_S3_ENDPOINT_URL"]).create_bucket(
        Bucket="mlflow"
    )
    uri = f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    exp = mlflow.create_experiment("k8s", artifact_location="s3://mlflow/artifacts")
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(60, 3)), np.arange(60) % 3
    clf = XGBClassifier(n_estimators=2, max_depth=2).fit(x, y)
    with mlflow.start_run(experiment_id=exp):
        mlflow.xgboost.log_model(
            clf,
            name="model",
            model_format="ubj",
            registered_model_name=MODEL,
            pip_requirements=["xgboost"],
        )
    client = mlflow.MlflowClient(tracking_uri=uri)
    client.set_registered_model_alias(MODEL, "champion", "1")
    yield uri, client
    mp.undo()
    server.stop()


@pytest.mark.slow
def test_resolve_alias_to_s3_artifact_folder_with_booster(s3_registry):
    _, client = s3_registry
    uri = kd.check_storage_uri(kd.resolve_alias_uri(client, MODEL, "champion"))
    assert uri.startswith("s3://mlflow/artifacts/")
    bucket, prefix = uri.removeprefix("s3://").split("/", 1)
    # boto3 does not read MLFLOW_S3_ENDPOINT_URL: pass the moto endpoint explicitly.
    s3 = boto3.client("s3", endpoint_url=os.environ["MLFLOW_S3_ENDPOINT_URL"])
    keys = [
        o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]
    ]
    assert f"{prefix.rstrip('/')}/model.ubj" in keys  # KServe downloads this folder


@pytest.mark.slow
def test_cli_dry_run_prints_manifest(s3_registry):
    uri, _ = s3_registry
    res = CliRunner().invoke(
        main, ["deploy", "kserve", "--dry-run", "--tracking-uri", uri]
    )
    assert res.exit_code == 0, res.output
    doc = yaml.safe_load(res.output)
    assert doc["spec"]["predictor"]["model"]["storageUri"].startswith("s3://mlflow/")
    assert schema_errors(doc) == []
    res = CliRunner().invoke(
        main, ["deploy", "kserve", "--print-uri", "--tracking-uri", uri]
    )
    assert res.output.strip() == doc["spec"]["predictor"]["model"]["storageUri"]


@pytest.mark.slow
def test_cli_missing_alias_is_a_clear_error(s3_registry):
    uri, _ = s3_registry
    res = CliRunner().invoke(
        main,
        ["deploy", "kserve", "--dry-run", "--alias", "nope", "--tracking-uri", uri],
    )
    assert res.exit_code != 0
    assert "no version for '@nope'" in res.output and "Traceback" not in res.output


def test_resolve_missing_model_raises_not_found(tmp_path):
    mlflow = pytest.importorskip("mlflow")
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'm.db'}")
    with pytest.raises(ModelNotFoundError, match="champion"):
        kd.resolve_alias_uri(client, MODEL, "champion")


def test_cli_rejects_local_artifact_uri(tmp_path, monkeypatch):
    """A file:// artifact root (the local default) cannot be served by KServe."""
    mlflow = pytest.importorskip("mlflow")
    from xgboost import XGBClassifier

    uri = f"sqlite:///{tmp_path / 'm.db'}"
    mlflow.set_tracking_uri(uri)
    exp = mlflow.create_experiment(
        "local", artifact_location=(tmp_path / "art").as_uri()
    )
    clf = XGBClassifier(n_estimators=1, max_depth=1).fit(np.eye(4), [0, 1, 0, 1])
    with mlflow.start_run(experiment_id=exp):
        mlflow.xgboost.log_model(
            clf,
            name="model",
            model_format="ubj",
            registered_model_name=MODEL,
            pip_requirements=["xgboost"],
        )
    mlflow.MlflowClient(uri).set_registered_model_alias(MODEL, "champion", "1")
    monkeypatch.setenv("BVP_TRANSFORMER__HTTP_PORT", "28120")  # a local override
    res = CliRunner().invoke(
        main, ["deploy", "kserve", "--dry-run", "--tracking-uri", uri]
    )
    assert res.exit_code != 0
    assert "expected a URI starting with s3:// or gs://" in res.output
    assert "pass --storage-uri" in res.output and "Traceback" not in res.output
    where = "s3://my-bucket/models/btc-volatility/1"
    res = CliRunner().invoke(
        main,
        [
            "deploy",
            "kserve",
            "--dry-run",
            "--tracking-uri",
            uri,
            "--storage-uri",
            where,
        ],
    )
    assert res.exit_code == 0, res.output
    doc = yaml.safe_load(res.output)
    assert doc["spec"]["predictor"]["model"]["storageUri"] == where
    assert schema_errors(doc) == []
    port = doc["spec"]["transformer"]["containers"][0]["ports"][0]["containerPort"]
    assert port == 8090  # the cluster's, whatever BVP_TRANSFORMER__HTTP_PORT is here
    bad = CliRunner().invoke(
        main, ["deploy", "kserve", "--dry-run", "--storage-uri", "models:/x@champion"]
    )
    assert bad.exit_code != 0 and "KServe cannot resolve models:/ URIs" in bad.output


def test_kubectl_missing_is_a_clear_error(monkeypatch):
    from ml.errors import PromotionError

    with pytest.raises(PromotionError, match="not found on PATH"):
        kd.apply_manifest(
            kd.build_inference_service(_spec()), kubectl="no-such-kubectl"
        )

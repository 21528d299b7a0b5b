"""Pure deployment decisions: names, blue/green config, smoke verdicts, the record."""

from __future__ import annotations

import json
import tarfile
from datetime import UTC, datetime

import numpy as np
import pytest

from ml.errors import ConfigError
from ml.features import FEATURE_NAMES
from serving.deployment import (
    DeploymentRecord,
    build_model_archive,
    check_smoke_response,
    deployment_config,
    model_meta,
    resource_names,
    s3_key,
    smoke_request,
    write_deployment_info,
)

NOW = datetime(2026, 12, 1, 8, 5, 9, tzinfo=UTC)
EXPECTED = np.array([[0.2, 0.5, 0.3], [0.1, 0.1, 0.8]])


def answer(proba, version="4") -> bytes:
    cols = ("p_low", "p_normal", "p_high")
    preds = [dict(zip(cols, row, strict=True)) for row in np.asarray(proba).tolist()]
    return json.dumps({"model_version": version, "predictions": preds}).encode()


def test_names_carry_version_and_time():
    names = resource_names("btc-volatility", "12", NOW)
    assert names.model == names.endpoint_config == "btc-volatility-v12-20261201-080509"
    assert s3_key("btc-volatility", "12") == "btc-volatility/v12/model.tar.gz"


@pytest.mark.parametrize(
    "prefix",
    ["btc_volatility", "-btc", "x" * 60],
    ids=["underscore", "leading-hyphen", "too-long"],
)
def test_bad_prefix_names_the_setting(prefix):
    with pytest.raises(
        ConfigError, match=r"aws.name_prefix: got .* Set BVP_AWS__NAME_PREFIX"
    ):
        resource_names(prefix, "1", NOW)


def test_blue_green_config_with_alarms():
    cfg = deployment_config(300, ["bvp-5xx"])
    assert cfg["BlueGreenUpdatePolicy"] == {
        "TrafficRoutingConfiguration": {
            "Type": "ALL_AT_ONCE",
            "WaitIntervalInSeconds": 0,
        },
        "TerminationWaitInSeconds": 300,
    }
    assert cfg["AutoRollbackConfiguration"] == {"Alarms": [{"AlarmName": "bvp-5xx"}]}
    assert "AutoRollbackConfiguration" not in deployment_config(0, [])


SMOKE_CASES = {
    "ok": (answer(EXPECTED), ""),
    "garbage": (b"body", "is not a predictions document"),
    "old-version": (answer(EXPECTED, "3"), "model_version: got '3', expected '4'"),
    "one-row": (answer(EXPECTED[:1]), r"got shape \(1, 3\), expected \(2, 3\)"),
    "negative": (
        answer([[-0.2, 0.9, 0.3], [0.1, 0.1, 0.8]]),
        r"expected values in \[0, 1\]",
    ),
    "no-sum-1": (answer([[0.2, 0.2, 0.2], [0.1, 0.1, 0.8]]), "expected 1"),
    "other-model": (
        answer([[0.3, 0.4, 0.3], [0.1, 0.1, 0.8]]),
        "differ from the local booster by 1.00e-01",
    ),
}


@pytest.mark.parametrize("body,reason", SMOKE_CASES.values(), ids=list(SMOKE_CASES))
def test_smoke_verdict(body, reason):
    verdict = check_smoke_response(body, EXPECTED, "4", atol=1e-4)
    assert verdict.ok is (reason == "")
    if reason:
        import re

        assert re.search(reason, verdict.reason), verdict.reason


def test_smoke_request_sends_missing_as_null():
    x = np.array([[1.0] + [np.nan] * (len(FEATURE_NAMES) - 1)])
    assert json.loads(smoke_request(x))["instances"][0][:2] == [1.0, None]


def test_archive_layout_and_atomic_record(tmp_path):
    booster = tmp_path / "b.ubj"
    booster.write_bytes(b"{}")
    archive = build_model_archive(booster, model_meta("m", "4", None), tmp_path / "out")
    with tarfile.open(archive) as tar:
        assert sorted(tar.getnames()) == ["model-meta.json", "model.ubj"]
        assert json.load(tar.extractfile("model-meta.json"))["feature_names"] == list(
            FEATURE_NAMES
        )
    rec = DeploymentRecord(
        "ep",
        "cfg",
        "mdl",
        "4",
        "s3://b/k",
        "img",
        "us-east-1",
        NOW.isoformat(),
        None,
        "created",
    )
    path = write_deployment_info(tmp_path / "home" / "deployment_info.json", rec)
    assert json.loads(path.read_text())["endpoint_config"] == "cfg"
    assert [p.name for p in path.parent.iterdir()] == ["deployment_info.json"]
    assert rec.as_tags()["bvp.sagemaker.previous_config"] == ""
